"""Success criteria of a comparison: targets.yaml, its schema, and pass/miss per target.

A target names a flat metric (``all.valence.r_composite``), a threshold and optionally a
direction (``>=`` / ``<=``; by default the metric's better side) and the version it is
judged on. The file is checked by the pydantic model :class:`Target`; each problem is one
VatrackError line naming the file and the target's position.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from vatrack.errors import VatrackError
from vatrack.evaluation.fold_stats import COMPARE_METRICS, direction

# Composite r of the organisers' Linear(BERT) baseline and of the top leaderboard entry on the
# official test set: orientation only, since they are test-set figures, not CV figures.
DEFAULT_TARGETS = [
    {"name": "beats organisers' Linear(BERT), valence", "metric": "all.valence.r_composite", "threshold": 0.557},
    {"name": "beats organisers' Linear(BERT), arousal", "metric": "all.arousal.r_composite", "threshold": 0.299},
    {"name": "reaches leaderboard rank 1, valence", "metric": "all.valence.r_composite", "threshold": 0.667},
    {"name": "reaches leaderboard rank 1, arousal", "metric": "all.arousal.r_composite", "threshold": 0.554},
]


# Flat metric names a target may use: what run_version writes per fold.
_METRIC_NAME = re.compile(r"^(all|seen|unseen)\.(valence|arousal)\.(r_composite|r_within|r_between|ccc|rmse|mae)$"
                          r"|^(all|seen|unseen)\.avg\.(r_composite|ccc)$|^train\.(valence|arousal|avg)\.ccc$|^gap\.avg\.ccc$")


_FIELDS = ("name", "metric", "threshold", "direction", "version")


class Target(BaseModel):
    """One entry of targets.yaml. ``load_targets`` keeps the keys as written, with name and
    metric as text and threshold as a float: a missing direction still means "the metric's
    better side" (evaluate_targets decides it per metric)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    metric: str
    threshold: float
    direction: str | None = None
    version: Any = None

    @field_validator("name", mode="before")
    @classmethod
    def _name_as_text(cls, value):
        return str(value)

    @field_validator("metric", mode="before")
    @classmethod
    def _flat_metric(cls, value):
        if not _METRIC_NAME.match(str(value)):
            raise ValueError(f"unknown metric '{value}'; use a flat name such as all.valence.r_composite, all.avg.ccc, "
                             "seen.arousal.r_within, all.valence.rmse, gap.avg.ccc")
        return str(value)

    @field_validator("threshold", mode="before")
    @classmethod
    def _number(cls, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"threshold must be a number (got {value!r})")
        return float(value)

    @field_validator("direction", mode="before")
    @classmethod
    def _sense(cls, value):
        if value not in (">=", "<="):
            raise ValueError(f"direction must be '>=' or '<=' (got {value!r})")
        return value


def _one_line(errors: list[dict]) -> str:
    """The first problem of a target, in the order the checks always had (shape, missing keys,
    unknown keys, threshold, metric, direction), as the text after '<file>, target <i>: '."""
    kinds = {}
    for error in errors:
        kinds.setdefault(error["type"], []).append(error)
    if "model_type" in kinds:
        return "expected a mapping with name, metric, threshold"
    if "missing" in kinds:
        return f"missing key(s) {', '.join(str(e['loc'][0]) for e in kinds['missing'])}"
    if "extra_forbidden" in kinds:
        unknown = sorted(str(e["loc"][0]) for e in kinds["extra_forbidden"])
        return f"unknown key(s) {', '.join(unknown)}; use {', '.join(_FIELDS)}"
    by_field = {e["loc"][0]: e for e in errors if e["loc"]}
    first = next((by_field[f] for f in ("threshold", "metric", "direction") if f in by_field), errors[0])
    # A validator's ValueError carries the whole message; pydantic's own text is a fallback.
    return str(first.get("ctx", {}).get("error") or first["msg"])


def load_targets(path) -> list[dict]:
    """targets.yaml: a list (or {targets: [...]}) of {name, metric, threshold[, direction, version]}."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VatrackError(f"{path}: targets file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise VatrackError(f"{path}: not a readable YAML file; write a list of {{name, metric, threshold}}") from None
    items = raw.get("targets") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise VatrackError(f"{path}: expected a list of targets (name, metric, threshold)")
    targets = []
    for i, item in enumerate(items, 1):
        try:
            target = Target.model_validate(item)
        except ValidationError as err:
            raise VatrackError(f"{path}, target {i}: {_one_line(err.errors())}") from None
        targets.append({**item, **target.model_dump(include={"name", "metric", "threshold"})})
    return targets


def evaluate_targets(targets: list[dict], stats: pd.DataFrame, candidate: str | None) -> pd.DataFrame:
    """Pass/miss of each target on its version's mean; also whether the 95% CI clears it.

    A target is judged on the version it names, else on ``candidate`` — a version named
    before the runs (``--candidate``), never the one that happened to score highest (the
    maximum of several noisy means is optimistic). With neither, the target is listed as
    "not judged".
    """
    rows = []
    known = set(stats["metric"])
    for target in targets:
        metric = target["metric"]
        if metric not in known:
            sample = ", ".join(m for m in COMPARE_METRICS if m in known)
            raise VatrackError(f"target '{target['name']}': unknown metric '{metric}'; use a flat name such as {sample}")
        version = target.get("version") or candidate
        sense = target.get("direction") or (">=" if direction(metric) >= 0 else "<=")
        if version is None:
            rows.append({"name": target["name"], "version": None, "metric": metric, "direction": sense,
                         "threshold": target["threshold"], "mean": math.nan, "std": math.nan, "ci_low": math.nan,
                         "ci_high": math.nan, "delta": math.nan, "status": "not judged (no candidate named)",
                         "ci_clears": False})
            continue
        row = stats[(stats["version"] == version) & (stats["metric"] == metric)]
        if row.empty:
            raise VatrackError(f"target '{target['name']}': no version named '{version}' in this comparison")
        row = row.iloc[0]
        sign = 1.0 if sense == ">=" else -1.0
        delta = row["mean"] - target["threshold"]
        met = bool(sign * delta >= 0)
        bound = row["ci_low"] if sense == ">=" else row["ci_high"]
        rows.append({"name": target["name"], "version": version, "metric": metric, "direction": sense,
                     "threshold": target["threshold"], "mean": row["mean"], "std": row["std"], "ci_low": row["ci_low"],
                     "ci_high": row["ci_high"], "delta": delta, "status": "pass" if met else "miss",
                     "ci_clears": bool(not math.isnan(bound) and sign * (bound - target["threshold"]) >= 0)})
    return pd.DataFrame(rows)
