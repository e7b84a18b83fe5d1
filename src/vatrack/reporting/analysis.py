"""The seed-style analysis, written by vatrack: comparison reports and single-run reports.

Sections follow the seed project's hand-written analysis (final results, success criteria,
version comparison, epoch-by-epoch table, overfitting analysis, changes between versions),
with the statistics it lacked: every figure is mean ± std over (seed, fold) runs with a 95%
interval, and every delta carries a paired test and a verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vatrack.data.schema import LABELS
from vatrack.errors import VatrackError
from vatrack.evaluation.fold_stats import COMPARE_METRICS, HEADLINE, direction
from vatrack.experiments.compare import (
    Comparison,
    best_epoch_row,
    compare_results,
    load_version_folder,
)
from vatrack.io import slug  # one file-name rule for versions: the cache folders' (plots follow it)
from vatrack.reporting import plots
from vatrack.reporting.document import Report, fmt, fmt_ci, fmt_mean_std, fmt_signed, write_report
from vatrack.reporting.epochs import epoch_summary, mean_curves, overfitting_note

# Columns of the version-comparison table (a subset of COMPARE_METRICS, to stay readable).
TABLE_METRICS = ["all.avg.r_composite", "all.valence.r_composite", "all.arousal.r_composite", "all.avg.ccc",
                 "all.valence.rmse", "all.arousal.rmse", "train.avg.ccc", "gap.avg.ccc"]
EPOCH_LABELS = {"epoch": "epoch", "train_loss": "train loss", "val_loss": "val loss", "train_ccc_avg": "train CCC avg",
                "val_ccc_valence": "val CCC V", "val_ccc_arousal": "val CCC A", "val_ccc_avg": "val CCC avg",
                "val_r_composite_avg": "val composite r avg", "gap_ccc": "gap (CCC)", "lr": "lr"}


def _mean_std(comparison: Comparison, version: str, metric: str, ci: bool = False) -> str:
    s = comparison.stat(version, metric)
    text = fmt_mean_std(s["mean"], s["std"])
    return f"{text} {fmt_ci(s['ci_low'], s['ci_high'])}" if ci and text != "—" else text


# --- sections ---------------------------------------------------------------------------------------


def _seed_set(seeds) -> str:
    from vatrack.protocols import seed_set

    return seed_set(seeds) + " seeds" if len(seeds) else "seeds unknown"


def _intro(report: Report, c: Comparison) -> None:
    meta = c.meta
    names = [r.name for r in c.results]
    runs = max((len(r.per_fold) for r in c.results), default=0)
    report.text(f"Versions: {', '.join(f'**{n}**' for n in names)}. Reference: **{c.reference}**. "
                f"Data: `{meta.get('data') or 'in-memory frame'}` ({meta.get('rows', '?')} texts, {meta.get('users', '?')} users). "
                f"Protocol: official-style CV, {meta.get('folds', '?')} folds × {len(meta.get('seeds') or [])} seeds "
                f"{list(meta.get('seeds') or [])} ({_seed_set(meta.get('seeds') or [])}) "
                f"= {runs} runs per version (some users held out entirely, others only their latest texts).")
    if _seed_set(meta.get("seeds") or []) != "confirmation":
        report.text("Development seeds: fine for choosing between versions; a figure to report (or a chosen version's "
                    "estimate) comes from the confirmation seeds (`--confirm`), which no selection may use.", kind="note")
    report.text("Every figure is the mean ± std over (seed, fold) runs, with a 95% bootstrap interval where shown. "
                f"A delta against the reference is **significant** only when its paired 95% bootstrap interval over "
                f"shared (seed, fold) pairs excludes 0 and the Wilcoxon signed-rank test gives p < {c.meta.get('alpha', 0.05)}; "
                "otherwise it is **within noise**. Folds of one seed share training users, so pairs are not fully "
                "independent: treat the verdict as a screen against noise.", kind="note")


def _final_results(report: Report, c: Comparison) -> None:
    best = c.candidate or c.best
    if c.candidate and len(c.results) == 1:   # nothing to pick from: not "named in advance"
        report.heading(f"Final results — the only version: {best}")
    else:
        report.heading(f"Final results — candidate (named in advance): {best}" if c.candidate
                       else f"Final results — best version: {best}")
    rows = [
        ("composite r, avg of V and A (leaderboard figure)", HEADLINE),
        ("composite r, valence", "all.valence.r_composite"),
        ("composite r, arousal", "all.arousal.r_composite"),
        ("CCC valence", "all.valence.ccc"),
        ("CCC arousal", "all.arousal.ccc"),
        ("CCC avg", "all.avg.ccc"),
        ("RMSE valence", "all.valence.rmse"),
        ("RMSE arousal", "all.arousal.rmse"),
        ("train CCC avg", "train.avg.ccc"),
        ("train − validation gap (CCC avg)", "gap.avg.ccc"),
        ("composite r avg, seen users", "seen.avg.r_composite"),
        ("composite r avg, unseen users", "unseen.avg.r_composite"),
        ("fit time per run (s)", "info.fit_time_s"),
    ]
    stats = {m: c.stat(best, m) for _, m in rows}
    table = pd.DataFrame([{"figure": label, "mean ± std": fmt_mean_std(stats[m]["mean"], stats[m]["std"]),
                           "95% CI": fmt_ci(stats[m]["ci_low"], stats[m]["ci_high"]), "runs": stats[m]["n"]}
                          for label, m in rows if stats[m]["n"]])
    report.table(table)
    report.text(("Candidate = the version named with --candidate before the runs; " if c.candidate else
                 "Best = highest mean composite r (avg of valence and arousal) under this CV: a maximum over versions, "
                 "optimistic by construction — name a --candidate to judge one. ") + "Train CCC is taken at the "
                "kept epoch for trained models and in-sample for baselines; the gap is train CCC minus held-out CCC.",
                kind="note")


def _targets(report: Report, c: Comparison) -> None:
    report.heading("Success criteria")
    if c.targets.empty:
        report.text("No targets given (pass --targets targets.yaml).")
        return
    table = pd.DataFrame([{
        "criterion": t["name"], "version": t["version"] or "—", "metric": t["metric"],
        "target": f"{t['direction']} {fmt(t['threshold'])}", "result": fmt_mean_std(t["mean"], t["std"]),
        "delta": fmt_signed(t["delta"]), "status": t["status"], "95% CI clears target": "yes" if t["ci_clears"] else "no",
    } for t in c.targets.to_dict(orient="records")])
    report.table(table)
    judged = sorted({t for t in c.targets["version"].dropna()})
    how = ("the only version compared" if len(c.results) == 1 else
           "named in advance: --candidate or the target's own version; never the highest-scoring version")
    report.text(f"Judged on: {', '.join(judged)} ({how})." if judged else "Not judged: no --candidate named. Success criteria are "
                "judged only on a version named before the runs (--candidate), never on the maximum.", kind="note")
    if c.meta.get("default_targets"):
        report.text("Default targets: the public leaderboard's composite r on the official test (organisers' Linear(BERT) "
                    ".557/.299, rank 1 .667/.554). CV figures on the training data are not leaderboard figures; "
                    "these are for orientation only.", kind="note")


def _comparison_table(report: Report, c: Comparison, out_dir: Path) -> None:
    report.heading("Version comparison")
    rows = []
    for r in c.results:
        row = {"version": r.name, "runs": len(r.per_fold)}
        for m in TABLE_METRICS:
            row[COMPARE_METRICS[m]] = _mean_std(c, r.name, m)
        rows.append(row)
    report.table(pd.DataFrame(rows), caption="mean ± std over (seed, fold) runs")
    ci_rows = [{"version": r.name, **{COMPARE_METRICS[m]: fmt_ci(c.stat(r.name, m)["ci_low"], c.stat(r.name, m)["ci_high"])
                                      for m in TABLE_METRICS[:4]}} for r in c.results]
    report.table(pd.DataFrame(ci_rows), caption="95% bootstrap intervals of the mean")
    if not c.tests.empty:
        report.heading(f"Deltas against {c.reference} (paired over shared seeds and folds)", level=3)
        tests = pd.DataFrame([{
            "version": t["version"], "metric": COMPARE_METRICS.get(t["metric"], t["metric"]),
            "delta": fmt_signed(t["delta"]), "95% CI of delta": fmt_ci(t["ci_low"], t["ci_high"]),
            "p (bootstrap)": fmt(t["p_bootstrap"]), "p (Wilcoxon)": fmt(t["p_wilcoxon"]), "pairs": t["n_pairs"],
            "verdict": t["verdict"],
        } for t in c.tests.to_dict(orient="records")])
        report.table(tests)
    intervals = {(row.version, row.metric): (row.ci_low, row.ci_high) for row in c.stats.itertuples()}
    image = plots.paired_folds({r.name: r.per_fold for r in c.results},
                               [(HEADLINE, "composite r avg"), ("all.valence.r_composite", "composite r valence"),
                                ("all.arousal.r_composite", "composite r arousal")],
                               out_dir / "plots" / "versions_per_fold.png", intervals)
    report.image(image, "Each (seed, fold) run per version; grey lines join the same (seed, fold) across versions.")


def _seen_unseen(report: Report, c: Comparison, out_dir: Path) -> None:
    report.heading("Seen vs unseen users")
    rows, bars = [], []
    for r in c.results:
        for group in ("seen", "unseen"):
            row = {"version": r.name, "users": group}
            for dim in LABELS:
                for metric, label in (("r_composite", "composite"), ("r_within", "within"), ("r_between", "between"), ("mae", "MAE")):
                    row[f"{label} {dim[0].upper()}"] = _mean_std(c, r.name, f"{group}.{dim}.{metric}")
                s = c.stat(r.name, f"{group}.{dim}.r_composite")
                bars.append({"version": r.name, "group": group, "dim": dim, "mean": s["mean"], "std": s["std"]})
            rows.append(row)
    report.table(pd.DataFrame(rows))
    report.text("Seen users: only their latest texts are held out, their earlier texts train the model; unseen users "
                "are held out entirely (the official test has both kinds).", kind="note")
    report.image(plots.seen_unseen_bars(pd.DataFrame(bars), out_dir / "plots" / "seen_unseen.png"),
                 "Composite r per version for seen and unseen users (mean ± std over runs).")


def user_points(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per (user, seen/unseen): mean prediction and mean gold over the user's out-of-fold rows
    (pooled over seeds: a user is held out once per seed)."""
    columns = {f"mean_pred_{d}": (f"pred_{d}", "mean") for d in LABELS} | {f"mean_gold_{d}": (d, "mean") for d in LABELS}
    frame = predictions.assign(is_seen_user=predictions["is_seen_user"].astype(str).str.lower().isin(["true", "1"]))
    return frame.groupby(["user_id", "is_seen_user"], as_index=False).agg(**columns)


