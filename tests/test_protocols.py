"""Official-style CV folds: shape, determinism, no held-out row in training."""

from __future__ import annotations

import numpy as np
import pytest

from vatrack.data import make_diaries
from vatrack.errors import VatrackError
from vatrack.protocols import cv_plan, fold_summary, official_split, official_style_folds, strip_labels


@pytest.fixture(scope="module")
def diaries():
    return make_diaries(n_users=30, seed=2)


def test_folds_are_deterministic_by_seed(diaries):
    a, b = official_style_folds(diaries, 5, seed=4), official_style_folds(diaries, 5, seed=4)
    assert all(np.array_equal(x.test_index, y.test_index) for x, y in zip(a, b))
    c = official_style_folds(diaries, 5, seed=5)
    assert any(not np.array_equal(x.test_index, y.test_index) for x, y in zip(a, c))


def test_fold_shape_matches_official_test(diaries):
    folds = official_style_folds(diaries, 5, seed=0)
    held_users = [u for f in folds for u in f.unseen_users + f.seen_users]
    assert sorted(held_users) == sorted(diaries.user_id.unique())  # every user held out exactly once
    for fold in folds:
        train, test = fold.split(diaries)
        assert not set(fold.train_index) & set(fold.test_index)
        assert not set(fold.unseen_users) & set(train.user_id)
        assert fold.unseen_users and fold.seen_users
        for user in fold.seen_users:
            kept, held = train[train.user_id == user], test[test.user_id == user]
            assert len(kept) and len(held)
            assert held.timestamp.min() >= kept.timestamp.max()  # only the latest texts are held out
        assert set(test.loc[test.is_seen_user, "user_id"]) == set(fold.seen_users)


def test_plan_and_summary(diaries):
    plan = cv_plan(diaries, n_folds=3, seeds=(0, 1))
    summary = fold_summary(plan, diaries)
    assert len(summary) == 6
    assert (summary.train_rows + summary.test_rows == len(diaries)).all()
    assert (summary.unseen_rows + summary.seen_rows == summary.test_rows).all()


def test_too_few_users_is_a_clear_error(diaries):
    small = diaries[diaries.user_id.isin(["1", "2", "3"])]
    with pytest.raises(VatrackError, match="needs at least"):
        official_style_folds(small, 5)


def test_strip_labels_removes_every_gold_column(diaries):
    frame = diaries.assign(state_change_valence=0.0, disposition_change_arousal=0.0)
    stripped = strip_labels(frame)
    assert not {"valence", "arousal", "state_change_valence", "disposition_change_arousal"} & set(stripped.columns)


def test_official_split_marks_seen_users(diaries):
    train, test = diaries[diaries.user_id != "1"], diaries[diaries.user_id.isin(["1", "2"])]
    _, marked = official_split(train, test.drop(columns=[]))
    assert marked.groupby("user_id").is_seen_user.first().to_dict() == {"1": False, "2": True}


FUTURE = ("state_change_valence", "state_change_arousal", "disposition_change_valence", "disposition_change_arousal",
          "group")


class _Spy:
    """An estimator that records the columns of every frame it is given and predicts zeros."""

    seen: list = []

    def __init__(self, seed=0):
        pass

    def fit(self, train):
        _Spy.seen.append(set(train.columns))
        return self

    def predict(self, inputs):
        _Spy.seen.append(set(inputs.columns))
        return inputs[["user_id", "text_id"]].assign(pred_valence=0.0, pred_arousal=1.0)


def test_columns_carrying_the_future_never_reach_a_subtask1_model(diaries):
    """A marker file's state_change_* / disposition_change_* / group are computed from later
    rows (for a seen user's last training row, state_change = first held-out valence minus
    its own): cv must give a model neither them in fit nor in predict (issue #12)."""
    from vatrack.experiments.cv import run_cv

    frame = diaries.assign(**{c: 1.0 for c in FUTURE})
    _Spy.seen = []
    run_cv(frame, _Spy, n_folds=2, seeds=(0,))
    assert len(_Spy.seen) == 4 and all(not (cols & set(FUTURE)) for cols in _Spy.seen)
    assert all("valence" in cols for cols in _Spy.seen[::2])  # fit does get the training labels


def test_development_and_confirmation_seeds_never_overlap():
    from vatrack.protocols import CONFIRMATION_SEEDS, check_development_seeds, cv_seeds, seed_set

    assert cv_seeds(3) == (0, 1, 2) and cv_seeds(3, confirm=True) == (1000, 1001, 1002)
    assert CONFIRMATION_SEEDS == (1000, 1001, 1002, 1003, 1004)  # documented in docs/results.md: never change
    assert seed_set(cv_seeds(5, True)) == "confirmation" and seed_set((0, 1)) == "development"
    assert seed_set((0, 1000)) == "mixed"
    with pytest.raises(VatrackError, match="at most|or fewer"):
        cv_seeds(6, confirm=True)
    with pytest.raises(VatrackError, match="confirmation seeds"):
        check_development_seeds((0, 1003), "a sweep")
    with pytest.raises(VatrackError, match="at least 1"):
        cv_seeds(0)
