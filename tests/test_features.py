"""vatrack.features: text statistics, time features, past-only label features, windows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from vatrack.data import make_diaries
from vatrack.features import (
    STATIC_NAMES,
    TEXT_STAT_NAMES,
    Examples,
    FeatureSpec,
    build_table,
    label_stats,
    merge_for_prediction,
    standardiser,
    text_stats,
    windows,
)


def tiny_frame(known_rows=None) -> pd.DataFrame:
    """Two users: 'a' with 4 entries, 'b' with 2; hand-picked labels and times."""
    frame = pd.DataFrame({
        "user_id": ["a", "a", "a", "a", "b", "b"],
        "text_id": ["1", "2", "3", "4", "5", "6"],
        "text": ["I am happy!", "not good", "fine", "Why me?", "ok", "great day"],
        "timestamp": pd.to_datetime(["2021-01-04 10:00", "2021-01-04 16:00", "2021-01-05 10:00",
                                     "2021-01-06 10:00", "2021-01-01 00:00", "2021-01-02 00:00"]),
        "is_words": [False, True, True, False, True, False],
        "valence": [2.0, -1.0, 0.0, 1.0, -2.0, 1.0],
        "arousal": [2.0, 1.0, 0.0, 1.0, 0.0, 2.0],
    })
    return frame


def spec(**kw) -> FeatureSpec:
    return FeatureSpec(**{"seq_length": 3, "n_lags": 2, "stats_prior": 0.0, **kw})


def make_examples(table, s=None, targets=None):
    s = s or spec()
    return Examples(table, s, standardiser(table.static), label_stats(table.labels[table.known]),
                    np.ones(len(table), np.int64), vectors=np.zeros((len(table), 4), np.float32), targets=targets)


def test_text_stats_by_hand():
    stats = dict(zip(TEXT_STAT_NAMES, text_stats("I am NOT happy! Am I?")))
    assert len(TEXT_STAT_NAMES) == 10
    assert stats["log_chars"] == pytest.approx(math.log1p(21))
    assert stats["log_words"] == pytest.approx(math.log1p(6))
    assert stats["exclaim_rate"] == pytest.approx(1 / 6)
    assert stats["question_rate"] == pytest.approx(1 / 6)
    assert stats["first_person"] == pytest.approx(2 / 6)
    assert stats["negation"] == pytest.approx(1 / 6)
    assert stats["type_token"] == pytest.approx(4 / 6)  # i, am, not, happy
    assert stats["upper_ratio"] == pytest.approx(6 / 14)  # I N O T A I of 14 letters
    assert all(np.isfinite(text_stats("")))


def test_prefix_sums_are_past_only_and_skip_unknown_rows():
    frame = tiny_frame()
    known = np.array([True, False, True, True, True, True])
    table = build_table(frame, known)
    # user a: rows 0..3, row 1 unknown
    np.testing.assert_array_equal(table.pos, [0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(table.prefix_n, [0, 1, 1, 2, 0, 1])
    np.testing.assert_allclose(table.prefix_sum[:, 0], [0, 2, 2, 2, 0, -2])
    np.testing.assert_allclose(table.prefix_sq[:, 1], [0, 4, 4, 4, 0, 0])
    np.testing.assert_array_equal(table.last_known, [-1, 0, 0, 2, -1, 0])
    assert table.labels[1].tolist() == [0.0, 0.0]  # an unknown label is never stored


def test_time_features_by_hand():
    table = build_table(tiny_frame())
    col = {name: i for i, name in enumerate(STATIC_NAMES)}
    np.testing.assert_allclose(table.static[:4, col["log_gap_hours"]], np.log1p([0, 6, 18, 24]), rtol=1e-6)
    np.testing.assert_array_equal(table.static[:, col["is_first"]], [1, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(table.static[0, col["hour_sin"]], math.sin(2 * math.pi * 10 / 24), rtol=1e-5)
    np.testing.assert_array_equal(table.static[:, col["is_words"]], [0, 1, 1, 0, 1, 0])


def test_windows_pad_before_the_users_start():
    table = build_table(tiny_frame())
    win, lags = windows(table, np.array([0, 2, 5]), seq_length=3, n_lags=2)
    np.testing.assert_array_equal(win, [[-1, -1, 0], [0, 1, 2], [-1, 4, 5]])
    np.testing.assert_array_equal(lags[1], [[-1, -1], [0, -1], [1, 0]])
    np.testing.assert_array_equal(lags[2], [[-1, -1], [-1, -1], [4, -1]])


def _label_block(batch, s):
    """The label-derived columns of a batch's numeric features."""
    start = len(s.static_columns())
    return batch["num"][..., start:-1]


