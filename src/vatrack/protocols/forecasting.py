"""Forecasting instances for subtasks 2A and 2B, and the forecasting CV splitter.

A *history* is a user's labelled diary rows in time order (texts with their valence and
arousal). An *instance* is a user, an observed prefix of ``t`` rows and the change to
forecast after it; it is one row of an instance table::

    user_id, start, prefix_len, future_len, target_valence, target_arousal

``start`` is the row position of the user's first row in the history frame, so the
prefix is ``history.iloc[start : start + prefix_len]``. Every feature of an instance is
computed from that slice only (vatrack.models.forecasters), which is what makes the
instances safe to train on: nothing after the prefix can reach them.

Targets, per dimension y in {valence, arousal} (the organisers' definitions):

* **2A, state change**: ``y[t] − y[t−1]`` — the next text's value minus the last
  observed one (0-based rows). Every prefix ``t = 1 .. n−1`` of a user with ``n`` rows is
  one instance, so a user gives ``n − 1`` of them.
* **2B, disposition change**: ``mean(y[t : t+L]) − mean(y[:t])`` with the next segment
  "equally long": ``L = min(t, n − t)``. The training file splits each user into halves,
  the first ``ceil(n/2)`` rows (group 1) and the other ``floor(n/2)`` (group 2), so an odd
  user's second half is one row shorter; we accept the same: prefixes
  ``t = 1 .. ceil(n/2)`` give instances (L = t, or t − 1 at the last one), and the last is
  exactly the user's official training target. A user gives ``ceil(n/2)`` instances.

Forecasting CV mirrors the official test, where 46 of 137 users must be forecast from
their whole history and the hidden future segment is about as long as what was seen: users
are dealt into folds; a held-out user keeps the first ``ceil(n/2)`` rows as the observed
prefix and the rest is the hidden tail that defines the gold (2A: first tail row minus last
prefix row; 2B: tail mean minus prefix mean). Training sees every other user's whole
history *and* the held-out users' prefixes (as the official marker files do); never a
tail row. Users with fewer than 2 rows have no tail and always stay in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vatrack.data.loading import sort_diary
from vatrack.data.schema import LABELS
from vatrack.errors import VatrackError
from vatrack.protocols.splits import model_inputs

FORECAST_TASKS = ("subtask2a", "subtask2b")
# Official gold / prediction column names (the same as vatrack.evaluation's; a test checks).
TARGET_COLUMNS = {
    "subtask2a": ("state_change_valence", "state_change_arousal"),
    "subtask2b": ("disp_change_valence", "disp_change_arousal"),
}
PREDICTION_COLUMNS = {task: tuple(f"pred_{c}" for c in cols) for task, cols in TARGET_COLUMNS.items()}
# What a forecaster may read of a history: inputs and the observed V/A, nothing derived
# from later rows (the files' state_change_* / disposition_change_* / group columns are:
# history_view drops vatrack.protocols.FUTURE_COLUMNS first, then keeps only these).
HISTORY_COLUMNS = ("user_id", "text_id", "text", "timestamp", "collection_phase", "is_words", *LABELS)
INSTANCE_COLUMNS = ("user_id", "start", "prefix_len", "future_len", "target_valence", "target_arousal")


def check_forecast_task(task: str) -> str:
    if task not in FORECAST_TASKS:
        raise VatrackError(f"unknown forecasting task '{task}'; use one of: {', '.join(FORECAST_TASKS)}")
    return task


def history_view(frame: pd.DataFrame, what: str = "history") -> pd.DataFrame:
    """The part of ``frame`` a forecaster may read, sorted by user then time, index reset.

    Every row needs valence and arousal: in forecasting they are the observed inputs.
    """
    missing = [c for c in ("user_id", "timestamp", *LABELS) if c not in frame.columns]
    if missing:
        raise VatrackError(f"{what} lacks column(s) {', '.join(map(repr, missing))}; forecasting needs every row's valence and arousal")
    history = model_inputs(frame).copy()
    for column, default in (("text_id", None), ("text", ""), ("is_words", False), ("collection_phase", pd.NA)):
        if column not in history.columns:
            history[column] = np.arange(len(history)).astype(str) if column == "text_id" else default
    history = sort_diary(history[list(HISTORY_COLUMNS)])
    for label in LABELS:
        bad = history[label].isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise VatrackError(f"{what}, column '{label}': missing for user {history.user_id.iat[i]}, text {history.text_id.iat[i]}; "
                               "forecasting needs valence and arousal on every history row")
    if len(history) == 0:
        raise VatrackError(f"{what} has no rows")
    return history


def user_blocks(history: pd.DataFrame) -> pd.DataFrame:
    """One row per user in history order: user_id, start (first row position), n (rows)."""
    users = history["user_id"].to_numpy()
    first = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[first, len(users)])
    return pd.DataFrame({"user_id": users[first], "start": first, "n": sizes})


def _labels(history: pd.DataFrame) -> np.ndarray:
    return history[list(LABELS)].to_numpy(dtype=float)


def change_target(values: np.ndarray, prefix_len: int, future_len: int, task: str) -> np.ndarray:
    """The task's change after ``values[:prefix_len]`` (rows = texts, columns = V, A)."""
    observed = values[:prefix_len]
    future = values[prefix_len : prefix_len + future_len]
    if task == "subtask2a":
        return future[0] - observed[-1]
    return future.mean(axis=0) - observed.mean(axis=0)