def _scatter(report: Report, c: Comparison, out_dir: Path) -> None:
    report.heading("Per-user predictions (out of fold)")
    shown = False
    for r in c.results:
        if r.predictions.empty:
            continue
        image = plots.user_scatter(user_points(r.predictions), f"{r.name}: mean prediction vs mean gold per user",
                                   out_dir / "plots" / f"users_{slug(r.name)}.png")
        report.image(image, f"{r.name}: one dot per user and held-out kind, pooled over seeds.")
        shown = True
    if not shown:
        report.text("No out-of-fold predictions available.")


def _epoch_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in summary.to_dict(orient="records"):
        out = {"row": row["which"], "runs": int(row["runs"])}
        for col, label in EPOCH_LABELS.items():
            if f"{col}_mean" in row:
                digits = 1 if col == "epoch" else (6 if col == "lr" else 3)
                out[label] = fmt_mean_std(row[f"{col}_mean"], row.get(f"{col}_std"), digits) if col != "lr" else fmt(row[f"{col}_mean"], 6)
        rows.append(out)
    return pd.DataFrame(rows)


def _training(report: Report, c: Comparison, out_dir: Path) -> None:
    report.heading("Training dynamics: epoch by epoch, learning curves, overfitting")
    trained = [r for r in c.results if not r.histories.empty]
    if not trained:
        report.text("No version here trains by epochs (baselines and ensembles have no history).")
        return
    for r in trained:
        report.heading(r.name, level=3)
        report.table(_epoch_table(epoch_summary(r.histories)),
                     caption="per run: first epoch, the epoch of peak validation CCC, the kept (best validation score) "
                             "epoch and the last epoch; mean ± std over runs")
        note = overfitting_note(r.histories)
        if note:
            report.text(note)
        image = plots.learning_curves(mean_curves(r.histories), f"{r.name}: learning curves",
                                      out_dir / "plots" / f"curves_{slug(r.name)}.png")
        report.image(image, f"{r.name}: train vs validation per epoch (inner validation fold of each CV run).")
    missing = [r.name for r in c.results if r.histories.empty]
    if missing:
        report.text(f"Without epochs (no history): {', '.join(missing)}.", kind="note")


