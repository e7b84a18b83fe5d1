"""Official metrics: hand-computed cases, the skip rules, seen/unseen, and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vatrack.errors import VatrackError
from vatrack.evaluation.metrics import (
    ccc,
    composite_r,
    headline_score,
    mae,
    pearson,
    rmse,
    subtask1_metrics,
    subtask2_metrics,
)

# -- elementary metrics --------------------------------------------------------------------


def test_pearson_hand_case():
    # x centred [-1, 0, 1]; y = [0, 1, 1], mean 2/3, centred [-2/3, 1/3, 1/3]
    # sxy = 2/3 + 1/3 = 1, sxx = 2, syy = 6/9 -> r = 1 / sqrt(4/3) = sqrt(3)/2
    assert pearson([0, 1, 2], [0, 1, 1]) == pytest.approx(math.sqrt(3) / 2)


def test_pearson_degenerate_cases_are_zero():
    assert pearson([1, 2, 3], [5, 5, 5]) == 0.0
    assert pearson([5, 5, 5], [1, 2, 3]) == 0.0
    assert pearson([1], [2]) == 0.0
    assert pearson([], []) == 0.0
    # 0.1 * 3 has a mean that is not exactly 0.1; it must still count as constant
    assert pearson([0.1, 0.1, 0.1], [1, 2, 3]) == 0.0


def test_ccc_hand_case():
    # x = [0, 1, 2, 3] (mean 1.5, sxx = 5), y = [0, 2, 2, 4] (mean 2, syy = 8), sxy = 6
    # CCC = 2*6 / (5 + 8 + 4 * 0.5^2) = 12 / 14 = 6/7
    assert ccc([0, 1, 2, 3], [0, 2, 2, 4]) == pytest.approx(6 / 7)
    assert ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [4, 4, 4]) == 0.0
    assert ccc([2, 2], [2, 2]) == 0.0


def test_ccc_penalises_a_shift_that_pearson_ignores():
    # y = x + 1: r = 1; CCC = 2*2 / (2 + 2 + 3*1) = 4/7
    assert pearson([0, 1, 2], [1, 2, 3]) == pytest.approx(1.0)
    assert ccc([0, 1, 2], [1, 2, 3]) == pytest.approx(4 / 7)


def test_mae_rmse_hand_case():
    # errors [1, -1, 2]: MAE 4/3, RMSE sqrt(6/3) = sqrt(2)
    assert mae([1, 2, 3], [0, 3, 1]) == pytest.approx(4 / 3)
    assert rmse([1, 2, 3], [0, 3, 1]) == pytest.approx(math.sqrt(2))


def test_bad_inputs_raise():
    with pytest.raises(VatrackError, match="length"):
        pearson([1, 2], [1, 2, 3])
    with pytest.raises(VatrackError, match="finite"):
        mae([1, float("nan")], [1, 2])
    with pytest.raises(VatrackError, match="finite"):
        ccc([1, float("inf")], [1, 2])
    with pytest.raises(VatrackError):
        rmse([], [])


def test_composite_hand_case():
    # tanh(atanh(r)/2) = r / (1 + sqrt(1 - r^2)); with r = 0.6 -> 0.6 / 1.8 = 1/3
    assert composite_r(0.6, 0.0) == pytest.approx(1 / 3)
    assert composite_r(0.5, 0.5) == pytest.approx(0.5)
    # r = ±1 is clipped, not infinite
    assert composite_r(1.0, 1.0) == pytest.approx(1.0, abs=1e-6)
    assert math.isfinite(composite_r(1.0, -1.0))
    assert math.isnan(composite_r(float("nan"), 0.3))


# -- subtask 1 -----------------------------------------------------------------------------


def _st1_frame() -> pd.DataFrame:
    """3 users x 3 texts; hand-computed figures in test_subtask1_hand_case."""
    rows = [
        # user, valence gold, pred, arousal gold, pred
        ("u1", 1, 2, 0, 0),
        ("u1", 2, 3, 1, 1),
        ("u1", 3, 4, 2, 1),
        ("u2", 0, 2, 1, 1),
        ("u2", 1, 1, 1, 2),
        ("u2", 2, 0, 1, 0),
        ("u3", -1, 0, 2, 1),
        ("u3", 0, 0, 0, 1),
        ("u3", 1, 0, 1, 1),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "valence", "pred_valence", "arousal", "pred_arousal"])
    frame["text_id"] = [f"t{i}" for i in range(len(frame))]
    return frame


def test_subtask1_hand_case():
    res = subtask1_metrics(_st1_frame())
    v, a = res["valence"], res["arousal"]

    # Valence per user: u1 pred = gold + 1 -> r 1, MAE 1; u2 reversed -> r -1, MAE 4/3;
    # u3 constant pred -> r 0, MAE 2/3.  r_within = (1 - 1 + 0)/3 = 0; MAE_within = 1.
    assert v["r_within"] == pytest.approx(0.0)
    assert v["mae_within"] == pytest.approx(1.0)
    assert v["n_users_within"] == 3
    # User means gold [2, 1, 0], pred [3, 1, 0]: centred [1,0,-1] and [5/3,-1/3,-4/3];
    # sxy = 3, sxx = 2, syy = 14/3 -> r = 3 / sqrt(28/3) = sqrt(27/28).
    assert v["r_between"] == pytest.approx(math.sqrt(27 / 28))
    assert v["mae_between"] == pytest.approx(1 / 3)  # |3-2| + 0 + 0, over 3
    # composite = tanh(atanh(r)/2) with r = sqrt(27/28): r / (1 + sqrt(1/28)) = sqrt27/(sqrt28 + 1)
    v_comp = math.sqrt(27) / (math.sqrt(28) + 1)
    assert v["r_composite"] == pytest.approx(v_comp)
    # All 9 rows: abs errors [1,1,1,2,0,2,1,0,1] -> MAE 1; squares sum 13 -> RMSE sqrt(13)/3.
    # gold mean 1, sxx 12; pred mean 4/3, syy 18; sxy 9 -> r = 9/sqrt(216) = sqrt(6)/4;
    # CCC = 2*9 / (12 + 18 + 9 * (1/3)^2) = 18/31.
    assert v["mae"] == pytest.approx(1.0)
    assert v["rmse"] == pytest.approx(math.sqrt(13) / 3)
    assert v["pearson"] == pytest.approx(math.sqrt(6) / 4)
    assert v["ccc"] == pytest.approx(18 / 31)

    # Arousal: u1 gold [0,1,2] pred [0,1,1] -> r sqrt(3)/2, MAE 1/3;
    # u2 gold constant [1,1,1] -> skipped (within); u3 pred constant -> r 0, MAE 2/3.
    # r_within = (sqrt3/2 + 0)/2 = sqrt3/4; MAE_within = (1/3 + 2/3)/2 = 1/2.
    assert a["r_within"] == pytest.approx(math.sqrt(3) / 4)
    assert a["mae_within"] == pytest.approx(0.5)
    assert a["n_users_within"] == 2
    # User means gold [1, 1, 1] are constant -> r_between = 0; pred means [2/3, 1, 1]
    # -> MAE_between = (1/3)/3 = 1/9.
    assert a["r_between"] == 0.0
    assert a["mae_between"] == pytest.approx(1 / 9)
    # composite = tanh(atanh(sqrt3/4)/2) = (sqrt3/4)/(1 + sqrt13/4) = sqrt3/(4 + sqrt13)
    a_comp = math.sqrt(3) / (4 + math.sqrt(13))
    assert a["r_composite"] == pytest.approx(a_comp)
    # All rows: abs errors [0,0,1,0,1,1,1,1,0] -> MAE 5/9, RMSE sqrt(5)/3.
    # gold mean 1, sxx 4; pred mean 8/9, syy 26/9; sxy 1 -> r = 3/(2 sqrt26);
    # CCC = 2 / (4 + 26/9 + 9 * (1/9)^2) = 2/7.
    assert a["mae"] == pytest.approx(5 / 9)
    assert a["rmse"] == pytest.approx(math.sqrt(5) / 3)
    assert a["pearson"] == pytest.approx(3 / (2 * math.sqrt(26)))
    assert a["ccc"] == pytest.approx(2 / 7)

    assert res["avg"]["r_composite"] == pytest.approx((v_comp + a_comp) / 2)
    assert res["avg"]["ccc"] == pytest.approx((18 / 31 + 2 / 7) / 2)
    assert headline_score(res, "subtask1") == pytest.approx((v_comp + a_comp) / 2)
    assert res["n_rows"] == 9 and res["n_users"] == 3
    assert "seen" not in res and "unseen" not in res


def test_subtask1_skip_rules():
    frame = pd.DataFrame(
        {
            "user_id": ["one", "flat", "flat", "flat", "cpred", "cpred", "good", "good"],
            # "one": a single text -> skipped; "flat": constant gold -> skipped
            "valence": [2, 1, 1, 1, 0, 1, 0, 2],
            # "cpred": constant prediction -> r = 0 (kept); "good": r = 1
            "pred_valence": [-2, 0, 1, 2, 1, 1, 0, 1],
            "arousal": [0, 0, 1, 2, 0, 1, 0, 1],
            "pred_arousal": [0, 0, 1, 2, 0, 1, 0, 1],
        }
    )
    v = subtask1_metrics(frame)["valence"]
    assert v["n_users_within"] == 2
    assert v["r_within"] == pytest.approx(0.5)  # (0 + 1) / 2
    # MAE within over the same two users: cpred |1-0|,|1-1| -> 1/2; good |0|,|1-2| -> 1/2
    assert v["mae_within"] == pytest.approx(0.5)


def test_subtask1_no_usable_user_gives_nan_within():
    frame = pd.DataFrame(
        {"user_id": ["a", "b"], "valence": [0, 1], "pred_valence": [0, 1], "arousal": [0, 2], "pred_arousal": [1, 1]}
    )
    res = subtask1_metrics(frame)
    assert res["valence"]["n_users_within"] == 0
    assert math.isnan(res["valence"]["r_within"])
    assert math.isnan(res["valence"]["mae_within"])
    assert math.isnan(res["valence"]["r_composite"])
    assert res["valence"]["r_between"] == pytest.approx(1.0)


def test_subtask1_seen_unseen_split():
    frame = _st1_frame()
    frame["is_seen_user"] = frame["user_id"].isin(["u1", "u2"])
    res = subtask1_metrics(frame)
    seen = subtask1_metrics(frame[frame["is_seen_user"]].drop(columns="is_seen_user"))
    unseen = subtask1_metrics(frame[~frame["is_seen_user"]].drop(columns="is_seen_user"))
    assert res["seen"] == seen
    assert res["unseen"] == unseen
    assert res["seen"]["n_users"] == 2 and res["unseen"]["n_rows"] == 3
    # The overall figures ignore the flag.
    assert res["valence"] == subtask1_metrics(_st1_frame())["valence"]
    # Seen valence users u1 (r 1) and u2 (r -1): r_within 0; one unseen user: r_between 0.
    assert res["seen"]["valence"]["r_within"] == pytest.approx(0.0)
    assert res["unseen"]["valence"]["r_between"] == 0.0


def test_subtask1_seen_flag_variants():
    frame = _st1_frame()
    frame["is_seen_user"] = "True"  # text, as read from the official test file
    res = subtask1_metrics(frame)
    assert "seen" in res and "unseen" not in res
    frame["is_seen_user"] = "maybe"
    with pytest.raises(VatrackError, match="is_seen_user"):
        subtask1_metrics(frame)


def test_subtask1_missing_column():
    with pytest.raises(VatrackError, match="pred_arousal"):
        subtask1_metrics(_st1_frame().drop(columns="pred_arousal"))


# -- subtask 2 -----------------------------------------------------------------------------


def test_subtask2_hand_case():
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "state_change_valence": [0, 1, 2, 3],
            "pred_state_change_valence": [0, 2, 2, 4],
            "state_change_arousal": [1, 1, 0, 0],
            "pred_state_change_arousal": [0.5, 0.5, 0.5, 0.5],
        }
    )
    res = subtask2_metrics(frame, "subtask2a")
    # valence: sxx 5, syy 8, sxy 6 -> r = 6/sqrt(40) = 3/sqrt(10); errors [0,1,0,1] -> MAE 0.5,
    # RMSE sqrt(1/2); CCC = 12 / (5 + 8 + 4 * 0.25) = 6/7
    assert res["valence"]["r"] == pytest.approx(3 / math.sqrt(10))
    assert res["valence"]["mae"] == pytest.approx(0.5)
    assert res["valence"]["rmse"] == pytest.approx(math.sqrt(0.5))
    assert res["valence"]["ccc"] == pytest.approx(6 / 7)
    # arousal: constant prediction -> r 0, CCC 0; every error 0.5
    assert res["arousal"]["r"] == 0.0
    assert res["arousal"]["ccc"] == 0.0
    assert res["arousal"]["mae"] == pytest.approx(0.5)
    assert res["avg"]["r"] == pytest.approx(3 / math.sqrt(10) / 2)
    assert headline_score(res, "subtask2a") == pytest.approx(3 / math.sqrt(10) / 2)
    assert res["n_users"] == 4


def test_subtask2b_accepts_long_names():
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "disposition_change_valence": [0.0, 1.0, 2.0],
            "disposition_change_arousal": [0.0, -1.0, 1.0],
            "pred_disp_change_valence": [0.0, 1.0, 2.0],
            "pred_disp_change_arousal": [0.0, -1.0, 1.0],
        }
    )
    res = subtask2_metrics(frame, "subtask2b")
    assert res["valence"]["r"] == pytest.approx(1.0)
    assert res["arousal"]["mae"] == 0.0


def test_subtask2_errors():
    frame = pd.DataFrame(
        {"user_id": ["a", "a"], "state_change_valence": [0, 1], "state_change_arousal": [0, 1],
         "pred_state_change_valence": [0, 1], "pred_state_change_arousal": [0, 1]}
    )
    with pytest.raises(VatrackError, match="twice"):
        subtask2_metrics(frame, "subtask2a")
    with pytest.raises(VatrackError, match="pred_disp_change_valence"):
        subtask2_metrics(frame, "subtask2b")
    with pytest.raises(VatrackError, match="unknown task"):
        subtask2_metrics(frame, "subtask3")
    with pytest.raises(VatrackError):
        subtask2_metrics(frame, "subtask1")


# -- properties ----------------------------------------------------------------------------

_value = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_subnormal=False)


@st.composite
def _pairs(draw, min_size=0):
    n = draw(st.integers(min_value=min_size, max_value=30))
    a = draw(st.lists(_value, min_size=n, max_size=n))
    b = draw(st.lists(_value, min_size=n, max_size=n))
    return np.array(a), np.array(b)


@settings(max_examples=100, deadline=None)
@given(_pairs())
def test_pearson_bounded_and_symmetric(pair):
    a, b = pair
    r = pearson(a, b)
    assert -1.0 <= r <= 1.0
    assert r == pytest.approx(pearson(b, a), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(_pairs())
def test_ccc_bounded_by_pearson(pair):
    a, b = pair
    assert abs(ccc(a, b)) <= abs(pearson(a, b)) + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(_value, min_size=2, max_size=30).filter(
    # A spread below 1e-9 of the magnitude is rounding noise and counts as constant (r = 0).
    lambda xs: np.ptp(xs) > 1e-6 * max(1.0, float(np.max(np.abs(xs))))))
def test_identical_vectors_give_one(xs):
    assert pearson(xs, xs) == pytest.approx(1.0)
    assert ccc(xs, xs) == pytest.approx(1.0)
    assert mae(xs, xs) == 0.0 and rmse(xs, xs) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.floats(-1, 1), st.floats(-1, 1))
def test_composite_between_its_parts(rw, rb):
    c = composite_r(rw, rb)
    # r is clipped to ±(1 - 1e-7) before atanh, so allow that much at the ends.
    assert min(rw, rb) - 1e-7 - 1e-12 <= c <= max(rw, rb) + 1e-7 + 1e-12


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcde"), st.integers(-2, 2), st.integers(-2, 2), st.integers(0, 2), st.integers(0, 2)),
        min_size=1,
        max_size=25,
    )
)
def test_subtask1_figures_in_range(rows):
    frame = pd.DataFrame(rows, columns=["user_id", "valence", "pred_valence", "arousal", "pred_arousal"])
    res = subtask1_metrics(frame)
    for dim in ("valence", "arousal"):
        block = res[dim]
        for key in ("r_between", "r_within", "r_composite", "ccc", "pearson"):
            assert math.isnan(block[key]) or -1.0 <= block[key] <= 1.0
        if not math.isnan(block["r_composite"]):
            lo, hi = sorted((block["r_within"], block["r_between"]))
            assert lo - 2e-7 <= block["r_composite"] <= hi + 2e-7
        assert block["mae"] >= 0 and block["rmse"] >= block["mae"] - 1e-12


def test_rounding_noise_is_constant_not_a_correlation():
    """Per-user means of one constant prediction differ in the last bits; that is r = 0."""
    from vatrack.evaluation.metrics import pearson

    noisy_constant = np.array([0.7] * 5) + np.array([0, 1e-16, -1e-16, 2e-16, 0])
    assert pearson(noisy_constant, [1, 2, 3, 4, 5]) == 0.0
