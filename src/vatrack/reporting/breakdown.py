"""The report of `vatrack breakdown`: official figures per subgroup of texts, with plots.

Inputs are one or more out-of-fold prediction files (``vatrack cv --out``, a ``vatrack
compare`` cache folder) and the diary they were made on; the figures come from
:mod:`vatrack.evaluation.breakdown`. Writes OUT/report.md, OUT/report.html, OUT/plots/*.png
and the tables behind them as CSV (breakdown_per_fold.csv, breakdown_summary.csv,
label_structure.csv): aggregate figures only, never a text or a label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vatrack.data.schema import LABELS
from vatrack.errors import VatrackError
from vatrack.evaluation.breakdown import (
    breakdown_per_fold,
    join_diary,
    label_structure,
    length_edges,
    summarise_breakdown,
    user_level_stability,
)
from vatrack.experiments.ensemble import OOF_FILE
from vatrack.io import write_csv
from vatrack.reporting import plots
from vatrack.reporting.document import Report, fmt, fmt_mean_std, write_report

# Groups with fewer users per run than this are left out of the within- vs between-user plot:
# their between-user r is ±1 or 0 by chance (2 users) or by rule (1 user).
MIN_PLOT_USERS = 5
_METRIC_LABELS = {"r_composite": "composite r", "r_within": "within-user r", "r_between": "between-user r"}


def _group_bars(summaries: dict[str, pd.DataFrame], metric: str, path) -> Path:
    """One panel per dimension: every subgroup on x, one bar per version (mean ± std over runs)."""
    names = list(summaries)
    groups = list(dict.fromkeys(g for s in summaries.values() for g in s["group"]))
    fig = Figure(figsize=(max(8.0, 0.55 * len(groups) * max(1, len(names)) + 2), 7.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(groups))
    colours = ["#4466aa", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
    for ax, dim in zip(axes, LABELS):
        for k, name in enumerate(names):
            part = summaries[name][summaries[name]["dim"] == dim].set_index("group").reindex(groups)
            ax.bar(x + (k - (len(names) - 1) / 2) * width, part[f"{metric}_mean"].to_numpy(float), width,
                   yerr=np.nan_to_num(part[f"{metric}_std"].to_numpy(float)), capsize=2,
                   color=colours[k % len(colours)], alpha=0.85, label=name)
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_title(f"{_METRIC_LABELS[metric]}, {dim} (mean ± std over (seed, fold) runs)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].set_xticks(x, groups, rotation=30, ha="right")
    return plots._save(fig, path)


def _within_between(summaries: dict[str, pd.DataFrame], path) -> Path:
    """Within-user r against between-user r per subgroup and dimension, one marker per version."""
    fig = Figure(figsize=(11, 5), layout="constrained")
    axes = fig.subplots(1, len(summaries), squeeze=False)[0]
    for ax, (name, summary) in zip(axes, summaries.items()):
        for dim in LABELS:
            part = summary[(summary["dim"] == dim) & (summary["n_users"] >= MIN_PLOT_USERS)]
            ax.scatter(part["r_within_mean"], part["r_between_mean"], color=plots.DIM_COLOURS[dim], s=22, label=dim)
            for _, row in part.iterrows():
                if row["group"] in ("all", "seen", "unseen", "essays", "feeling words"):
                    ax.annotate(row["group"], (row["r_within_mean"], row["r_between_mean"]), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
        ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
        ax.set_xlabel("within-user r")
        ax.set_ylabel("between-user r")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return plots._save(fig, path)


def _label_plot(diary: pd.DataFrame, structure: pd.DataFrame, path) -> Path:
    """Gold label distributions (share of texts per value, by text type) and the within-user share of variance."""
    fig = Figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    words = diary["is_words"].to_numpy(dtype=bool)
    for ax, dim in zip(axes[:2], LABELS):
        values = sorted(diary[dim].dropna().unique())
        x = np.arange(len(values))
        for k, (name, mask) in enumerate((("essays", ~words), ("feeling words", words))):
            shares = diary.loc[mask, dim].value_counts(normalize=True).reindex(values).fillna(0)
            ax.bar(x + (k - 0.5) * 0.4, shares.to_numpy(float), 0.4, label=f"{name} ({int(mask.sum())})",
                   color=["#4466aa", "#dd8452"][k])
        ax.set_xticks(x, [f"{v:g}" for v in values])
        ax.set_title(f"gold {dim}: share of texts per value")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[2]
    kinds = list(dict.fromkeys(structure["texts"]))
    x = np.arange(len(kinds))
    for k, dim in enumerate(LABELS):
        part = structure[structure["dim"] == dim].set_index("texts").reindex(kinds)
        ax.bar(x + (k - 0.5) * 0.4, part["within_share"].to_numpy(float), 0.4, color=plots.DIM_COLOURS[dim], label=dim)
    ax.set_xticks(x, kinds)
    ax.set_ylim(0, 1)
    ax.set_title("share of gold variance within users")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return plots._save(fig, path)


def _user_points(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per user: mean gold and mean out-of-fold prediction over every run, and whether seen."""
    frame = predictions.assign(is_seen_user=predictions["is_seen_user"].astype(str).str.lower().isin(["true", "1", "1.0"]))
    agg = {f"mean_gold_{d}": (d, "mean") for d in LABELS}
    agg.update({f"mean_pred_{d}": (f"pred_{d}", "mean") for d in LABELS})
    agg["is_seen_user"] = ("is_seen_user", "max")
    return frame.groupby("user_id").agg(**agg).reset_index()