def _config_diff(report: Report, c: Comparison) -> None:
    report.heading("Configuration differences")
    if c.config_diff.empty:
        report.text(f"All {c.same_keys} configuration keys are identical across versions.")
        return
    report.table(c.config_diff, caption=f"keys whose values differ ({c.same_keys} other keys are identical)")
    others = [r for r in c.results if r.name not in c.config_diff.columns]
    for r in others:
        shown = ", ".join(f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in r.config.items())
        report.text(f"**{r.name}** ({r.version.kind}): {shown}")


def _ensembles(report: Report, c: Comparison) -> None:
    ensembles = [r for r in c.results if r.weights is not None]
    for r in ensembles:
        report.heading(f"Ensemble weights: {r.name}")
        mean = r.weights.drop(columns=["seed", "fold"]).agg(["mean", "std"])
        members = r.version.members
        report.table(pd.DataFrame([{"member": m, **{f"weight {d}": fmt_mean_std(mean.loc["mean", f"{d}.{m}"], mean.loc["std", f"{d}.{m}"])
                                                   for d in LABELS}} for m in members]),
                     caption=f"weights ({r.version.weights}) per (seed, fold), fitted by an inner CV inside that fold's training rows only (nested)")


def _per_fold(report: Report, c: Comparison) -> None:
    report.heading("Appendix: per-fold figures")
    columns = {"all.avg.r_composite": "composite avg", "all.valence.r_composite": "composite V",
               "all.arousal.r_composite": "composite A", "all.avg.ccc": "CCC avg", "train.avg.ccc": "train CCC",
               "info.fit_time_s": "fit s"}
    for r in c.results:
        present = {k: v for k, v in columns.items() if k in r.per_fold}
        frame = r.per_fold[["seed", "fold", *present]].rename(columns=present)
        for col in present.values():
            frame[col] = frame[col].map(lambda v, digits=1 if col == "fit s" else 3: fmt(v, digits))
        report.table(frame, caption=f"{r.name}" + (f" (cache: {r.folder})" if r.folder else ""))


