"""Statistics over per-fold figures: each version's spread and interval, paired tests and verdicts.

Every version of a comparison runs through the same folds of the same seeds, so each
(seed, fold) gives one *pair* of scores per two versions; a delta is called "significant"
only when the paired evidence says so:

* mean ± std and a 95% bootstrap interval of each metric over (seed, fold) runs;
* per delta against the reference version: the paired bootstrap interval of the mean
  difference AND the Wilcoxon signed-rank test over shared (seed, fold) pairs. The verdict
  is "significant" when the interval excludes 0 and Wilcoxon's p < alpha, else "within
  noise". Folds of one seed share training users, so pairs are not independent: the verdict
  is a screen against noise, not a proof. Wilcoxon needs at least 6 pairs to reach p < 0.05.

Inputs are per-fold tables (columns seed, fold and flat metric names such as
``all.valence.r_composite``), as ``vatrack.experiments`` writes them to per_fold.csv.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vatrack.evaluation.stats import bootstrap_ci, paired_bootstrap, wilcoxon_paired

HEADLINE = "all.avg.r_composite"     # the leaderboard figure: composite r averaged over V and A
ALPHA = 0.05
# Metrics of the comparison table and the paired tests, with a readable label.
COMPARE_METRICS = {
    "all.avg.r_composite": "composite r avg",
    "all.valence.r_composite": "composite r V",
    "all.arousal.r_composite": "composite r A",
    "all.valence.r_within": "r within V",
    "all.arousal.r_within": "r within A",
    "all.valence.r_between": "r between V",
    "all.arousal.r_between": "r between A",
    "all.avg.ccc": "CCC avg",
    "all.valence.ccc": "CCC V",
    "all.arousal.ccc": "CCC A",
    "all.valence.rmse": "RMSE V",
    "all.arousal.rmse": "RMSE A",
    "seen.avg.r_composite": "composite r avg, seen",
    "unseen.avg.r_composite": "composite r avg, unseen",
    "train.avg.ccc": "train CCC avg",
    "gap.avg.ccc": "train − val gap (CCC avg)",
}


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 when neither (train fit)."""
    if metric.startswith("train."):
        return 0
    if metric.startswith("gap.") or metric.endswith(("rmse", "mae", "mae_between", "mae_within")):
        return -1
    return 1


def metric_stats(per_fold: pd.DataFrame, metric: str, seed: int = 0) -> dict:
    """mean, std, 95% bootstrap CI and n of one metric over (seed, fold) runs (NaN dropped)."""
    values = per_fold[metric].dropna().to_numpy(float) if metric in per_fold else np.array([])
    if values.size == 0:
        return {"mean": math.nan, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
    low, high = bootstrap_ci(values, seed=seed)
    std = float(values.std(ddof=1)) if values.size > 1 else math.nan
    return {"mean": float(values.mean()), "std": std, "ci_low": low, "ci_high": high, "n": int(values.size)}


def paired_test(a: pd.DataFrame, b: pd.DataFrame, metric: str, alpha: float = ALPHA) -> dict:
    """Delta a − b over shared (seed, fold) pairs: paired bootstrap CI, Wilcoxon p, verdict."""
    empty = {"delta": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_bootstrap": math.nan,
             "p_wilcoxon": math.nan, "n_pairs": 0, "verdict": "n/a (no shared runs)"}
    if metric not in a or metric not in b:
        return empty
    joined = a[["seed", "fold", metric]].merge(b[["seed", "fold", metric]], on=["seed", "fold"], suffixes=("_a", "_b")).dropna()
    n = len(joined)
    if n == 0:
        return empty
    x, y = joined[f"{metric}_a"].to_numpy(float), joined[f"{metric}_b"].to_numpy(float)
    boot = paired_bootstrap(x, y)
    result = {"delta": boot["delta"], "ci_low": boot["ci_low"], "ci_high": boot["ci_high"],
              "p_bootstrap": boot["p_value"], "n_pairs": n}
    if n < 2:
        return {**result, "p_wilcoxon": math.nan, "verdict": "n/a (1 pair)"}
    result["p_wilcoxon"] = wilcoxon_paired(x, y)["p_value"]
    excludes_zero = boot["ci_low"] > 0 or boot["ci_high"] < 0
    if excludes_zero and result["p_wilcoxon"] < alpha:
        sign = direction(metric) * np.sign(boot["delta"])
        result["verdict"] = "significant" + {1: " (better)", -1: " (worse)"}.get(int(sign), "")
    else:
        result["verdict"] = "within noise"
    return result