def _figure_table(summaries: dict[str, pd.DataFrame], dim: str) -> pd.DataFrame:
    first = next(iter(summaries.values()))
    rows = []
    for group in dict.fromkeys(g for s in summaries.values() for g in s["group"]):
        ref = first[(first["group"] == group) & (first["dim"] == dim)]
        row = {"group": group,
               "texts / users per run": f"{fmt(ref['n_rows'].iloc[0], 0)} / {fmt(ref['n_users'].iloc[0], 0)}" if len(ref) else "—"}
        for name, summary in summaries.items():
            hit = summary[(summary["group"] == group) & (summary["dim"] == dim)]
            for metric, label in (("r_composite", "comp"), ("r_within", "within"), ("r_between", "between")):
                column = f"{label} {name}" if len(summaries) > 1 else label
                row[column] = fmt_mean_std(hit[f"{metric}_mean"].iloc[0], hit[f"{metric}_std"].iloc[0]) if len(hit) else "—"
        rows.append(row)
    return pd.DataFrame(rows)


def breakdown_report(predictions: dict[str, pd.DataFrame], diary: pd.DataFrame, out_dir, data_name: str = "",
                     command: str = "") -> dict:
    """Score every version's out-of-fold predictions per subgroup and write the report into ``out_dir``.

    ``predictions``: version name -> out-of-fold frame. ``diary``: the labelled frame they were made
    on (``load_diary``). Returns the written paths and ``summaries`` (version -> summary frame).
    """
    if not predictions:
        raise VatrackError("no predictions given; pass at least one out-of-fold file")
    out_dir = Path(out_dir)
    plot_dir = out_dir / "plots"
    per_fold = {name: breakdown_per_fold(frame, diary, what=f"predictions '{name}'") for name, frame in predictions.items()}
    summaries = {name: summarise_breakdown(table) for name, table in per_fold.items()}
    structure = label_structure(diary)

    tables = []
    for name in per_fold:
        write_csv(out_dir / "breakdown_per_fold.csv" if len(per_fold) == 1 else out_dir / f"breakdown_per_fold_{_file(name)}.csv",
                  per_fold[name])
        tables.append(summaries[name].assign(version=name))
    write_csv(out_dir / "breakdown_summary.csv", pd.concat(tables, ignore_index=True))
    write_csv(out_dir / "label_structure.csv", structure)

    report = Report("Where the model fails: official figures per subgroup")
    runs = {name: int(t[["seed", "fold"]].drop_duplicates().shape[0]) for name, t in per_fold.items()}
    from vatrack.protocols import seed_set

    seeds = sorted({int(s) for f in predictions.values() for s in f["seed"].unique()})
    low, high = length_edges(diary["text"])
    report.text(f"Versions: {', '.join(f'**{n}** ({runs[n]} runs)' for n in per_fold)}. Data: `{data_name or 'in-memory frame'}` "
                f"({len(diary)} texts, {diary['user_id'].nunique()} users). Seeds {seeds} ({seed_set(seeds)}).")
    report.text("Each (seed, fold)'s held-out rows are cut into subgroups and each subgroup is scored as the official "
                "script scores a test set (within-user r over a user's rows in the subgroup, between-user r over the "
                f"users' subgroup means); figures are mean ± std over runs. Length terciles (words): short ≤ {low:g}, "
                f"mid ≤ {high:g}, long > {high:g}, cut on the whole data. A subgroup with few users per run has a "
                "noisy between-user r (2 users give ±1).", kind="note")
    if command:
        report.text(command, kind="code")

    report.heading("Gold labels")
    shown = structure.copy()
    for column in ("mean", "sd", "within_share", "mode_share", "tied_pairs"):
        shown[column] = shown[column].map(fmt)
    report.table(shown, "within_share = mean squared deviation from the user's own mean / total variance: the part "
                        "within-user r has to explain; constant_users: users whose gold never changes (skipped by "
                        "within-user r); tied_pairs: mean share of a user's text pairs with equal gold")
    report.image(_label_plot(diary, structure, plot_dir / "labels.png"), "gold label distributions and within-user share")

    for dim in LABELS:
        report.heading(f"{dim.capitalize()} per subgroup")
        report.table(_figure_table(summaries, dim), "mean ± std over (seed, fold) runs; comp = composite r")
    for metric in ("r_composite", "r_within", "r_between"):
        report.image(_group_bars(summaries, metric, plot_dir / f"groups_{metric}.png"), f"{_METRIC_LABELS[metric]} per subgroup")
    report.image(_within_between(summaries, plot_dir / "within_between.png"),
                 f"within- vs between-user r per subgroup (groups with at least {MIN_PLOT_USERS} users per run)")

    report.heading("Does a seen user's level carry over?")
    stability = user_level_stability(next(iter(predictions.values())), diary)
    write_csv(out_dir / "user_level_stability.csv", stability)
    if len(stability):
        table = stability.groupby("dim", sort=False).agg(r_mean=("r", "mean"), r_std=("r", "std"), runs=("r", "size"),
                                                          users=("n_users", "mean")).reset_index()
        report.table(pd.DataFrame({"dim": table["dim"], "r (mean ± std over runs)": [
            fmt_mean_std(m, s) for m, s in zip(table["r_mean"], table["r_std"])], "runs": table["runs"],
            "seen users per run": table["users"].map(lambda v: fmt(v, 1))}),
            "r over seen users between their mean gold in the training rows and their mean gold in the held-out rows: "
            "the between-user r a per-user mean of earlier labels reaches; what a user offset can carry over")
    else:
        report.text("No seen users in these runs.", kind="note")

    report.heading("Per user (pooled over runs)")
    for name, frame in predictions.items():
        report.image(plots.user_scatter(_user_points(frame), f"{name}: mean out-of-fold prediction vs mean gold per user",
                                        plot_dir / f"users_{_file(name)}.png"), name)
    written = write_report(report, out_dir)
    return {**written, "plots": report.images(), "summaries": summaries, "per_fold": per_fold, "labels": structure}