def comparison_report(comparison: Comparison, out_dir, title: str | None = None) -> dict[str, Path]:
    """Write OUT/report.md, OUT/report.html and OUT/plots/*.png for a comparison."""
    out_dir = Path(out_dir)
    names = [r.name for r in comparison.results]
    report = Report(title or f"vatrack comparison: {' vs '.join(names)}")
    _intro(report, comparison)
    _final_results(report, comparison)
    _targets(report, comparison)
    if len(names) > 1:
        _comparison_table(report, comparison, out_dir)
    _seen_unseen(report, comparison, out_dir)
    _scatter(report, comparison, out_dir)
    _training(report, comparison, out_dir)
    if len(names) > 1:
        _config_diff(report, comparison)
    _ensembles(report, comparison)
    _per_fold(report, comparison)
    if comparison.meta.get("command"):
        report.heading("Reproduce")
        report.text(comparison.meta["command"], kind="code")
    return {**write_report(report, out_dir), "plots": report.images()}


# --- one training run ---------------------------------------------------------------------------------------


def _read_run(run_dir: Path) -> tuple[dict, pd.DataFrame, dict]:
    import yaml

    def unreadable(name: str, what: str) -> VatrackError:
        return VatrackError(f"{run_dir / name}: {what}; it was not written by vatrack train (or was damaged): "
                            f"restore it, delete it, or retrain the run")

    config, history, metrics = {}, pd.DataFrame(), {}
    if (run_dir / "config.yaml").exists():
        try:
            config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError):
            raise unreadable("config.yaml", "not readable YAML") from None
        if not isinstance(config, dict):
            raise unreadable("config.yaml", "not a mapping of key: value lines")
    if (run_dir / "history.csv").exists():
        try:
            history = pd.read_csv(run_dir / "history.csv")
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
            raise unreadable("history.csv", "empty or not a CSV table") from None
        if "epoch" not in history or pd.to_numeric(history["epoch"], errors="coerce").isna().any():
            raise unreadable("history.csv", "not a per-epoch history (needs an 'epoch' column and numbers)")
    if (run_dir / "metrics.json").exists():
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise unreadable("metrics.json", "not valid JSON") from None
        if not isinstance(metrics, dict) or not isinstance(metrics.get("val_metrics", {}), (dict, type(None))) \
                or not isinstance(metrics.get("run", {}), dict):
            raise unreadable("metrics.json", "not the metrics of a vatrack run")
    if history.empty and not metrics:
        raise VatrackError(f"{run_dir}: history.csv has no epochs and there is no metrics.json; nothing to report")
    return config, history, metrics


