"""Compare versions (presets, baselines, an ensemble) under official-style CV, with statistics.

The seed project called a difference of 0.009 on one seed a finding. Here every version runs
through the same folds of the same seeds, so each (seed, fold) gives one *pair* of scores per
two versions, and a delta is called "significant" only when the paired evidence says so: the
statistics and verdicts are ``vatrack.evaluation.fold_stats``.

Runs are cached per version in ``CACHE/<name>-<hash>/`` (per_fold.csv, oof_predictions.csv,
history.csv, version.json), keyed by a hash of what determines the result: the resolved
configuration (not its name), the data, the number of folds and the cache format
(``vatrack.experiments.versions``). A second
``compare`` with the same versions reuses them; asking for more seeds runs only the new
ones. Results are saved after every seed, so an interrupted comparison loses one seed at most.
The key covers configuration and data, not code: after changing model code, point --cache
at a fresh folder (or delete OUT/cache). A new config key changes every key of its kind.

``run_comparison`` computes and writes summary.json; ``vatrack.reporting`` renders the report.
"""

from __future__ import annotations

import json
import math
import time
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from vatrack.data.schema import LABELS
from vatrack.errors import VatrackError
from vatrack.evaluation.fold_stats import ALPHA, COMPARE_METRICS, HEADLINE, metric_stats, paired_test
from vatrack.evaluation.metrics import ccc
from vatrack.experiments.targets import DEFAULT_TARGETS, evaluate_targets
from vatrack.experiments.versions import Version, config_hash, data_fingerprint
from vatrack.io import slug, write_csv, write_json


# --- one version's CV runs --------------------------------------------------------------------------


@dataclass
class VersionResult:
    version: Version
    config: dict
    key: str                              # config hash ("" for results built elsewhere)
    per_fold: pd.DataFrame                # seed, fold, flat metrics, train.*, gap.*, info.*
    predictions: pd.DataFrame             # out-of-fold predictions with gold, seed, fold
    histories: pd.DataFrame = field(default_factory=pd.DataFrame)  # seed, fold, epoch, ... (sequence models)
    folder: Path | None = None
    weights: pd.DataFrame | None = None   # ensemble: weights per (seed, fold)

    @property
    def name(self) -> str:
        return self.version.name


class _Recorded:
    """Wraps a fold's estimator to keep what its fit produced: history, train CCC, time."""

    def __init__(self, model):
        self.model = model
        self.figures: dict = {}
        self.history = pd.DataFrame()

    def fit(self, train: pd.DataFrame) -> "_Recorded":
        start = time.perf_counter()
        self.model.fit(train)
        self.history = history_of(self.model)
        self.figures = {"info.fit_time_s": time.perf_counter() - start,
                        **_train_figures(self.model, train, self.history)}
        return self

    def predict(self, inputs: pd.DataFrame) -> pd.DataFrame:
        return self.model.predict(inputs)


def history_of(model) -> pd.DataFrame:
    """Per-epoch history of a fitted estimator: ``history_`` (a DataFrame) if it has one, else
    the sequence model's ``fit_info["history"]``; empty for models without epochs."""
    history = getattr(model, "history_", None)
    if isinstance(history, pd.DataFrame):
        return history.copy()
    rows = (getattr(model, "fit_info", None) or {}).get("history")
    return pd.DataFrame(rows) if rows else pd.DataFrame()


def best_epoch_row(history: pd.DataFrame, best_epoch=None) -> pd.Series | None:
    """The history row of the kept checkpoint: ``best_epoch`` if known, else max val_score, else last."""
    if history.empty:
        return None
    if best_epoch is not None and "epoch" in history and (history["epoch"] == best_epoch).any():
        return history[history["epoch"] == best_epoch].iloc[0]
    if "val_score" in history and history["val_score"].notna().any():
        return history.loc[history["val_score"].idxmax()]
    return history.iloc[-1]