def _file(name: str) -> str:
    from vatrack.io import slug

    return slug(name)


def version_name(path) -> str:
    """A prediction file's default version name: a run folder's name (RUN, RUN/oof_predictions.csv,
    RUN/cv/...; a compare cache folder names the version), else the file's stem (a.csv -> a)."""
    path = Path(path)
    if path.is_dir() or path.name == OOF_FILE:
        folder = path if path.is_dir() else path.parent
        if folder.name == "cv":
            folder = folder.parent
        return folder.name or path.stem
    return path.stem


SEED_SETS = ("all", "development", "confirmation")


def select_seeds(frame: pd.DataFrame, seed_set: str, what: str) -> pd.DataFrame:
    """The runs of one seed set: every seed, development seeds only, or confirmation seeds only."""
    from vatrack.protocols import CONFIRMATION_SEEDS

    if seed_set not in SEED_SETS:
        raise VatrackError(f"`seed_set={seed_set!r}` is not one of {', '.join(SEED_SETS)}")
    if seed_set == "all":
        return frame
    confirm = frame["seed"].astype(int).isin(CONFIRMATION_SEEDS)
    kept = frame[confirm if seed_set == "confirmation" else ~confirm]
    if kept.empty:
        raise VatrackError(f"{what}: no runs on {seed_set} seeds (it has seeds "
                           f"{sorted(int(s) for s in frame['seed'].unique())}); choose another `seed_set`")
    return kept.reset_index(drop=True)


def run_breakdown(predictions: dict[str, Path] | list, data, out, force: bool = False, fmt=None,
                  command: str = "", seed_set: str = "all") -> dict:
    """Read out-of-fold predictions (files or run folders) and DATA, write the breakdown report into ``out``.

    ``predictions``: version name -> path, or a list of paths (named by :func:`version_name`).
    ``seed_set``: "all" runs, or only the "development" or the "confirmation" seeds' runs.
    Checks every input before the out folder is taken.
    """
    from vatrack.data import load_diary
    from vatrack.experiments.ensemble import read_oof
    from vatrack.io import output_dir

    if not isinstance(predictions, dict):
        named: dict[str, Path] = {}
        for path in predictions:
            name = version_name(path)
            if name in named:
                raise VatrackError(f"two `predictions` are both named '{name}'; name them NAME=PATH")
            named[name] = Path(path)
        predictions = named
    if not predictions:
        raise VatrackError("no `predictions` given; pass at least one out-of-fold file")
    frames = {name: select_seeds(read_oof(path), seed_set, str(path)) for name, path in predictions.items()}
    diary = load_diary(data, require_labels=True, format=fmt)
    for name, frame in frames.items():  # keys and columns checked before the out folder is touched
        join_diary(frame, diary, what=str(predictions[name]))
    with output_dir(out, force=force, inputs={"data": data, "predictions": list(predictions.values())}):  # a failed or stopped report leaves no folder
        return breakdown_report(frames, diary, out, data_name=str(data), command=command)