def run_figures(metrics: dict, history: pd.DataFrame) -> dict[str, float]:
    """A training run's validation figures as flat metric names (targets use the same names)."""
    from vatrack.experiments.cv import flatten_metrics

    flat = flatten_metrics(metrics["val_metrics"]) if metrics.get("val_metrics") else {}
    row = best_epoch_row(history, metrics.get("best_epoch"))
    if row is not None and "train_ccc_valence" in row:
        for d in LABELS:
            flat[f"train.{d}.ccc"] = float(row[f"train_ccc_{d}"])
        flat["train.avg.ccc"] = float((row["train_ccc_valence"] + row["train_ccc_arousal"]) / 2)
        if "all.avg.ccc" in flat:
            flat["gap.avg.ccc"] = flat["train.avg.ccc"] - flat["all.avg.ccc"]
    return flat


def run_report(run_dir, out_dir=None, targets: list[dict] | None = None) -> dict[str, Path]:
    """Report for one folder: a `vatrack train` run, a CV folder (per_fold.csv), or a
    comparison folder (summary.json) whose report is rebuilt from its cached runs."""
    from vatrack.experiments.compare import reload_comparison

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise VatrackError(f"{run_dir}: folder not found")
    out_dir = Path(out_dir) if out_dir else run_dir
    if (run_dir / "summary.json").exists() and not (run_dir / "per_fold.csv").exists():
        return comparison_report(reload_comparison(run_dir, targets), out_dir)
    if (run_dir / "per_fold.csv").exists():
        if (run_dir / "table.md").exists() and "method" in _csv_header(run_dir / "per_fold.csv"):
            raise VatrackError(f"{run_dir}: a `vatrack forecast-cv` folder; its report is {run_dir / 'table.md'} "
                               "(`vatrack report` reads train, cv and compare folders)")
        result = load_version_folder(run_dir)
        comparison = compare_results([result], targets=targets, meta={
            "data": "", "folds": int(result.per_fold["fold"].nunique()),
            "seeds": sorted(int(s) for s in result.per_fold["seed"].unique()), "default_targets": targets is None})
        return comparison_report(comparison, out_dir, title=f"vatrack CV report: {result.name}")
    if not (run_dir / "history.csv").exists() and not (run_dir / "metrics.json").exists():
        raise VatrackError(f"{run_dir}: neither a training run (history.csv, metrics.json), a CV folder (per_fold.csv) "
                           "nor a comparison (summary.json); nothing to report")
    return _single_run_report(run_dir, out_dir, targets)


def _csv_header(path: Path) -> list[str]:
    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError):
        return []


def _flat_config(config: dict) -> dict:
    """A run's config.yaml (grouped, or flat from an older version) as one key per row."""
    from vatrack.models.presets import make_config

    try:
        return make_config(config, "config.yaml").flat() if config else {}
    except VatrackError:
        return config  # shown as written


