"""PNG plots for reports, drawn with matplotlib's object API (no pyplot, no global state).

Every function takes plain frames/dicts, writes one PNG atomically and returns its path.
Building ``matplotlib.figure.Figure`` objects directly (instead of pyplot) renders with the
Agg canvas whatever backend is configured, needs no display, and leaks no open figures
when a report draws dozens of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vatrack.io import atomic_path

DIM_COLOURS = {"valence": "#1f77b4", "arousal": "#d62728"}
GROUP_COLOURS = {"seen": "#2ca02c", "unseen": "#9467bd"}
DPI = 90


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


def paired_folds(per_fold: dict[str, pd.DataFrame], metrics: list[tuple[str, str]], path,
                 intervals: dict | None = None) -> Path:
    """One panel per metric: every (seed, fold) as a dot per version, grey lines joining the
    same (seed, fold) across versions, and the mean with its 95% interval.

    The lines are the point: a difference is real when they mostly slope the same way, not
    when two means differ by more than the dots' spread suggests.
    """
    names = list(per_fold)
    fig = Figure(figsize=(max(4.0, 1.4 * len(names)) * len(metrics), 4.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, (column, label) in zip(axes, metrics):
        joined = None
        for name in names:
            frame = per_fold[name]
            if column not in frame:
                continue
            part = frame[["seed", "fold", column]].rename(columns={column: name})
            joined = part if joined is None else joined.merge(part, on=["seed", "fold"], how="outer")
        if joined is None:
            ax.set_visible(False)
            continue
        present = [n for n in names if n in joined]
        x = np.array([names.index(n) for n in present], dtype=float)
        for _, row in joined.iterrows():
            ax.plot(x, row[present].to_numpy(dtype=float), color="0.75", lw=0.8, zorder=1)
        for xi, name in zip(x, present):
            values = joined[name].dropna().to_numpy(dtype=float)
            ax.scatter(np.full(values.size, xi), values, s=14, color="#4466aa", alpha=0.7, zorder=2)
            if values.size:
                low, high = (intervals or {}).get((name, column), (np.nan, np.nan))
                mean = values.mean()
                err = None if np.isnan(low) else [[mean - low], [high - mean]]
                ax.errorbar([xi + 0.18], [mean], yerr=err, fmt="D", color="black", ms=5, capsize=4, zorder=3)
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("per (seed, fold): dots; mean and 95% CI: black")
    return _save(fig, path)


def learning_curves(curves: pd.DataFrame, title: str, path) -> Path:
    """Train vs validation per epoch: loss, CCC valence, CCC arousal, and the train–val gap.

    ``curves``: one row per epoch with ``<column>_mean`` / ``<column>_std`` pairs (std may be
    NaN for a single run) and ``runs`` (how many runs reached that epoch).
    """
    panels = [
        ("loss", [("train_loss", "train", "#555555"), ("val_loss", "validation", "#ff7f0e")]),
        ("CCC valence", [("train_ccc_valence", "train", "#555555"), ("val_ccc_valence", "validation", DIM_COLOURS["valence"])]),
        ("CCC arousal", [("train_ccc_arousal", "train", "#555555"), ("val_ccc_arousal", "validation", DIM_COLOURS["arousal"])]),
        ("train − validation gap (CCC avg) / val composite r", [("gap_ccc", "gap", "#8c564b"),
                                                               ("val_r_composite_avg", "val composite r", "#17becf")]),
    ]
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    epochs = curves["epoch"].to_numpy(dtype=float)
    for ax, (label, lines) in zip(axes, panels):
        drawn = False
        for column, name, colour in lines:
            if f"{column}_mean" not in curves:
                continue
            mean = curves[f"{column}_mean"].to_numpy(dtype=float)
            std = np.nan_to_num(curves[f"{column}_std"].to_numpy(dtype=float))
            ax.plot(epochs, mean, marker="o", ms=3, color=colour, label=name)
            ax.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.15)
            drawn = True
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
    if "runs" in curves and curves["runs"].max() > 1:
        title += f" (mean ± std over up to {int(curves['runs'].max())} runs)"
    fig.suptitle(title)
    return _save(fig, path)


def user_scatter(points: pd.DataFrame, title: str, path) -> Path:
    """Mean prediction vs mean gold per user (out-of-fold), seen and unseen users coloured.

    ``points``: user_id, is_seen_user, mean_pred_<dim>, mean_gold_<dim> for both dims.
    """
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, dim in zip(axes, ("valence", "arousal")):
        gold, pred = points[f"mean_gold_{dim}"].to_numpy(float), points[f"mean_pred_{dim}"].to_numpy(float)
        for group, mask in (("seen", points["is_seen_user"].to_numpy(bool)), ("unseen", ~points["is_seen_user"].to_numpy(bool))):
            if mask.any():
                ax.scatter(gold[mask], pred[mask], s=16, alpha=0.7, color=GROUP_COLOURS[group], label=f"{group} ({mask.sum()})")
        low, high = np.nanmin([gold.min(), pred.min()]), np.nanmax([gold.max(), pred.max()])
        ax.plot([low, high], [low, high], color="0.5", lw=1, ls="--", label="identity")
        r = np.corrcoef(gold, pred)[0, 1] if len(gold) > 1 and gold.std() > 0 and pred.std() > 0 else np.nan
        ax.set_title(f"{dim}: r between users = {r:.3f}")
        ax.set_xlabel("mean gold per user")
        ax.set_ylabel("mean prediction per user")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def seen_unseen_bars(table: pd.DataFrame, path) -> Path:
    """Composite r per version for seen and unseen users (mean ± std), one panel per dimension.

    ``table``: version, group, dim, mean, std.
    """
    versions = list(dict.fromkeys(table["version"]))
    fig = Figure(figsize=(max(6.0, 1.6 * len(versions)) * 2, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    width = 0.38
    x = np.arange(len(versions))
    for ax, dim in zip(axes, ("valence", "arousal")):
        for k, group in enumerate(("seen", "unseen")):
            part = table[(table["dim"] == dim) & (table["group"] == group)].set_index("version").reindex(versions)
            ax.bar(x + (k - 0.5) * width, part["mean"].to_numpy(float), width, yerr=np.nan_to_num(part["std"].to_numpy(float)),
                   color=GROUP_COLOURS[group], alpha=0.8, capsize=3, label=group)
        ax.set_xticks(x, versions, rotation=20, ha="right")
        ax.set_title(f"composite r, {dim}")
        ax.axhline(0, color="0.4", lw=0.8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def optimisation_history(trials: pd.DataFrame, path) -> Path:
    """Objective per trial (complete and pruned) and the best value so far."""
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.subplots()
    done = trials[trials["state"] == "COMPLETE"].sort_values("number")
    pruned = trials[(trials["state"] == "PRUNED") & trials["value"].notna()]
    ax.scatter(done["number"], done["value"], s=22, color="#1f77b4", label="complete", zorder=3)
    if len(pruned):
        ax.scatter(pruned["number"], pruned["value"], s=18, color="0.6", marker="x", label="pruned (last report)", zorder=2)
    if len(done):
        ax.step(done["number"], done["value"].cummax(), where="post", color="#d62728", label="best so far")
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("CV composite r (avg of V and A)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("optimisation history")
    return _save(fig, path)


def importances(values: dict[str, float], path) -> Path:
    """Horizontal bars of parameter importances, largest on top."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(7, 0.4 * len(items) + 1.4), layout="constrained")
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#4466aa")
    ax.set_xlabel("importance (share of objective variance, fANOVA)")
    ax.set_title("parameter importances")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _trajectory_axis(ax, entries: pd.DataFrame, dim: str, scale: tuple[float, float], small: bool = False) -> None:
    """One person's ``dim`` over real time: predictions as a line, ratings as filled dots,
    unrated entries as hollow markers on the prediction line."""
    when = pd.to_datetime(entries["timestamp"])
    colour = DIM_COLOURS[dim]
    ax.plot(when, entries[f"{dim}_prediction"], color=colour, lw=1 if small else 1.4, alpha=0.8,
            label="prediction")
    rated = entries[f"{dim}_rating"].notna().to_numpy()
    ax.scatter(when[rated], entries.loc[rated, f"{dim}_rating"], s=6 if small else 22, color=colour, zorder=3,
               label="rating")
    if (~rated).any():
        ax.scatter(when[~rated], entries.loc[~rated, f"{dim}_prediction"], s=8 if small else 30, zorder=3,
                   facecolors="white", edgecolors=colour, linewidths=1, label="unrated entry (predicted)")
    low, high = scale
    pad = 0.05 * (high - low)
    ax.set_ylim(low - pad, high + pad)
    ax.grid(alpha=0.3)