def test_cutoff_hides_labels_at_and_after_it():
    s = spec()
    table = build_table(tiny_frame())
    ex = make_examples(table, s)
    target = torch.tensor([3])  # user a, entry 3
    for cutoff in range(0, 4):
        block = _label_block(ex.batch(target, cutoff=torch.tensor([cutoff])), s)[0, -1]
        masks = block[2 * s.n_lags: 3 * s.n_lags]
        # lags of the target step are entries 2 and 1: visible iff entry < cutoff
        assert masks.tolist() == [float(2 < cutoff), float(1 < cutoff)]
        log_n = block[3 * s.n_lags + 1 + 4]
        assert log_n.item() == pytest.approx(math.log1p(min(cutoff, 3)) / math.log1p(100), rel=1e-5)


def test_no_visible_label_fills_with_training_mean_and_zero_masks():
    s = spec(stats_prior=3.0)
    table = build_table(tiny_frame())
    ex = make_examples(table, s)
    block = _label_block(ex.batch(torch.tensor([3]), cutoff=torch.tensor([0])), s)[0, -1]
    # standardised fill of the training mean is 0; masks 0; "entries since last label" at its cap
    assert torch.allclose(block[: 2 * s.n_lags], torch.zeros(2 * s.n_lags), atol=1e-6)
    assert block[2 * s.n_lags: 3 * s.n_lags].sum() == 0
    assert block[3 * s.n_lags].item() == pytest.approx(1.0)
    assert torch.allclose(block[3 * s.n_lags + 1: 3 * s.n_lags + 3], torch.zeros(2), atol=1e-6)  # user mean = global


def test_features_of_a_row_ignore_its_own_and_later_labels():
    frame = make_diaries(n_users=6, seed=4)
    table = build_table(frame)
    ex = make_examples(table, FeatureSpec())
    idx = torch.arange(len(table))
    rng = np.random.default_rng(0)
    cutoffs = torch.from_numpy(np.minimum(rng.integers(0, 40, len(table)), table.pos))
    before = {c: ex.batch(idx, cutoff=c)["num"] for c in (None, cutoffs)}
    for t in rng.choice(len(table), size=12, replace=False):
        later = frame.copy()
        same_user = (later["user_id"] == later["user_id"].iat[t]).to_numpy()
        change = same_user & (np.arange(len(later)) >= t)   # the row itself and every later row
        later.loc[change, "valence"] = -later.loc[change, "valence"] + 0.5
        later.loc[change, "arousal"] = 2.0 - later.loc[change, "arousal"]
        ex2 = make_examples(build_table(later), FeatureSpec())
        ex2.label_features.mean, ex2.label_features.var = ex.label_features.mean, ex.label_features.var
        ex2.label_features.std = ex.label_features.std  # same global scaling: isolate the per-row inputs
        for c in (None, cutoffs):
            after = ex2.batch(torch.tensor([t]), cutoff=None if c is None else c[[t]])["num"]
            torch.testing.assert_close(after[0], before[c][t])


def test_merge_for_prediction_never_reads_query_labels_nor_its_own_history_row():
    frame = tiny_frame()
    history = frame.iloc[[0, 1, 4]]
    query = frame.iloc[[2, 3, 5, 1]].copy()     # row '2' is both history and query
    merged, known, rows = merge_for_prediction(history, query.drop(columns=["valence", "arousal"]))
    merged2, known2, rows2 = merge_for_prediction(history, query.assign(valence=9.0, arousal=9.0))
    pd.testing.assert_frame_equal(merged, merged2)
    assert list(merged["text_id"]) == ["1", "2", "3", "4", "5", "6"]
    np.testing.assert_array_equal(known, [True, False, False, False, True, False])  # '2' is predicted: unknown
    np.testing.assert_array_equal(merged["text_id"].to_numpy()[rows], query["text_id"].to_numpy())


def test_standardiser_keeps_constant_columns_finite():
    stats = standardiser(np.array([[1.0, 5.0], [3.0, 5.0]], np.float32))
    np.testing.assert_allclose(stats["mean"], [2.0, 5.0])
    np.testing.assert_allclose(stats["std"], [1.0, 1.0])