def _single_run_report(run_dir: Path, out_dir: Path, targets: list[dict] | None) -> dict[str, Path]:
    from vatrack.experiments.targets import DEFAULT_TARGETS

    config, history, metrics = _read_run(run_dir)
    config = _flat_config(config)
    name = config.get("name") or metrics.get("run", {}).get("preset") or run_dir.name
    report = Report(f"vatrack run report: {name} ({run_dir.name})")
    run = metrics.get("run", {})
    report.text(f"Preset **{name}**, seed {run.get('seed', '?')}, encoder `{config.get('encoder', run.get('encoder', '?'))}` "
                f"({config.get('encoder_mode', run.get('encoder_mode', '?'))}); data `{run.get('data', '?')}` "
                f"({run.get('rows', '?')} texts, {run.get('users', '?')} users); validation: {run.get('val', '?')}.")
    if run.get("command"):
        report.text(run["command"], kind="code")
    report.text("One run on one inner validation fold: a single seed says little about differences between versions; "
                "use `vatrack compare` for figures with spread and paired tests.", kind="note")

    flat = run_figures(metrics, history)
    report.heading("Final results (kept epoch, validation fold)")
    if flat:
        rows = [("composite r avg", HEADLINE), ("composite r V", "all.valence.r_composite"), ("composite r A", "all.arousal.r_composite"),
                ("CCC V", "all.valence.ccc"), ("CCC A", "all.arousal.ccc"), ("CCC avg", "all.avg.ccc"),
                ("RMSE V", "all.valence.rmse"), ("RMSE A", "all.arousal.rmse"), ("train CCC avg", "train.avg.ccc"),
                ("train − val gap (CCC avg)", "gap.avg.ccc")]
        table = [{"figure": label, "value": fmt(flat[m])} for label, m in rows if m in flat]
        facts = ("best_epoch", "epochs_run", "stopped_early", "train_time_s")
        table += [{"figure": k.replace("_", " "), "value": str(metrics[k])} for k in facts if k in metrics]
        report.table(pd.DataFrame(table))
    else:
        report.text("No validation figures (trained with --val none).")

    if flat:
        report.heading("Success criteria")
        rows = []
        for t in targets if targets is not None else DEFAULT_TARGETS:
            if t["metric"] not in flat:
                raise VatrackError(f"target '{t['name']}': metric '{t['metric']}' is not among this run's figures "
                                   f"({', '.join(sorted(flat))})")
            sense = t.get("direction") or (">=" if direction(t["metric"]) >= 0 else "<=")
            delta = flat[t["metric"]] - t["threshold"]
            met = delta >= 0 if sense == ">=" else delta <= 0
            rows.append({"criterion": t["name"], "metric": t["metric"], "target": f"{sense} {fmt(t['threshold'])}",
                         "result": fmt(flat[t["metric"]]), "delta": fmt_signed(delta), "status": "pass" if met else "miss"})
        report.table(pd.DataFrame(rows))

    if metrics.get("val_metrics"):
        report.heading("Seen vs unseen users (validation fold)")
        rows = []
        for group in ("seen", "unseen"):
            block = metrics["val_metrics"].get(group)
            if block:
                rows.append({"users": group, **{f"{m} {d[0].upper()}": fmt(block[d][m]) for d in LABELS
                                                for m in ("r_composite", "r_within", "r_between", "mae")}})
        if rows:
            report.table(pd.DataFrame(rows))

    if not history.empty:
        report.heading("Epoch by epoch")
        runs = history.assign(seed=0, fold=0)
        report.table(_epoch_table(epoch_summary(runs)), caption="first, peak validation CCC, kept and last epoch")
        columns = [c for c in EPOCH_LABELS if c in history]
        full = history[columns].rename(columns=EPOCH_LABELS).copy()
        for col in full.columns:
            full[col] = full[col].map(lambda v, c=col: str(int(v)) if c == "epoch" else fmt(v, 6 if c == "lr" else 3))
        report.table(full, caption="every epoch")
        note = overfitting_note(runs)
        if note:
            report.heading("Overfitting analysis", level=3)
            report.text(note)
        image = plots.learning_curves(mean_curves(runs), f"{name}: learning curves", out_dir / "plots" / "learning_curves.png")
        report.image(image, "Train vs validation per epoch.")

    if config:
        report.heading("Configuration")
        report.table(pd.DataFrame([{"key": k, "value": json.dumps(v) if isinstance(v, (list, dict)) else str(v)}
                                   for k, v in config.items()]))
    return {**write_report(report, out_dir), "plots": report.images()}
