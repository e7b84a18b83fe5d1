"""The sweep report: what was searched, what won, how the search went, which knobs mattered."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from vatrack.reporting import plots
from vatrack.reporting.document import Report, fmt, write_report


def sweep_report(result, out_dir) -> dict[str, Path]:
    """Write OUT/report.md, OUT/report.html, OUT/plots/*.png for a SweepResult."""
    out_dir = Path(out_dir)
    trials = result.trials
    meta = result.meta
    report = Report(f"vatrack sweep: {result.study_name}")
    states = trials["state"].value_counts().to_dict() if len(trials) else {}
    workers = trials["worker"].dropna().nunique() if "worker" in trials else 0
    report.text(f"Study **{result.study_name}** in `{result.storage}`: {len(trials)} trials "
                f"({', '.join(f'{n} {s.lower()}' for s, n in states.items())}) from {workers} worker process(es). "
                f"Base preset `{meta.get('base')}`; objective: official-style CV composite r (mean of valence and arousal) "
                f"over {meta.get('folds')} folds × seeds {meta.get('seeds')}; TPE sampler, median pruner on the running "
                "mean after each fold.")
    report.heading("Best configuration")
    if result.best_trial is None:
        report.text("No trial has completed yet.")
    else:
        report.text(f"Trial {result.best_trial}: selected CV composite r {result.best_value:.4f} (the maximum over trials on "
                    f"development seeds {meta.get('seeds')}: optimistic). Preset: `{result.preset_path}`.")
        c = result.confirmed
        if c:
            report.text(f"Confirmed (honest estimate): CV composite r **{c['value']:.4f} ± {c['std']:.4f}** "
                        f"(valence {c['r_composite_valence']:.4f}, arousal {c['r_composite_arousal']:.4f}) over "
                        f"{c['folds']} folds × confirmation seeds {c['seeds']}, which no trial used; selection optimism "
                        f"≈ {result.best_value - c['value']:+.4f} (different fold counts also differ in training size).")
        else:
            report.text("Not confirmed (--no-confirm): only the optimistic selected value is known.", kind="note")
        shown = {k: json.dumps(v) if isinstance(v, list) else fmt(v, 6) if isinstance(v, float) else str(v)
                 for k, v in result.best_params.items()}
        report.table(pd.DataFrame([{"key": k, "value": v} for k, v in shown.items()]))
        report.text(f"vatrack train --data TRAIN.csv --preset {result.preset_path} --out runs/sweep-best", kind="code")
        report.text("A sweep's best value is optimistically biased (it is the maximum of many noisy estimates): quote the "
                    "confirmed value, and compare it with the base preset on the same confirmation seeds "
                    "(`vatrack cv --preset BASE --confirm`) before calling it better.", kind="note")
    if len(trials):
        report.heading("Optimisation history")
        report.image(plots.optimisation_history(trials, out_dir / "plots" / "optimisation_history.png"),
                     "CV composite r per trial; pruned trials at their last reported inner-validation composite r.")
    report.heading("Parameter importances")
    if result.importances:
        report.image(plots.importances(result.importances, out_dir / "plots" / "param_importances.png"),
                     "fANOVA importances over completed trials.")
        report.table(pd.DataFrame([{"parameter": k, "importance": fmt(v)} for k, v in result.importances.items()]))
    else:
        report.text("Not enough completed trials with varied parameters to estimate importances yet.")
    if len(trials):
        report.heading("Top trials")
        top = trials[trials["state"] == "COMPLETE"].sort_values("value", ascending=False).head(10)
        shown = top.drop(columns=[c for c in ("epochs_reported",) if c in top]).copy()
        shown.columns = [c.removeprefix("param.") for c in shown.columns]
        for col in shown.columns:
            shown[col] = shown[col].map(lambda v: fmt(v, 4) if isinstance(v, float) else str(v))
        report.table(shown)
    report.heading("Adding workers")
    report.text("Every worker that runs the same command with the same --storage and --study adds its trials to this "
                "study. SQLite serves processes on one machine; for several machines point --storage at a PostgreSQL "
                "server, e.g. postgresql+psycopg2://USER:PASSWORD@HOST/vatrack.", kind="note")
    return {**write_report(report, out_dir), "plots": report.images()}
