"""Reading the per-epoch histories of a comparison's runs: which epochs to set side by side,
mean learning curves, and the report's paragraph on overfitting.

Runs stop at different epochs (early stopping), so figures are compared per tag (first,
peak validation CCC, best (kept), last epoch of each run) rather than per epoch number.
"""

from __future__ import annotations

import math

import pandas as pd

from vatrack.experiments.compare import best_epoch_row

EPOCH_COLUMNS = ("train_loss", "val_loss", "train_ccc_avg", "val_ccc_valence", "val_ccc_arousal", "val_ccc_avg",
                 "val_r_composite_avg", "gap_ccc", "lr")


def epoch_rows(histories: pd.DataFrame) -> pd.DataFrame:
    """Per run (seed, fold): its first epoch, peak-validation-CCC epoch, best (kept) epoch and
    last epoch, tagged in ``which``. Averaging these per tag compares like with like across
    runs that stopped at different epochs."""
    if histories.empty:
        return pd.DataFrame()
    picks = []
    for (_, _), run in histories.groupby(["seed", "fold"], sort=True):
        run = run.sort_values("epoch")
        chosen = {"first": run.iloc[0], "last": run.iloc[-1]}
        if "val_ccc_avg" in run and run["val_ccc_avg"].notna().any():
            chosen["peak val CCC"] = run.loc[run["val_ccc_avg"].idxmax()]
        best = best_epoch_row(run)
        if best is not None:
            chosen["best (kept)"] = best
        for which, row in chosen.items():
            picks.append({"which": which, **row.to_dict()})
    order = {"first": 0, "peak val CCC": 1, "best (kept)": 2, "last": 3}
    frame = pd.DataFrame(picks)
    return frame.assign(_order=frame["which"].map(order)).sort_values(["_order", "seed", "fold"]).drop(columns="_order")


def epoch_summary(histories: pd.DataFrame) -> pd.DataFrame:
    """Mean and std per tag of :func:`epoch_rows` (columns <name>_mean / <name>_std)."""
    rows = epoch_rows(histories)
    if rows.empty:
        return rows
    columns = ["epoch", *[c for c in EPOCH_COLUMNS if c in rows]]
    grouped = rows.groupby("which", sort=False)[columns]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    out["runs"] = grouped.size()
    return out.reset_index()


def mean_curves(histories: pd.DataFrame) -> pd.DataFrame:
    """Per epoch, mean and std over runs of every numeric history column, and how many runs
    reached that epoch (early stopping makes later epochs rarer)."""
    if histories.empty:
        return pd.DataFrame()
    numeric = [c for c in histories.columns if c not in ("seed", "fold", "epoch") and pd.api.types.is_numeric_dtype(histories[c])]
    grouped = histories.groupby("epoch")[numeric]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    out["runs"] = histories.groupby("epoch").size()
    return out.reset_index()


def overfitting_note(histories: pd.DataFrame) -> str:
    """One paragraph on where validation peaks vs where training goes, from the runs' histories."""
    rows = epoch_rows(histories)
    if rows.empty or "val_ccc_avg" not in rows or "train_ccc_avg" not in rows:
        return ""
    by = rows.groupby("which")
    mean = lambda which, col: float(by.get_group(which)[col].mean()) if which in by.groups and col in rows else math.nan  # noqa: E731
    first_t, last_t = mean("first", "train_ccc_avg"), mean("last", "train_ccc_avg")
    peak_v, last_v = mean("peak val CCC", "val_ccc_avg"), mean("last", "val_ccc_avg")
    peak_e, last_e = mean("peak val CCC", "epoch"), mean("last", "epoch")
    gap_best, gap_last = mean("best (kept)", "gap_ccc"), mean("last", "gap_ccc")
    text = (f"Train CCC (avg) goes from {first_t:.3f} at the first epoch to {last_t:.3f} at the last "
            f"(epoch {last_e:.1f} on average), while validation CCC peaks at {peak_v:.3f} around epoch {peak_e:.1f} "
            f"and ends at {last_v:.3f}.")
    if not math.isnan(gap_best):
        text += f" The train–validation gap is {gap_best:.3f} at the kept epoch and {gap_last:.3f} at the last."
    if last_t - first_t > 0.05 and peak_v - last_v > 0.01:
        text += (" Training keeps improving after validation peaks: the later epochs overfit, and the kept "
                 "(best-validation) checkpoint is what the CV figures use.")
    elif peak_v - last_v <= 0.01:
        text += " Validation does not fall off after its peak: no clear overfitting within these epochs."
    return text
