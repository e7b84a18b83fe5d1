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


def _oof_data(seed=0, n=120, p=6, n_users=9):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = x @ rng.normal(size=(p, 2)) + rng.normal(scale=0.5, size=(n, 2))
    groups = np.array([f"u{i}" for i in rng.integers(0, n_users, size=n)])
    return x, y, groups, rng.uniform(0.2, 2.0, size=n)


def test_grouped_oof_is_cross_val_predict_with_whole_users_held_out():
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold, cross_val_predict

    from vatrack.protocols import grouped_folds, grouped_oof

    x, y, groups, _ = _oof_data()
    expected = cross_val_predict(Ridge(alpha=3.0), x, y, groups=groups, cv=GroupKFold(n_splits=5))
    np.testing.assert_allclose(grouped_oof(Ridge(alpha=3.0), x, y, groups), expected, rtol=0, atol=1e-12)
    for fit_idx, held_idx in grouped_folds(groups):
        assert not set(groups[fit_idx]) & set(groups[held_idx])
    assert len(grouped_folds(groups[:10], n_splits=50)) == len(set(groups[:10]))  # at most one fold per user


def test_the_three_grouped_oof_users_give_the_numbers_of_their_old_loops():
    """baselines' ridge+user offsets, the sequence model's text ridge and the ridge forecasters'
    alpha search each had their own GroupKFold loop; the shared helper must reproduce them."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold

    from vatrack.models.baselines import RIDGE_ALPHAS
    from vatrack.models.forecasters import ridge_alpha_by_user_cv, ridge_path
    from vatrack.protocols import grouped_oof

    x, y, groups, w = _oof_data(seed=1)
    folds = list(GroupKFold(n_splits=min(5, len(np.unique(groups)))).split(x, y, groups))
    alpha = np.array([0.3, 30.0])
    # models/baselines.py _grouped_oof (multi-output ridge, one alpha per target)
    old = np.zeros_like(y)
    for fit_idx, held_idx in folds:
        old[held_idx] = Ridge(alpha=alpha).fit(x[fit_idx], y[fit_idx]).predict(x[held_idx])
    np.testing.assert_allclose(grouped_oof(Ridge(alpha=alpha), x, y, groups), old, rtol=0, atol=1e-12)
    # models/sequence.py text ridge (one ridge per dimension)
    old = np.zeros_like(y)
    for fit_idx, held_idx in folds:
        for d in range(2):
            old[held_idx, d] = Ridge(alpha=alpha[d]).fit(x[fit_idx], y[fit_idx, d]).predict(x[held_idx])
    new = np.column_stack([grouped_oof(Ridge(alpha=alpha[d]), x, y[:, d], groups) for d in range(2)])
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-12)
    # models/forecasters.py alpha search (weighted ridge path, weighted out-of-fold error)
    errors = np.zeros((len(RIDGE_ALPHAS), 2))
    for fit_idx, held_idx in folds:
        coefs, intercepts = ridge_path(x[fit_idx], y[fit_idx], w[fit_idx], RIDGE_ALPHAS)
        pred = np.einsum("np,apk->ank", x[held_idx], coefs) + intercepts[:, None, :]
        errors += (w[held_idx, None] * (y[held_idx] - pred) ** 2).sum(axis=1)
    np.testing.assert_array_equal(ridge_alpha_by_user_cv(x, y, w, groups), RIDGE_ALPHAS[errors.argmin(axis=0)])
