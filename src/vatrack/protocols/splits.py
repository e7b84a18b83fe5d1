"""Evaluation splits that mirror the official test.

Official test: seen users (earliest texts in train, latest ~half in test) and unseen users
(no text in train), about half each. Official-style CV rebuilds that shape inside the
training file: users are dealt into folds; in each fold, half of the fold's users are held
out entirely (unseen) and the other half only their latest texts (seen-future). Every
other user stays wholly in training. Deterministic by seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from vatrack.data.schema import LABEL_COLUMNS
from vatrack.errors import VatrackError

# Columns the task's files derive from *later* rows: 2A's state_change_* (next value minus
# this one), 2B's disposition_change_* (second-half mean minus first-half mean) and group
# (which half a row is in). In the marker files they equal the forecasting CV's gold; they
# may only ever build targets, never reach a model as input.
FUTURE_COLUMNS = ("state_change_valence", "state_change_arousal", "disposition_change_valence",
                  "disposition_change_arousal", "group")


def model_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the columns that carry the future (:data:`FUTURE_COLUMNS`): what any
    model may be fitted on. Labels (valence, arousal) stay; strip_labels removes those too."""
    return frame.drop(columns=[c for c in FUTURE_COLUMNS if c in frame.columns])


@dataclass(frozen=True)
class Fold:
    seed: int
    fold: int
    train_index: np.ndarray
    test_index: np.ndarray
    unseen_users: tuple[str, ...]
    seen_users: tuple[str, ...]

    def split(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(train rows, held-out rows with gold labels and is_seen_user); neither carries
        :data:`FUTURE_COLUMNS` (a marker file's targets would leak held-out labels)."""
        frame = model_inputs(frame)
        train = frame.iloc[self.train_index].reset_index(drop=True)
        test = frame.iloc[self.test_index].reset_index(drop=True)
        test["is_seen_user"] = test["user_id"].isin(self.seen_users).to_numpy()
        return train, test


def strip_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame a model may see at prediction time: every gold column and every column
    derived from later rows (FUTURE_COLUMNS, e.g. ``group``) removed."""
    return frame.drop(columns=[c for c in (*LABEL_COLUMNS, *FUTURE_COLUMNS) if c in frame.columns])


def official_style_folds(frame: pd.DataFrame, n_folds: int = 5, seed: int = 0,
                         unseen_share: float = 0.5, seen_tail_share: float = 0.5) -> list[Fold]:
    """Folds shaped like the official test; see module docstring. ``frame`` sorted by user, time."""
    if n_folds < 2:
        raise VatrackError(f"`n_folds` must be at least 2 (got {n_folds})")
    users = np.array(sorted(frame["user_id"].unique()))
    if len(users) < 2 * n_folds:
        raise VatrackError(f"official-style CV with `n_folds={n_folds}` needs at least {2 * n_folds} users; the data has {len(users)}")
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(users)
    groups = np.array_split(shuffled, n_folds)
    position = frame.groupby("user_id", sort=False).cumcount().to_numpy()
    size = frame.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    n_tail = np.maximum(1, np.floor(seen_tail_share * size)).astype(int)
    is_tail = position >= size - n_tail
    texts_per_user = frame["user_id"].value_counts()   # once: a per-user scan was O(users x rows)
    users_in = lambda chosen: frame["user_id"].isin(chosen).to_numpy()  # noqa: E731
    folds = []
    for k, group in enumerate(groups):
        group = list(group)
        n_unseen = int(round(unseen_share * len(group)))
        unseen, seen = set(group[:n_unseen]), set(group[n_unseen:])
        # A seen user with a single text cannot keep anything in training; treat as unseen.
        too_short = {u for u in seen if texts_per_user[u] < 2}
        unseen |= too_short
        seen -= too_short
        # pandas isin hashes; np.isin on string arrays compares every row with every user.
        held = users_in(unseen) | (users_in(seen) & is_tail)
        folds.append(Fold(seed=seed, fold=k, train_index=np.flatnonzero(~held), test_index=np.flatnonzero(held),
                          unseen_users=tuple(sorted(unseen)), seen_users=tuple(sorted(seen))))
    return folds


# Development vs confirmation seeds. Development seeds (0..N-1, the default of every command)
# are for choosing: presets, methods, defaults, sweep trials. Confirmation seeds (--confirm)
# are a fixed set no selection may use; the figures vatrack reports as its estimates come from
# them, so a choice made on development seeds is measured on folds it never saw.
CONFIRMATION_SEEDS = (1000, 1001, 1002, 1003, 1004)


def cv_seeds(n_seeds: int, confirm: bool = False, param: str = "n_seeds") -> tuple[int, ...]:
    """The first ``n_seeds`` confirmation seeds (``confirm``), else development seeds 0..n_seeds-1;
    ``param`` is the caller's name for the count (its messages name it)."""
    n = n_seeds
    if int(n) < 1:
        raise VatrackError(f"`{param}` must be at least 1 (got {n})")
    if confirm:
        if n > len(CONFIRMATION_SEEDS):
            raise VatrackError(f"`confirm=True` has {len(CONFIRMATION_SEEDS)} seeds ({CONFIRMATION_SEEDS[0]}–"
                               f"{CONFIRMATION_SEEDS[-1]}); ask for `{param}={len(CONFIRMATION_SEEDS)}` or fewer")
        return CONFIRMATION_SEEDS[:n]
    if n > CONFIRMATION_SEEDS[0]:
        raise VatrackError(f"`{param}={n}` would reach the confirmation seeds ({CONFIRMATION_SEEDS[0]}…); use fewer")
    return tuple(range(int(n)))


def seed_set(seeds) -> str:
    """'confirmation', 'development' or 'mixed' for a collection of CV seeds."""
    confirm = {int(s) in CONFIRMATION_SEEDS for s in seeds}
    return "mixed" if len(confirm) > 1 else "confirmation" if confirm == {True} else "development"


def check_development_seeds(seeds, what: str) -> tuple[int, ...]:
    """``seeds`` unchanged, or a VatrackError when ``what`` (a selection) would use a confirmation seed."""
    used = sorted(int(s) for s in seeds if int(s) in CONFIRMATION_SEEDS)
    if used:
        raise VatrackError(f"{what} may not use confirmation seeds ({', '.join(map(str, used))}): they are kept "
                           "for measuring what was chosen; select on development seeds 0..N-1")
    return tuple(int(s) for s in seeds)


def cv_plan(frame: pd.DataFrame, n_folds: int = 5, seeds=(0, 1, 2), **kwargs) -> list[Fold]:
    """All folds for several seeds, in (seed, fold) order."""
    return [fold for seed in seeds for fold in official_style_folds(frame, n_folds=n_folds, seed=seed, **kwargs)]


def fold_summary(folds: list[Fold], frame: pd.DataFrame) -> pd.DataFrame:
    """One row per fold: users and rows in train / held out, unseen vs seen."""
    rows = []
    for f in folds:
        test_users = frame["user_id"].iloc[f.test_index]
        rows.append({
            "seed": f.seed, "fold": f.fold,
            "train_rows": len(f.train_index), "test_rows": len(f.test_index),
            "unseen_users": len(f.unseen_users), "seen_users": len(f.seen_users),
            "unseen_rows": int(test_users.isin(f.unseen_users).sum()),
            "seen_rows": int(test_users.isin(f.seen_users).sum()),
        })
    return pd.DataFrame(rows)


def official_split(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Official train -> test: mark is_seen_user from the training users when the file lacks it."""
    test = test.copy()
    if "is_seen_user" not in test.columns:
        test["is_seen_user"] = test["user_id"].isin(set(train["user_id"])).to_numpy()
    return train, test


def grouped_folds(groups, n_splits: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, held-out rows) of scikit-learn's ``GroupKFold``: whole groups (users) held out,
    ``min(n_splits, number of groups)`` folds."""
    groups = np.asarray(groups)
    n_splits = min(n_splits, len(np.unique(groups)))
    return list(GroupKFold(n_splits=n_splits).split(np.zeros((len(groups), 1)), groups=groups))


def grouped_oof(estimator, x: np.ndarray, y: np.ndarray, groups, n_splits: int = 5,
                sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold predictions with whole groups (users) held out per fold.

    A fresh clone of ``estimator`` is fitted on each fold's other rows and predicts the
    held-out ones: what ``cross_val_predict(estimator, x, y, groups=groups, cv=GroupKFold(k))``
    returns, plus ``sample_weight`` sliced per fold and predictions of any trailing shape
    (``(n, ...)``). Whole-user folds make each value look like an unseen-user prediction, so
    a later step (user offsets, a stacked input, an alpha choice) is not fooled by rows whose
    labels trained the model.
    """
    from sklearn.base import clone

    out = None
    for fit_idx, held_idx in grouped_folds(groups, n_splits):
        extra = {} if sample_weight is None else {"sample_weight": sample_weight[fit_idx]}
        pred = np.asarray(clone(estimator).fit(x[fit_idx], y[fit_idx], **extra).predict(x[held_idx]))
        if out is None:
            out = np.zeros((len(x), *pred.shape[1:]), dtype=np.result_type(pred.dtype, np.float64))
        out[held_idx] = pred
    return out