def _instance_table(rows: list) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "user_id" else float) for c in INSTANCE_COLUMNS})
    table = pd.DataFrame(rows, columns=list(INSTANCE_COLUMNS))
    return table.astype({"start": int, "prefix_len": int, "future_len": int})


def state_change_instances(history: pd.DataFrame) -> pd.DataFrame:
    """2A: every prefix t = 1 .. n−1 of every user, target y[t] − y[t−1]."""
    values, rows = _labels(history), []
    for user, start, n in user_blocks(history).itertuples(index=False):
        own = values[start : start + n]
        for t in range(1, n):
            rows.append((user, start, t, 1, *change_target(own, t, 1, "subtask2a")))
    return _instance_table(rows)


def disposition_change_instances(history: pd.DataFrame) -> pd.DataFrame:
    """2B: prefixes t = 1 .. ceil(n/2), target mean(next min(t, n−t) rows) − mean(prefix)."""
    values, rows = _labels(history), []
    for user, start, n in user_blocks(history).itertuples(index=False):
        own = values[start : start + n]
        for t in range(1, math.ceil(n / 2) + 1):
            future = min(t, n - t)
            if future < 1:
                continue  # a single-row user has no future at all
            rows.append((user, start, t, future, *change_target(own, t, future, "subtask2b")))
    return _instance_table(rows)


def training_instances(history: pd.DataFrame, task: str) -> pd.DataFrame:
    """All instances the task's definition allows in ``history`` (see module docstring)."""
    builder = state_change_instances if check_forecast_task(task) == "subtask2a" else disposition_change_instances
    return builder(history)


def forecast_queries(history: pd.DataFrame) -> pd.DataFrame:
    """One instance per user with the whole history as the prefix and unknown targets.

    ``future_len`` is set to the prefix length (the future is "equally long"); it is
    bookkeeping only, no forecaster reads it.
    """
    blocks = user_blocks(history)
    return _instance_table([(u, s, n, n, np.nan, np.nan) for u, s, n in blocks.itertuples(index=False)])


# --- forecasting CV -------------------------------------------------------------------------


def observed_length(n: int, observed_share: float = 0.5) -> int:
    """Rows of a held-out user's history that count as observed: ceil(share·n) within 1..n−1."""
    return int(min(max(math.ceil(observed_share * n), 1), n - 1))


@dataclass(frozen=True)
class ForecastFold:
    """Users held out in one fold of one seed; see the module docstring."""

    seed: int
    fold: int
    held_users: tuple[str, ...]
    observed_share: float = 0.5

    def split(self, history: pd.DataFrame, task: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(training history, held-out users' observed prefixes, gold: user_id + target columns).

        ``history`` comes from :func:`history_view`. No tail row of a held-out user is in
        the first two frames.
        """
        check_forecast_task(task)
        blocks = user_blocks(history)
        blocks = blocks[blocks["user_id"].isin(self.held_users)]
        values = _labels(history)
        is_tail = np.zeros(len(history), dtype=bool)
        is_held = np.zeros(len(history), dtype=bool)
        gold = []
        for user, start, n in blocks.itertuples(index=False):
            t = observed_length(n, self.observed_share)
            is_held[start : start + n] = True
            is_tail[start + t : start + n] = True
            gold.append((user, *change_target(values[start : start + n], t, n - t, task)))
        train = history[~is_tail].reset_index(drop=True)
        query = history[is_held & ~is_tail].reset_index(drop=True)
        gold = pd.DataFrame(gold, columns=["user_id", *TARGET_COLUMNS[task]])
        return train, query, gold


def forecasting_folds(history: pd.DataFrame, n_folds: int = 5, seed: int = 0, observed_share: float = 0.5) -> list[ForecastFold]:
    """Deal the users that have at least 2 rows into ``n_folds`` held-out groups (deterministic by seed)."""
    if n_folds < 2:
        raise VatrackError(f"`n_folds` must be at least 2 (got {n_folds})")
    if not 0.0 < observed_share < 1.0:
        raise VatrackError(f"observed share must be between 0 and 1 (got {observed_share})")
    blocks = user_blocks(history)
    eligible = np.array(sorted(blocks.loc[blocks["n"] >= 2, "user_id"]))
    # Pearson r over the held-out users of a fold needs at least 2 of them.
    if len(eligible) < 2 * n_folds:
        raise VatrackError(f"forecasting CV with `n_folds={n_folds}` needs at least {2 * n_folds} users with 2 or more texts; "
                           f"the data has {len(eligible)}")
    shuffled = np.random.default_rng(seed).permutation(eligible)
    return [ForecastFold(seed=seed, fold=k, held_users=tuple(sorted(group)), observed_share=observed_share)
            for k, group in enumerate(np.array_split(shuffled, n_folds))]


def forecasting_plan(history: pd.DataFrame, n_folds: int = 5, seeds=(0, 1, 2), observed_share: float = 0.5) -> list[ForecastFold]:
    """All forecasting folds for several seeds, in (seed, fold) order."""
    return [f for seed in seeds for f in forecasting_folds(history, n_folds, seed, observed_share)]
