"""What a comparison compares, and the key its cached runs are filed under.

A :class:`Version` is a sequence-model preset, a baseline method or an ensemble of other
versions; ``parse_versions`` reads them from the CLI's lists. A version's runs are cached
under a hash of what determines its result (``config_hash``): the resolved configuration
without its name or description, the data (``data_fingerprint``), the number of folds and
``CACHE_FORMAT``. Code is not part of the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from vatrack.data.schema import LABELS
from vatrack.errors import VatrackError

CACHE_FORMAT = 1


@dataclass(frozen=True)
class Version:
    """One thing to compare: a sequence-model preset, a baseline method, or an ensemble."""

    name: str
    kind: str                          # "preset" | "method" | "ensemble"
    source: str = ""                   # preset name / YAML path, or baseline method name
    overrides: tuple[str, ...] = ()    # preset --set key=value items
    encoder: str | None = None         # encoder override (presets) or encoder (methods)
    members: tuple[str, ...] = ()      # ensemble: names of member versions
    weights: str = "cv"                # ensemble: cv | equal

    def config(self) -> dict:
        """The resolved configuration: what the cache key and the config-diff table use."""
        if self.kind == "preset":
            from vatrack.models.presets import method_preset, resolve_config

            spec = method_preset(self.source, list(self.overrides), encoder=self.encoder)
            return (spec or resolve_config(self.source, list(self.overrides), encoder=self.encoder)).flat()
        if self.kind == "method":
            from vatrack.models import make_model

            make_model(self.source)  # unknown names fail here, before any fold runs
            return {"method": self.source, "encoder": self.encoder or "minilm"}
        from vatrack.experiments.ensemble import INNER_FOLDS

        return {"ensemble_of": list(self.members), "weights": self.weights,
                "inner_folds": INNER_FOLDS if self.weights == "cv" else None}

    def factory(self) -> Callable[[int], object]:
        """seed -> a fresh, unfitted estimator."""
        from vatrack.experiments.cv import estimator_factory

        if self.kind == "preset":
            return estimator_factory(preset=self.source, encoder=self.encoder, overrides=self.overrides)
        if self.kind == "method":
            return estimator_factory(method=self.source, encoder=self.encoder)
        raise VatrackError(f"version '{self.name}' is an ensemble; it is computed from its members' runs")


def _split_list(value) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def parse_versions(presets=None, methods=None, ensemble: str | None = None, encoder: str | None = None,
                   overrides=()) -> list[Version]:
    """Versions from CLI-style lists: presets 'v3.0,v3.3' (names or YAML paths), methods
    'ridge,user-mean', and optionally an ensemble ('cv' or 'equal') of all of them."""
    versions = []
    for preset in _split_list(presets):
        name = Path(preset).stem if preset.endswith((".yaml", ".yml")) else preset
        versions.append(Version(name, "preset", preset, tuple(overrides), encoder))
    for method in _split_list(methods):
        versions.append(Version(method, "method", method, (), encoder))
    if not versions:
        raise VatrackError("nothing to compare: give `presets` and/or `methods`")
    if overrides and not _split_list(presets):  # they would be silently dropped
        raise VatrackError("`overrides` change preset settings and no preset is compared; drop them, or "
                           "compare a method preset (`presets`) with the setting in its YAML")
    names = [v.name for v in versions]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise VatrackError(f"version name(s) given twice: {', '.join(duplicated)}; each version needs its own name")
    if ensemble:
        from vatrack.experiments.ensemble import check_mode

        if len(versions) < 2:
            raise VatrackError("`ensemble` needs at least 2 versions to combine")
        versions.append(Version("ensemble", "ensemble", members=tuple(names), weights=check_mode(ensemble, "ensemble")))
    return versions


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A hash of the rows that matter for CV (keys, text, time, labels), order included."""
    columns = [c for c in ("user_id", "text_id", "text", "timestamp", "is_words", *LABELS) if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def config_hash(version: Version, config: dict, fingerprint: str, n_folds: int) -> str:
    # The name and description do not change a result: two presets that differ only by
    # name share their runs.
    essential = {k: v for k, v in config.items() if k not in ("name", "description")}
    payload = {"format": CACHE_FORMAT, "kind": version.kind, "config": essential, "data": fingerprint, "folds": n_folds}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
