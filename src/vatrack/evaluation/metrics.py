"""Official SemEval-2026 Task 2 metrics, plus the seed's CCC / RMSE / Pearson.

Everything here is a pure function of arrays or frames; nothing reads files. Results are
plain nested dicts of Python floats and ints, ready for ``vatrack.io.write_json``.

Conventions (they match the official scorer where it defines them):

* ``pearson`` is 0.0 when either side is constant or there are fewer than two values:
  a constant prediction carries no ranking information, and the official within-user rule
  scores it as r = 0. The same rule makes a between-user r over fewer than 2 users 0.0.
* ``ccc`` is 0.0 in the same degenerate cases (its covariance term is zero there).
* Within-user figures skip users with fewer than 2 texts or constant gold. When no user is
  left the within-user r, the within-user MAE and the composite are NaN (an empty mean,
  as in the official script), and ``n_users_within`` says 0.
* Inputs must be finite; a NaN or infinity raises :class:`VatrackError`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vatrack.errors import VatrackError

# -- column names per task -----------------------------------------------------------------

TASKS = ("subtask1", "subtask2a", "subtask2b")
DIMS = ("valence", "arousal")

KEY_COLUMNS = {
    "subtask1": ("user_id", "text_id"),
    "subtask2a": ("user_id",),
    "subtask2b": ("user_id",),
}
GOLD_COLUMNS = {
    "subtask1": ("valence", "arousal"),
    "subtask2a": ("state_change_valence", "state_change_arousal"),
    "subtask2b": ("disp_change_valence", "disp_change_arousal"),
}
PRED_COLUMNS = {task: tuple(f"pred_{c}" for c in cols) for task, cols in GOLD_COLUMNS.items()}
# The training data spells the 2B target out in full; gold files may do the same.
GOLD_ALIASES = {
    "subtask2b": {
        "disposition_change_valence": "disp_change_valence",
        "disposition_change_arousal": "disp_change_arousal",
    },
}
SEEN_COLUMN = "is_seen_user"

# atanh(±1) is infinite; the composite clips r just inside the interval first.
_R_CLIP = 1.0 - 1e-7


def check_task(task: str) -> str:
    """Return ``task`` if it is one of :data:`TASKS`, else raise a one-line error."""
    if task not in TASKS:
        raise VatrackError(f"unknown task '{task}'; use one of: {', '.join(TASKS)}")
    return task


# -- elementary metrics --------------------------------------------------------------------


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two equally long, finite float vectors."""
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise VatrackError(f"metric inputs differ in length: {x.size} vs {y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise VatrackError("metric inputs contain NaN or infinite values; every prediction and gold value must be a finite number")
    return x, y


def _is_constant(x: np.ndarray) -> bool:
    # Constant up to rounding: per-user means of one constant prediction differ in the
    # last bits (sum / n), and scaling those bits up would invent a correlation. Spread
    # within 1e-9 of the values' magnitude counts as constant.
    if x.size == 0:
        return True
    return bool(np.ptp(x) <= 1e-9 * max(1.0, float(np.abs(x).max())))


def pearson(a, b) -> float:
    """Pearson r; 0.0 when n < 2 or either side is constant (see module docstring)."""
    x, y = _pair(a, b)
    if x.size < 2 or _is_constant(x) or _is_constant(y):
        return 0.0
    xc, yc = x - x.mean(), y - y.mean()
    # r is scale-free, so scale each side to max |value| 1 to keep squares away from
    # overflow and underflow.
    xc /= np.abs(xc).max()
    yc /= np.abs(yc).max()
    r = float(np.dot(xc, yc) / math.sqrt(np.dot(xc, xc) * np.dot(yc, yc)))
    return min(1.0, max(-1.0, r))


def ccc(a, b) -> float:
    """Lin's concordance correlation (population moments); 0.0 when degenerate."""
    x, y = _pair(a, b)
    if x.size < 2 or _is_constant(x) or _is_constant(y):
        return 0.0
    mx, my = x.mean(), y.mean()
    xc, yc = x - mx, y - my
    # CCC is invariant to one common scale for both sides: scale by the largest term.
    scale = max(np.abs(xc).max(), np.abs(yc).max(), abs(mx - my))
    xc, yc, shift = xc / scale, yc / scale, (mx - my) / scale
    num = 2.0 * np.dot(xc, yc)
    den = np.dot(xc, xc) + np.dot(yc, yc) + x.size * shift * shift
    value = float(num / den)
    return min(1.0, max(-1.0, value))


def mae(a, b) -> float:
    """Mean absolute error."""
    x, y = _pair(a, b)
    if x.size == 0:
        raise VatrackError("cannot compute MAE of zero values")
    return float(np.abs(x - y).mean())


def rmse(a, b) -> float:
    """Root mean squared error."""
    x, y = _pair(a, b)
    if x.size == 0:
        raise VatrackError("cannot compute RMSE of zero values")
    return float(math.sqrt(np.square(x - y).mean()))


def composite_r(r_within: float, r_between: float) -> float:
    """tanh of the mean Fisher z of the two correlations (the leaderboard figure)."""
    if math.isnan(r_within) or math.isnan(r_between):
        return float("nan")
    zw = math.atanh(min(_R_CLIP, max(-_R_CLIP, r_within)))
    zb = math.atanh(min(_R_CLIP, max(-_R_CLIP, r_between)))
    return math.tanh((zw + zb) / 2.0)


# -- subtask 1 -----------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise VatrackError(f"{what} lacks column(s) {', '.join(repr(c) for c in missing)}; present: {', '.join(map(str, frame.columns))}")


def _dimension_subtask1(users: pd.Series, gold: np.ndarray, pred: np.ndarray) -> dict:
    """All subtask-1 figures for one dimension."""
    by_user = pd.DataFrame({"user": users.to_numpy(), "gold": gold, "pred": pred}).groupby("user", sort=False)
    means = by_user[["gold", "pred"]].mean()

    within_r, within_mae = [], []
    for _, g in by_user:
        g_gold, g_pred = g["gold"].to_numpy(), g["pred"].to_numpy()
        # Official skip rule: r is undefined for one text or for constant gold.
        if g_gold.size < 2 or _is_constant(g_gold):
            continue
        within_r.append(pearson(g_pred, g_gold))  # constant prediction -> 0.0
        within_mae.append(mae(g_pred, g_gold))

    r_between = pearson(means["pred"], means["gold"])
    r_within = float(np.mean(within_r)) if within_r else float("nan")
    return {
        "r_composite": composite_r(r_within, r_between),
        "r_between": r_between,
        "r_within": r_within,
        "mae_between": mae(means["pred"], means["gold"]),
        "mae_within": float(np.mean(within_mae)) if within_mae else float("nan"),
        "ccc": ccc(pred, gold),
        "pearson": pearson(pred, gold),
        "rmse": rmse(pred, gold),
        "mae": mae(pred, gold),
        "n_users_within": len(within_r),
    }


def _subtask1_block(frame: pd.DataFrame) -> dict:
    result: dict = {}
    users = frame["user_id"]
    for dim in DIMS:
        result[dim] = _dimension_subtask1(users, frame[dim].to_numpy(dtype=float), frame[f"pred_{dim}"].to_numpy(dtype=float))
    result["avg"] = {
        "r_composite": float(np.mean([result[d]["r_composite"] for d in DIMS])),
        "ccc": float(np.mean([result[d]["ccc"] for d in DIMS])),
    }
    result["n_rows"] = int(len(frame))
    result["n_users"] = int(users.nunique())
    return result


def seen_mask(values: pd.Series) -> np.ndarray:
    """``is_seen_user`` as a bool array; accepts bools, 0/1 and 'true'/'false' text."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower()
    mapping = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
    parsed = text.map(mapping)
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise VatrackError(f"column '{SEEN_COLUMN}', row {row}: {values.iloc[row - 1]!r} is not True/False")
    return parsed.to_numpy(dtype=bool)


def subtask1_metrics(frame: pd.DataFrame) -> dict:
    """Official subtask-1 figures (per dimension, plus ``avg``), with seen/unseen blocks.

    ``frame`` holds one row per text: user_id, valence, arousal, pred_valence, pred_arousal
    and optionally is_seen_user. When that column is present the result also has "seen"
    and "unseen" entries (each only if the group is non-empty) with the same layout.
    """
    _require(frame, ("user_id", *GOLD_COLUMNS["subtask1"], *PRED_COLUMNS["subtask1"]), "subtask1 scoring frame")
    if len(frame) == 0:
        raise VatrackError("subtask1 scoring frame has no rows")
    result = _subtask1_block(frame)
    if SEEN_COLUMN in frame.columns:
        seen = seen_mask(frame[SEEN_COLUMN])
        for name, mask in (("seen", seen), ("unseen", ~seen)):
            if mask.any():
                result[name] = _subtask1_block(frame.loc[mask])
    return result


# -- subtask 2A / 2B -----------------------------------------------------------------------


def subtask2_metrics(frame: pd.DataFrame, task: str) -> dict:
    """Pearson r and MAE over users (plus CCC, RMSE) for subtask2a or subtask2b.

    ``frame`` has one row per user with the task's gold columns (see :data:`GOLD_COLUMNS`;
    the long 2B names are accepted too) and the matching ``pred_`` columns.
    """
    if check_task(task) == "subtask1":
        raise VatrackError("subtask2_metrics scores subtask2a or subtask2b; use subtask1_metrics for subtask1")
    frame = frame.rename(columns={k: v for k, v in GOLD_ALIASES.get(task, {}).items() if v not in frame.columns})
    _require(frame, ("user_id", *GOLD_COLUMNS[task], *PRED_COLUMNS[task]), f"{task} scoring frame")
    if len(frame) == 0:
        raise VatrackError(f"{task} scoring frame has no rows")
    dup = frame["user_id"].duplicated()
    if dup.any():
        raise VatrackError(f"{task} scoring frame has user_id {frame['user_id'][dup].iloc[0]!r} twice; {task} needs one row per user")

    result: dict = {}
    for dim, gold_col, pred_col in zip(DIMS, GOLD_COLUMNS[task], PRED_COLUMNS[task]):
        gold, pred = frame[gold_col].to_numpy(dtype=float), frame[pred_col].to_numpy(dtype=float)
        result[dim] = {"r": pearson(pred, gold), "mae": mae(pred, gold), "ccc": ccc(pred, gold), "rmse": rmse(pred, gold)}
    result["avg"] = {k: float(np.mean([result[d][k] for d in DIMS])) for k in ("r", "mae", "ccc")}
    result["n_users"] = int(len(frame))
    return result


def headline_score(result: dict, task: str) -> float:
    """The single leaderboard figure: mean composite r (subtask1) or mean r (2A/2B)."""
    return float(result["avg"]["r_composite" if check_task(task) == "subtask1" else "r"])
