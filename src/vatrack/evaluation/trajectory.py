"""Per-person statistics of an affect time series, as EMA research reports them.

For one person's series x_1..x_n (in time order, at times t_1..t_n):

* ``mean``, ``sd`` (sample SD, n − 1);
* ``rmssd`` — root mean square of successive differences, sqrt(mean((x_{i+1} − x_i)²)):
  instability, how much the state jumps from one entry to the next;
* ``autocorr_lag1`` — Σ(x_i − x̄)(x_{i+1} − x̄) / Σ(x_i − x̄)²: inertia, how much a state
  carries over to the next entry;
* ``trend_per_week`` — least-squares slope of x on time, in scale units per week.

A statistic that needs more entries than the person has (SD and RMSSD need 2,
autocorrelation 3 and some variation, trend 2 distinct times) is NaN, never a made-up 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STAT_COLUMNS = ("mean", "sd", "rmssd", "autocorr_lag1", "trend_per_week")


def series_statistics(values, times) -> dict[str, float]:
    """The statistics above for one series; ``times`` are datetimes in the same order."""
    x = np.asarray(values, dtype=float)
    when = pd.to_datetime(pd.Series(times)).reset_index(drop=True)
    t = ((when - when.min()) / pd.Timedelta(weeks=1)).to_numpy(dtype=float) if len(when) else np.zeros(0)
    n = x.size
    out = dict.fromkeys(STAT_COLUMNS, float("nan"))
    if n == 0:
        return out
    out["mean"] = float(x.mean())
    if n >= 2:
        out["sd"] = float(x.std(ddof=1))
        out["rmssd"] = float(np.sqrt(np.mean(np.diff(x) ** 2)))
        dt = t - t.mean()
        if np.sum(dt**2) > 0:
            out["trend_per_week"] = float(np.sum(dt * (x - x.mean())) / np.sum(dt**2))
    centred = x - x.mean()
    denominator = float(np.sum(centred**2))
    if n >= 3 and denominator > 1e-12 * max(1.0, float(np.abs(x).max()) ** 2):
        out["autocorr_lag1"] = float(np.sum(centred[:-1] * centred[1:]) / denominator)
    return out