def _date_ticks(ax, small: bool = False) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=2, maxticks=3 if small else 7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if small:
        ax.tick_params(labelsize=6)
        ax.xaxis.get_offset_text().set_fontsize(6)


def person_trajectory(entries: pd.DataFrame, person: str, scales: dict, path) -> Path:
    """Valence and arousal of one person over time (``entries``: TrackResult.series() rows)."""
    fig = Figure(figsize=(9, 5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, dim in zip(axes, ("valence", "arousal")):
        _trajectory_axis(ax, entries, dim, scales[dim])
        low, high = scales[dim]
        ax.set_ylabel(f"{dim} ({low:g}..{high:g})")
        _date_ticks(ax)
    axes[0].legend(fontsize=8, loc="best")
    n_rated = int(entries[["valence_rating", "arousal_rating"]].notna().any(axis=1).sum())
    fig.suptitle(f"{person}: {len(entries)} entries, {n_rated} rated")
    return _save(fig, path)


def everyone_trajectories(series: pd.DataFrame, scales: dict, path, dim: str, max_people: int = 60) -> Path:
    """Small multiples: every person's ``dim`` over time on one page (first ``max_people``)."""
    people = list(dict.fromkeys(series["person"]))[:max_people]
    cols = min(6, max(1, len(people)))
    rows = int(np.ceil(len(people) / cols))
    fig = Figure(figsize=(2.4 * cols, 1.7 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax, person in zip(axes, people):
        _trajectory_axis(ax, series[series["person"] == person], dim, scales[dim], small=True)
        ax.set_title(str(person), fontsize=8)
        _date_ticks(ax, small=True)
    for ax in axes[len(people):]:
        ax.set_visible(False)
    low, high = scales[dim]
    fig.suptitle(f"{dim} ({low:g}..{high:g}) over time: dots are ratings, the line is the prediction, "
                 "hollow markers are unrated entries", fontsize=10)
    return _save(fig, path)
