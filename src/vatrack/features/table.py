"""Row tables and windows: everything about a diary frame that the sequence model reads.

A :class:`RowTable` is one user-contiguous, time-sorted frame turned into arrays:

* label-free per-row features ("static": time + text statistics + is_words), safe for any row;
* the labels the model may *see* (``known``), with zeros elsewhere;
* past-only running sums over the known labels (``prefix_*``, ``last_known``): for row r
  they cover only known rows of r's user that come strictly *before* r.

The last point is the whole leakage story: every label-derived input is read from those
prefix arrays (see :mod:`vatrack.features.labels`), so a row's features can never depend
on its own label, on a later row's label, or on a label the table does not mark as known.

Which labels are known:
* training: every training row (the batch sampler then hides a random tail, see labels.py);
* prediction: the user's training rows stored in the model bundle (``history``); the rows
  being predicted arrive without labels and stay unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vatrack.data import LABELS, sort_diary
from vatrack.features.text import TEXT_STAT_NAMES, text_stats_matrix

TIME_NAMES = ("log_gap_hours", "is_first", "hour_sin", "hour_cos", "dow_sin", "dow_cos", "log_entry")
# The two "text_ridge" columns stay zero unless the model fills them with out-of-fold ridge
# predictions from the text vector (see SequenceRegressor; off in the seed presets).
RIDGE_NAMES = ("text_ridge_valence", "text_ridge_arousal")
STATIC_NAMES = (*TIME_NAMES, *TEXT_STAT_NAMES, "is_words", *RIDGE_NAMES)
N_TIME, N_TEXT = len(TIME_NAMES), len(TEXT_STAT_NAMES)
RIDGE_COLUMNS = np.arange(len(STATIC_NAMES) - len(RIDGE_NAMES), len(STATIC_NAMES))

_TABLE_COLUMNS = ("user_id", "text_id", "text", "timestamp", "is_words")


@dataclass
class RowTable:
    frame: pd.DataFrame       # user_id, text_id, text, timestamp, is_words; sorted by user, time
    static: np.ndarray        # (n, len(STATIC_NAMES)) float32, raw (standardised later)
    labels: np.ndarray        # (n, 2) float32; 0 where the label is not known
    known: np.ndarray         # (n,) bool: may this row's label be an input?
    pos: np.ndarray           # (n,) int64: entry number within the user's timeline (0-based)
    user_start: np.ndarray    # (n,) int64: table row of the user's first entry
    prefix_n: np.ndarray      # (n,) float32: known rows of the user strictly before r
    prefix_sum: np.ndarray    # (n, 2) float32: sum of their labels
    prefix_sq: np.ndarray     # (n, 2) float32: sum of their squared labels
    last_known: np.ndarray    # (n,) int64: entry number of the last known row before r, -1 if none

    def __len__(self) -> int:
        return len(self.frame)


def time_features(frame: pd.DataFrame, pos: np.ndarray, user_start: np.ndarray) -> np.ndarray:
    """(n, 7): log gap since the user's previous entry, first-entry flag, hour and weekday
    on the circle, log entry number. Uses timestamps only, never labels."""
    ts = frame["timestamp"]
    seconds = (ts - pd.Timestamp(0)).dt.total_seconds().to_numpy()  # any datetime resolution
    first = np.arange(len(frame)) == user_start
    gap_hours = np.zeros(len(frame))
    gap_hours[1:] = (seconds[1:] - seconds[:-1]) / 3600.0
    gap_hours[first] = 0.0
    hour = (ts.dt.hour + ts.dt.minute / 60.0).to_numpy(dtype=float)
    day = ts.dt.day_of_week.to_numpy(dtype=float) + hour / 24.0
    return np.stack([
        np.log1p(np.clip(gap_hours, 0.0, None)),
        first.astype(float),
        np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
        np.sin(2 * np.pi * day / 7), np.cos(2 * np.pi * day / 7),
        np.log1p(pos),
    ], axis=1).astype(np.float32)


def build_table(frame: pd.DataFrame, known=None) -> RowTable:
    """Arrays for ``frame`` (sorted by user then time, e.g. from load_diary or merge_for_prediction).

    ``known`` marks the rows whose labels may be inputs (default: every row with both labels).
    """
    frame = frame.reset_index(drop=True)
    n = len(frame)
    if known is None:
        known = np.ones(n, bool)
        for label in LABELS:
            known &= frame[label].notna().to_numpy() if label in frame else False
    known = np.asarray(known, bool)

    user_codes = pd.factorize(frame["user_id"])[0]
    if n and (np.diff(user_codes) < 0).any():
        raise ValueError("build_table needs a frame whose users are contiguous (sort it with sort_diary)")
    pos = np.array(frame.groupby(user_codes, sort=False).cumcount(), dtype=np.int64)  # writable copy
    user_start = np.arange(n, dtype=np.int64) - pos

    labels = np.zeros((n, 2), np.float32)
    for j, label in enumerate(LABELS):
        if label in frame:
            labels[known, j] = frame[label].to_numpy(dtype=float)[known]

    # Exclusive prefix sums within each user: cumulative total before r minus the total
    # before the user's first row.
    def before(values):
        cum = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
        return (cum[np.arange(n)] - cum[user_start]).astype(np.float32)

    k = known.astype(np.float64)
    prefix_n = before(k)
    prefix_sum = before(labels.astype(np.float64) * k[:, None])
    prefix_sq = before(labels.astype(np.float64) ** 2 * k[:, None])

    # Entry number of the last known row strictly before r: a running max of the previous
    # row's "pos if known else -1", restarted at every user.
    known_pos = np.where(known, pos, -1)
    previous = np.concatenate([[-1], known_pos[:-1]]) if n else known_pos
    previous[pos == 0] = -1
    last_known = np.array(pd.Series(previous).groupby(user_codes).cummax(), dtype=np.int64)

    static = np.concatenate([
        time_features(frame, pos, user_start),
        text_stats_matrix(frame["text"].tolist()),
        frame["is_words"].to_numpy(dtype=np.float32)[:, None],
        np.zeros((n, len(RIDGE_NAMES)), np.float32),
    ], axis=1)
    return RowTable(frame=frame[list(_TABLE_COLUMNS)], static=static, labels=labels, known=known, pos=pos,
                    user_start=user_start, prefix_n=prefix_n, prefix_sum=prefix_sum, prefix_sq=prefix_sq,
                    last_known=last_known)


def merge_for_prediction(history: pd.DataFrame, query: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """One timeline per user from labelled ``history`` rows and label-free ``query`` rows.

    Returns (sorted frame, known mask, table row of each query row in query order). Only
    history rows of users present in ``query`` are kept. A history row whose key is also a
    query row is dropped: a row being predicted never sees its own label. Ties in time put
    history first, as in the official split (training texts precede test texts).
    """
    query_keys = pd.MultiIndex.from_arrays([query["user_id"].astype(str), query["text_id"].astype(str)])
    hist_keys = pd.MultiIndex.from_arrays([history["user_id"].astype(str), history["text_id"].astype(str)])
    keep = history["user_id"].isin(set(query["user_id"])).to_numpy() & ~hist_keys.isin(query_keys)
    hist = history.loc[keep, [*_TABLE_COLUMNS, *LABELS]].assign(_query=-1)
    qry = query[list(_TABLE_COLUMNS)].assign(**{label: np.nan for label in LABELS}, _query=np.arange(len(query)))
    merged = sort_diary(pd.concat([hist, qry], ignore_index=True))
    query_rows = np.empty(len(query), np.int64)
    is_query = merged["_query"].to_numpy() >= 0
    query_rows[merged["_query"].to_numpy()[is_query]] = np.flatnonzero(is_query)
    return merged.drop(columns="_query"), ~is_query, query_rows


def windows(table: RowTable, targets: np.ndarray, seq_length: int, n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Window and lag row indices for each target row, -1 where they fall before the user's start.

    ``win[e, s]`` is the row ``seq_length - 1 - s`` entries before target e (the target
    sits at the last step; short histories are padded on the left). ``lags[e, s, k]`` is
    the row ``k + 1`` entries before ``win[e, s]``.
    """
    targets = np.asarray(targets, np.int64)
    start = table.user_start[targets][:, None]
    win = targets[:, None] - np.arange(seq_length - 1, -1, -1)[None, :]
    win = np.where(win >= start, win, -1)
    lags = win[:, :, None] - np.arange(1, n_lags + 1)[None, None, :]
    lags = np.where((win[:, :, None] >= 0) & (lags >= start[:, :, None]), lags, -1)
    return win, lags


def standardiser(static: np.ndarray) -> dict:
    """Mean and std per static column (std floored so a constant column stays finite)."""
    mean = static.mean(axis=0).astype(np.float32)
    std = static.std(axis=0).astype(np.float32)
    return {"mean": mean, "std": np.where(std > 1e-6, std, 1.0).astype(np.float32)}


def label_stats(labels: np.ndarray) -> dict:
    """Global mean and variance per dimension of the training labels (fills and scaling)."""
    labels = np.asarray(labels, np.float64)
    return {"mean": labels.mean(axis=0).astype(np.float32), "var": np.maximum(labels.var(axis=0), 1e-3).astype(np.float32)}
