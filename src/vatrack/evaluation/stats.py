"""Statistics over repeated runs (seeds, folds): spread, bootstrap intervals, paired tests.

Inputs are short vectors of scores, one per seed/fold (or per user); all must be finite.
Bootstrap intervals are percentile intervals of the mean from ``scipy.stats.bootstrap``
with a fixed seed, so reports are reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from vatrack.errors import VatrackError

# Resamples evaluated per batch: bounds memory for long vectors (e.g. per-user scores).
_BATCH = 500


def _vector(values, what: str = "values") -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise VatrackError(f"no {what} to summarise")
    if not np.isfinite(x).all():
        raise VatrackError(f"{what} contain NaN or infinite scores; check the runs that produced them")
    return x


def _paired(a, b) -> np.ndarray:
    x, y = _vector(a, "first scores"), _vector(b, "second scores")
    if x.size != y.size:
        raise VatrackError(f"paired comparison needs equally many scores on both sides, got {x.size} and {y.size}")
    return x - y


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN for a single value, as in pandas)."""
    x = _vector(values)
    std = float(x.std(ddof=1)) if x.size > 1 else float("nan")
    return float(x.mean()), std


def _bootstrap_mean(x: np.ndarray, n: int, seed: int, level: float):
    return stats.bootstrap(
        (x,), np.mean, n_resamples=n, batch=_BATCH, vectorized=True, confidence_level=level,
        method="percentile", rng=np.random.default_rng(seed),
    )


def bootstrap_ci(values, n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; (NaN, NaN) for a single value."""
    x = _vector(values)
    if x.size < 2:
        return float("nan"), float("nan")
    ci = _bootstrap_mean(x, n, seed, level).confidence_interval
    return float(ci.low), float(ci.high)


def paired_bootstrap(a, b, n: int = 5000, seed: int = 0, level: float = 0.95) -> dict:
    """Bootstrap of the mean paired difference a − b.

    Returns delta (observed mean difference), ci_low / ci_high (percentile interval) and a
    two-sided p-value: twice the smaller share of resampled means on either side of zero,
    with the usual +1 correction so it is never exactly 0. Identical sides give p = 1; a
    single pair gives NaN interval and p-value.
    """
    d = _paired(a, b)
    delta = float(d.mean())
    if d.size < 2:
        # One pair says nothing about spread, as in bootstrap_ci.
        return {"delta": delta, "ci_low": float("nan"), "ci_high": float("nan"), "p_value": float("nan")}
    if (d == d[0]).all():
        # Every resampled mean equals the observed one; the formula below, in closed form.
        p = 1.0 if delta == 0.0 else min(1.0, 2.0 / (n + 1))
        return {"delta": delta, "ci_low": delta, "ci_high": delta, "p_value": p}
    res = _bootstrap_mean(d, n, seed, level)
    dist = res.bootstrap_distribution
    below, above = int((dist <= 0).sum()), int((dist >= 0).sum())
    p = min(1.0, 2.0 * (min(below, above) + 1) / (n + 1))
    return {
        "delta": delta,
        "ci_low": float(res.confidence_interval.low),
        "ci_high": float(res.confidence_interval.high),
        "p_value": p,
    }


def wilcoxon_paired(a, b) -> dict:
    """Wilcoxon signed-rank test of a vs b (scipy); all-zero differences give p = 1."""
    d = _paired(a, b)
    if (d == 0).all():
        return {"statistic": 0.0, "p_value": 1.0, "n": int(d.size)}
    res = stats.wilcoxon(d)
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue), "n": int(d.size)}