def _train_figures(model, train: pd.DataFrame, history: pd.DataFrame) -> dict:
    """Train CCC per dimension (and epochs) of a fitted fold model.

    With a history: the seed's definition, train CCC at the kept epoch. Without (baselines):
    in-sample CCC of the fitted model on its own training rows.
    """
    info = getattr(model, "fit_info", None) or {}
    figures = {}
    if "epochs_run" in info:
        figures["info.epochs_run"] = float(info["epochs_run"])
    row = best_epoch_row(history, info.get("best_epoch"))
    if row is not None and "train_ccc_valence" in row:
        figures["info.best_epoch"] = float(row.get("epoch", np.nan))
        values = [float(row[f"train_ccc_{d}"]) for d in LABELS]
    else:
        from vatrack.protocols import strip_labels

        pred = model.predict(strip_labels(train))
        values = [ccc(pred[f"pred_{d}"].to_numpy(float), train[d].to_numpy(float)) for d in LABELS]
    figures.update({f"train.{d}.ccc": v for d, v in zip(LABELS, values)})
    figures["train.avg.ccc"] = float(np.mean(values))
    return figures


def _read_cache(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    def read(name):
        path = folder / name
        return pd.read_csv(path, dtype={"user_id": str, "text_id": str}) if path.exists() else pd.DataFrame()

    return read("per_fold.csv"), read("oof_predictions.csv"), read("history.csv")


def _find_cached(cache_root: Path, name: str, key: str) -> Path:
    """This version's folder; an existing folder with the same hash (any name) is reused."""
    for folder in sorted(cache_root.glob(f"*-{key[:12]}")):
        try:
            if json.loads((folder / "version.json").read_text())["hash"] == key:
                return folder
        except (OSError, ValueError, KeyError):
            continue
    return cache_root / f"{slug(name)}-{key[:12]}"


def _complete_seeds(frame: pd.DataFrame, seeds: set[int], n_folds: int, predictions: pd.DataFrame) -> set[int]:
    """The seeds whose out-of-fold predictions are all in the cache: every held-out row of every
    fold (a run stopped while writing, or an edited file, would otherwise break ensembles later)."""
    from vatrack.protocols import cv_plan

    if not seeds or predictions.empty or not {"seed", "fold"} <= set(predictions.columns):
        return set()
    have = predictions.groupby(["seed", "fold"]).size().to_dict()
    complete = set()
    for seed in sorted(seeds):
        folds = list(cv_plan(frame, n_folds=n_folds, seeds=(seed,)))
        if all(have.get((seed, f.fold)) == len(f.split(frame)[1]) for f in folds):
            complete.add(seed)
    return complete


def run_version(frame: pd.DataFrame, version: Version, n_folds: int, seeds, cache_root=None,
                fingerprint: str | None = None, on_event: Callable[[str], None] | None = None,
                jobs: int = 1) -> VersionResult:
    """CV runs of one version for ``seeds``, reusing cached seeds; saves after every seed."""
    from vatrack.experiments.cv import iter_cv

    say = on_event or (lambda message: None)
    seeds = [int(s) for s in seeds]
    config = version.config()
    fingerprint = fingerprint or data_fingerprint(frame)
    key = config_hash(version, config, fingerprint, n_folds)
    folder = _find_cached(Path(cache_root), version.name, key) if cache_root else None
    per_fold, predictions, histories = _read_cache(folder) if folder and folder.exists() else (pd.DataFrame(),) * 3
    # A seed counts as cached only when all its folds are there.
    counts = per_fold.groupby("seed").size() if len(per_fold) else pd.Series(dtype=int)
    cached = {int(s) for s, n in counts.items() if n == n_folds}
    cached = _complete_seeds(frame, cached & set(seeds), n_folds, predictions)
    todo = [s for s in seeds if s not in cached]
    if cached & set(seeds):
        say(f"{version.name}: reusing seed(s) {sorted(cached & set(seeds))} from {folder}")
    if folder and todo:
        write_json(folder / "version.json", {"name": version.name, "kind": version.kind, "source": version.source,
                                             "hash": key, "data": fingerprint, "folds": n_folds, "config": config})
    make = version.factory() if todo else None
    done: list[tuple[dict, _Recorded, pd.DataFrame]] = []
    # All missing seeds in one stream (workers stay busy across seeds); a seed is saved as
    # soon as its last fold is in, so an interrupted comparison keeps its finished seeds.
    for row, recorder, scored in (iter_cv(frame, lambda s: _Recorded(make(s)), n_folds, todo, jobs) if todo else ()):
        v, a = (row.get(f"all.{d}.r_composite", float("nan")) for d in LABELS)
        say(f"{version.name} seed {row['seed']} fold {row['fold']}: composite r V {v:.3f} A {a:.3f}")
        done.append((row, recorder, scored))
        if len(done) < n_folds:
            continue
        seed = int(row["seed"])
        rows = pd.DataFrame([{**r, **rec.figures} for r, rec, _ in done])
        if "train.avg.ccc" in rows and "all.avg.ccc" in rows:
            rows["gap.avg.ccc"] = rows["train.avg.ccc"] - rows["all.avg.ccc"]
        runs_history = [rec.history.assign(seed=seed, fold=r["fold"]) for r, rec, _ in done if not rec.history.empty]
        if folder and folder.exists():
            # Merge into the folder as it is now, not as it was when this run started: another
            # comparison sharing the cache may have saved seeds since.
            per_fold, predictions, histories = _read_cache(folder)
        per_fold = pd.concat([per_fold[per_fold["seed"] != seed] if len(per_fold) else per_fold, rows], ignore_index=True)
        predictions = pd.concat([predictions[predictions["seed"] != seed] if len(predictions) else predictions,
                                 *(p for _, _, p in done)], ignore_index=True)
        if runs_history:
            histories = pd.concat([histories[histories["seed"] != seed] if len(histories) else histories, *runs_history],
                                  ignore_index=True)
        if folder:
            write_csv(folder / "per_fold.csv", per_fold)
            write_csv(folder / "oof_predictions.csv", predictions)
            if len(histories):
                write_csv(folder / "history.csv", histories)
        done = []
    def wanted(f: pd.DataFrame) -> pd.DataFrame:
        # The cache may hold more seeds than asked for; pairs must use the same seeds everywhere.
        return f[f["seed"].isin(seeds)].sort_values(["seed", "fold"], kind="stable").reset_index(drop=True) if len(f) else f

    return VersionResult(version, config, key, wanted(per_fold), wanted(predictions), wanted(histories), folder)


def ensemble_result(version: Version, members: list[VersionResult], frame: pd.DataFrame | None = None,
                    jobs: int = 1, on_event: Callable[[str], None] | None = None) -> VersionResult:
    """An ensemble version scored from its members' out-of-fold predictions with nested weights
    (see ensemble.py): each outer fold's weights come from an inner CV inside its training rows.
    Inner runs are cached beside each member's runs; without ``frame`` only cached ones are used."""
    from vatrack.experiments.ensemble import cv_ensemble

    inner = None
    if version.weights == "cv":
        inner = {m.name: member_inner_oof(m, frame, jobs=jobs, on_event=on_event) for m in members}
    per_fold, predictions, weights = cv_ensemble({m.name: m.predictions for m in members}, version.weights, inner)
    return VersionResult(version, version.config(), "", per_fold, predictions, weights=weights)


def member_inner_oof(member: VersionResult, frame: pd.DataFrame | None, inner_folds: int | None = None,
                     jobs: int = 1, on_event: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Inner-CV out-of-fold predictions of ``member`` for each of its outer (seed, fold) runs,
    tagged outer_seed / outer_fold; cached in the member's folder (``inner_oof_k<F>.csv``)."""
    from vatrack.experiments.ensemble import INNER_FOLDS, OUTER_KEYS, inner_oof
    from vatrack.protocols import cv_plan

    inner_folds = inner_folds or INNER_FOLDS
    say = on_event or (lambda message: None)
    path = member.folder / f"inner_oof_k{inner_folds}.csv" if member.folder else None
    cached = (pd.read_csv(path, dtype={"user_id": str, "text_id": str}) if path and path.exists()
              else pd.DataFrame(columns=[*OUTER_KEYS]))
    wanted = sorted({(int(s), int(f)) for s, f in member.per_fold[["seed", "fold"]].itertuples(index=False)})
    have = {(int(s), int(f)) for s, f in cached[OUTER_KEYS].drop_duplicates().itertuples(index=False)}
    todo = [key for key in wanted if key not in have]
    if todo:
        if frame is None:
            raise VatrackError(f"ensemble member '{member.name}': no cached inner-CV predictions for (seed, fold) "
                               f"{todo[0]}; rerun `vatrack compare` to compute the nested ensemble weights")
        n_folds = int(member.per_fold["fold"].max()) + 1
        folds = {(f.seed, f.fold): f for f in cv_plan(frame, n_folds=n_folds, seeds=sorted({s for s, _ in todo}))}
        make = member.version.factory()
        for key in todo:
            train, _ = folds[key].split(frame)
            say(f"{member.name}: inner {inner_folds}-fold CV for ensemble weights, seed {key[0]} fold {key[1]}")
            part = inner_oof(train, make, key[0], inner_folds, jobs).assign(outer_seed=key[0], outer_fold=key[1])
            cached = pd.concat([cached, part], ignore_index=True) if len(cached) else part
            if path:
                write_csv(path, cached)
    keep = cached.set_index(OUTER_KEYS).index.isin(wanted)
    return cached[keep].reset_index(drop=True)


def load_version_folder(folder) -> VersionResult:
    """A cached version folder, or any folder with per_fold.csv (e.g. `vatrack cv --out`)."""
    folder = Path(folder)
    if not (folder / "per_fold.csv").exists():
        raise VatrackError(f"{folder}: no per_fold.csv here; pass a folder written by `vatrack cv --out` or `vatrack compare`")
    per_fold, predictions, histories = _read_cache(folder)
    meta = {}
    if (folder / "version.json").exists():
        meta = json.loads((folder / "version.json").read_text(encoding="utf-8"))
    version = Version(meta.get("name", folder.name), meta.get("kind", "method"), meta.get("source", ""))
    return VersionResult(version, meta.get("config", {}), meta.get("hash", ""), per_fold, predictions, histories, folder)


def _cell(value) -> str:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def config_diff(configs: dict[str, dict]) -> tuple[pd.DataFrame, int]:
    """(key, value per version) for keys whose values differ; and how many keys agree."""
    keys = list(dict.fromkeys(k for c in configs.values() for k in c))
    rows, same = [], 0
    for key in keys:
        if key in ("name", "description"):
            continue
        values = [_cell(c[key]) if key in c else "—" for c in configs.values()]
        if len(set(values)) > 1:
            rows.append({"key": key, **dict(zip(configs, values))})
        else:
            same += 1
    return pd.DataFrame(rows, columns=["key", *configs]), same


# --- the comparison ------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    results: list[VersionResult]
    reference: str
    best: str                 # highest headline mean: a max-pick, for orientation only
    stats: pd.DataFrame       # version, metric, mean, std, ci_low, ci_high, n  (every per-fold metric)
    tests: pd.DataFrame       # version, metric, delta, ci_low, ci_high, p_bootstrap, p_wilcoxon, n_pairs, verdict
    targets: pd.DataFrame     # see evaluate_targets
    config_diff: pd.DataFrame
    same_keys: int
    meta: dict = field(default_factory=dict)
    candidate: str | None = None   # named before the runs (--candidate); success criteria are judged on it

    def result(self, name: str) -> VersionResult:
        return next(r for r in self.results if r.name == name)

    def stat(self, version: str, metric: str) -> dict:
        row = self.stats[(self.stats["version"] == version) & (self.stats["metric"] == metric)]
        return row.iloc[0].to_dict() if len(row) else {"mean": math.nan, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}

    def summary(self, base=None) -> dict:
        """The JSON written as summary.json (plain types; NaN becomes null). Cache folders are
        written relative to ``base`` (the report folder) when inside it, so the folder can move."""
        def clean(value):
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, (np.floating, np.integer, np.bool_)):
                return clean(value.item())
            return value

        versions = {}
        for r in self.results:
            part = self.stats[self.stats["version"] == r.name]
            versions[r.name] = {
                "kind": r.version.kind, "source": r.version.source, "hash": r.key,
                "cache_dir": _portable(r.folder, base), "runs": int(len(r.per_fold)),
                "config": r.config,
                "metrics": {row.metric: {k: clean(getattr(row, k)) for k in ("mean", "std", "ci_low", "ci_high", "n")}
                            for row in part.itertuples()},
            }
            if r.weights is not None:
                versions[r.name]["weights_mean"] = {k: clean(v) for k, v in r.weights.drop(columns=["seed", "fold"]).mean().items()}
        comparisons = {}
        for row in self.tests.itertuples():
            comparisons.setdefault(row.version, {})[row.metric] = {
                k: clean(getattr(row, k))
                for k in ("delta", "ci_low", "ci_high", "p_bootstrap", "p_wilcoxon", "n_pairs", "verdict")}
        return {
            **self.meta, "reference": self.reference, "best": self.best, "candidate": self.candidate,
            "headline": HEADLINE,
            "order": [r.name for r in self.results],
            "versions": versions, "comparisons_vs_reference": comparisons,
            "targets": [{k: clean(v) for k, v in row.items()} for row in self.targets.to_dict(orient="records")],
        }


def compare_results(results: list[VersionResult], reference: str | None = None, targets: list[dict] | None = None,
                    alpha: float = ALPHA, meta: dict | None = None, candidate: str | None = None) -> Comparison:
    """Statistics, paired tests against ``reference`` (default: the first version), targets
    judged on ``candidate`` (default: the only version when there is one; else none)."""
    if not results:
        raise VatrackError("nothing to compare")
    names = [r.name for r in results]
    reference = reference or names[0]
    if reference not in names:
        raise VatrackError(f"`reference` '{reference}' is not one of the versions: {', '.join(names)}")
    candidate = candidate or (names[0] if len(names) == 1 else None)
    if candidate not in (None, *names):
        raise VatrackError(f"`candidate` '{candidate}' is not one of the versions: {', '.join(names)}")
    stats_rows = []
    for r in results:
        metrics = [c for c in r.per_fold.columns if c not in ("seed", "fold")]
        for metric in metrics:
            stats_rows.append({"version": r.name, "metric": metric, **metric_stats(r.per_fold, metric)})
    stats = pd.DataFrame(stats_rows, columns=["version", "metric", "mean", "std", "ci_low", "ci_high", "n"])
    base = next(r for r in results if r.name == reference)
    tests = pd.DataFrame([{"version": r.name, "metric": m, **paired_test(r.per_fold, base.per_fold, m, alpha)}
                          for r in results if r.name != reference for m in COMPARE_METRICS
                          if m in r.per_fold and m in base.per_fold],
                         columns=["version", "metric", "delta", "ci_low", "ci_high", "p_bootstrap", "p_wilcoxon",
                                  "n_pairs", "verdict"])
    headline = stats[stats["metric"] == HEADLINE].set_index("version")["mean"].reindex(names)
    best = headline.idxmax() if headline.notna().any() else names[0]
    target_table = evaluate_targets(targets if targets is not None else DEFAULT_TARGETS, stats, candidate)
    # Presets share one schema, so their diff is the "changes from v3.0" table; baselines and
    # ensembles have configs of their own shape and join the diff only without two presets.
    presets = {r.name: r.config for r in results if r.version.kind == "preset"}
    diff, same = config_diff(presets if len(presets) >= 2 else {r.name: r.config for r in results})
    return Comparison(results, reference, best, stats, tests, target_table, diff, same,
                      {"alpha": alpha, **(meta or {})}, candidate)


def check_comparison(versions, reference: str | None = None, candidate: str | None = None,
                     targets: list[dict] | None = None) -> None:
    """Every version's config and every name the comparison refers to, checked before any run
    (and before the out folder is taken)."""
    for v in versions:
        v.config()
    names = [v.name for v in versions]
    if reference is not None and reference not in names:
        raise VatrackError(f"`reference` '{reference}' is not one of the versions: {', '.join(names)}")
    if candidate is not None and candidate not in names:
        raise VatrackError(f"`candidate` '{candidate}' is not one of the versions: {', '.join(names)}")
    for target in targets or []:
        if target.get("version") and target["version"] not in names:
            raise VatrackError(f"target '{target['name']}': no version named '{target['version']}'; versions: {', '.join(names)}")


def run_comparison(frame: pd.DataFrame, versions: list[Version], out_dir, n_folds: int = 5, seeds=(0, 1, 2),
                   reference: str | None = None, targets: list[dict] | None = None, cache_dir=None,
                   alpha: float = ALPHA, on_event: Callable[[str], None] | None = None, data_label: str = "",
                   command: str | None = None, jobs: int = 1, candidate: str | None = None) -> Comparison:
    """Run (or reuse) every version's CV, compare, write OUT/summary.json. Returns the comparison."""
    from vatrack.protocols import seed_set

    out_dir = Path(out_dir)
    cache_root = Path(cache_dir) if cache_dir else out_dir / "cache"
    fingerprint = data_fingerprint(frame)
    check_comparison(versions, reference, candidate, targets)
    results: dict[str, VersionResult] = {}
    started = time.perf_counter()
    for v in versions:
        if v.kind != "ensemble":
            results[v.name] = run_version(frame, v, n_folds, seeds, cache_root, fingerprint, on_event, jobs=jobs)
    for v in versions:
        if v.kind == "ensemble":
            results[v.name] = ensemble_result(v, [results[m] for m in v.members], frame, jobs=jobs, on_event=on_event)
    meta = {"data": data_label, "data_fingerprint": fingerprint, "rows": int(len(frame)),
            "users": int(frame["user_id"].nunique()), "folds": n_folds, "seeds": [int(s) for s in seeds],
            "seed_set": seed_set(seeds),
            "cache_dir": _portable(cache_root, out_dir), "wall_time_s": round(time.perf_counter() - started, 1),
            "command": command, "default_targets": targets is None, "jobs": int(jobs)}
    comparison = compare_results([results[v.name] for v in versions], reference, targets, alpha, meta, candidate)
    write_json(out_dir / "summary.json", comparison.summary(out_dir))
    return comparison


def _portable(folder, base) -> str | None:
    if folder is None:
        return None
    folder = Path(folder).resolve()
    if base is not None and folder.is_relative_to(Path(base).resolve()):
        return folder.relative_to(Path(base).resolve()).as_posix()
    return str(folder)


def prepare_compare_dir(out_dir, force: bool = False) -> Path:
    """An empty folder, or a previous comparison's folder (its cache is reused); anything
    else needs ``force``, which empties it."""
    from vatrack.io import claim_run_dir, prepare_run_dir, run_dir_entries

    out_dir = Path(out_dir)
    if out_dir.is_dir() and run_dir_entries(out_dir):
        if (out_dir / "summary.json").exists() or (out_dir / "cache").is_dir():
            claim_run_dir(out_dir)  # one comparison at a time writes a folder
            # The earlier report goes (no stale plots beside the new one); its cache and anything else stay.
            shutil.rmtree(out_dir / "plots", ignore_errors=True)
            for name in ("report.md", "report.html", "summary.json"):
                (out_dir / name).unlink(missing_ok=True)
            return out_dir
    return prepare_run_dir(out_dir, force=force)


def reload_comparison(out_dir, targets: list[dict] | None = None) -> Comparison:
    """Rebuild a comparison from OUT/summary.json and its cached runs (no training)."""
    out_dir = Path(out_dir)
    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise VatrackError(f"{out_dir}: no readable summary.json; run `vatrack compare --out {out_dir}` first") from None
    results, members = [], {}
    seeds = summary.get("seeds")
    keep = lambda f: f[f["seed"].isin(seeds)].reset_index(drop=True) if seeds and len(f) else f  # noqa: E731
    order = summary.get("order") or list(summary["versions"])
    # Members before ensembles, then back to the original order.
    for name in sorted(order, key=lambda n: summary["versions"][n]["kind"] == "ensemble"):
        info = summary["versions"][name]
        if info["kind"] == "ensemble":
            version = Version(name, "ensemble", members=tuple(info["config"]["ensemble_of"]), weights=info["config"]["weights"])
            results.append(ensemble_result(version, [members[m] for m in version.members]))
            continue
        folder = out_dir / info["cache_dir"] if info.get("cache_dir") else None  # absolute paths stay absolute
        if folder is None or not folder.exists():
            raise VatrackError(f"{out_dir}: cached runs of '{name}' are gone ({info.get('cache_dir')}); rerun `vatrack compare`")
        loaded = load_version_folder(folder)
        result = VersionResult(Version(name, info["kind"], info.get("source", "")), info["config"], info["hash"],
                               keep(loaded.per_fold), keep(loaded.predictions), keep(loaded.histories), loaded.folder)
        members[name] = result
        results.append(result)
    if targets is None:
        targets = [{k: t[k] for k in ("name", "metric", "threshold", "direction", "version") if t.get(k) is not None}
                   for t in summary.get("targets", [])]
    results.sort(key=lambda r: order.index(r.name))
    meta = {k: summary.get(k) for k in ("data", "data_fingerprint", "rows", "users", "folds", "seeds", "seed_set", "cache_dir",
                                        "wall_time_s", "command", "default_targets")}
    return compare_results(results, summary.get("reference"), targets, summary.get("alpha", ALPHA), meta,
                           summary.get("candidate"))
