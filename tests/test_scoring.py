"""Scoring files: tiny pred/gold pairs give hand-computed figures; bad files fail clearly."""

from __future__ import annotations

import math

import pytest
from rich.console import Console

from vatrack.errors import VatrackError
from vatrack.evaluation.scoring import load_gold_file, load_prediction_file, render_table, score_files

# The 3-user case of test_metrics.test_subtask1_hand_case, as files. Keys look numeric on
# purpose: "007" and "7" are different users and must stay so.
GOLD_ST1 = """user_id,text_id,valence,arousal,is_seen_user
007,1,1,0,True
007,2,2,1,True
007,3,3,2,True
7,4,0,1,True
7,5,1,1,True
7,6,2,1,True
u3,7,-1,2,False
u3,8,0,0,False
u3,9,1,1,False
"""
# Same predictions, shuffled, plus one row for a text the gold file does not have.
PRED_ST1 = """user_id,text_id,pred_valence,pred_arousal
u3,9,0,1
007,1,2,0
007,2,3,1
007,3,4,1
7,4,2,1
7,5,1,2
7,6,0,0
u3,7,0,1
u3,8,0,1
zz,10,0,0
"""


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_score_subtask1_hand_case(tmp_path):
    res = score_files("subtask1", _write(tmp_path, "pred.csv", PRED_ST1), _write(tmp_path, "gold.csv", GOLD_ST1))
    # Figures derived by hand in tests/test_metrics.py::test_subtask1_hand_case.
    assert res["valence"]["r_between"] == pytest.approx(math.sqrt(27 / 28))
    assert res["valence"]["r_within"] == pytest.approx(0.0)
    assert res["valence"]["r_composite"] == pytest.approx(math.sqrt(27) / (math.sqrt(28) + 1))
    assert res["valence"]["mae_within"] == pytest.approx(1.0)
    assert res["valence"]["ccc"] == pytest.approx(18 / 31)
    assert res["arousal"]["r_composite"] == pytest.approx(math.sqrt(3) / (4 + math.sqrt(13)))
    assert res["arousal"]["mae_between"] == pytest.approx(1 / 9)
    assert res["n_users"] == 3 and res["n_rows"] == 9
    assert res["n_unmatched_predictions"] == 1
    # Seen users 007 and 7: valence r +1 and -1 -> within 0; 7 has constant arousal gold.
    assert res["seen"]["n_users"] == 2
    assert res["seen"]["valence"]["r_within"] == pytest.approx(0.0)
    assert res["seen"]["arousal"]["n_users_within"] == 1
    assert res["unseen"]["n_rows"] == 3


def test_score_subtask2a_hand_case(tmp_path):
    gold = _write(tmp_path, "gold.csv", "user_id,state_change_valence,state_change_arousal\na,0,1\nb,1,1\nc,2,0\nd,3,0\n")
    pred = _write(tmp_path, "pred.csv", "user_id,pred_state_change_valence,pred_state_change_arousal\nd,4,0.5\nc,2,0.5\nb,2,0.5\na,0,0.5\n")
    res = score_files("subtask2a", pred, gold)
    # valence r = 6/sqrt(40) = 3/sqrt(10), MAE 0.5; arousal constant prediction -> r 0, MAE 0.5
    assert res["valence"]["r"] == pytest.approx(3 / math.sqrt(10))
    assert res["valence"]["mae"] == pytest.approx(0.5)
    assert res["arousal"]["r"] == 0.0
    assert res["arousal"]["mae"] == pytest.approx(0.5)
    assert res["n_users"] == 4


def test_score_subtask2b_with_long_gold_names(tmp_path):
    gold = _write(tmp_path, "gold.csv", "user_id,disposition_change_valence,disposition_change_arousal\n1,0.5,-0.5\n2,-0.5,0.5\n")
    pred = _write(tmp_path, "pred.csv", "user_id,pred_disp_change_valence,pred_disp_change_arousal\n1,0.25,0\n2,-0.25,0\n")
    res = score_files("subtask2b", pred, gold)
    # valence: same order -> r 1, errors 0.25 each; arousal constant prediction -> r 0, MAE 0.5
    assert res["valence"]["r"] == pytest.approx(1.0)
    assert res["valence"]["mae"] == pytest.approx(0.25)
    assert res["arousal"]["r"] == 0.0
    assert res["arousal"]["mae"] == pytest.approx(0.5)


def test_loaders_keep_keys_as_text(tmp_path):
    gold = load_gold_file(_write(tmp_path, "gold.csv", GOLD_ST1), "subtask1")
    assert gold["user_id"].tolist()[:4] == ["007", "007", "007", "7"]
    assert gold["is_seen_user"].dtype == bool
    pred = load_prediction_file(_write(tmp_path, "pred.csv", PRED_ST1), "subtask1")
    assert pred["pred_valence"].dtype == float
    assert list(pred.columns) == ["user_id", "text_id", "pred_valence", "pred_arousal"]


def test_gold_key_without_prediction(tmp_path):
    gold = _write(tmp_path, "gold.csv", GOLD_ST1)
    pred = _write(tmp_path, "pred.csv", "\n".join(PRED_ST1.splitlines()[:-3]) + "\n")  # drops u3/7, u3/8, zz/10
    with pytest.raises(VatrackError, match="no prediction for 2 gold key.*user_id='u3', text_id='7'"):
        score_files("subtask1", pred, gold)


HEADER = "user_id,text_id,pred_valence,pred_arousal\n"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (HEADER.encode(), "no data rows"),
        (b"user_id,text_id,pred_valence\n1,1,0\n", "lacks column.*'pred_arousal'"),
        ((HEADER + "1,1,0,0\n1,2,x,0\n").encode(), "column 'pred_valence', row 2: 'x' is not a number"),
        ((HEADER + "1,1,0,0\n1,2,0,\n").encode(), "column 'pred_arousal', row 2: value is missing"),
        ((HEADER + "1,1,NaN,0\n").encode(), "column 'pred_valence', row 1: value is missing"),
        ((HEADER + "1,1,0,0\n1,2,0,0\n1,3,inf,0\n").encode(), "column 'pred_valence', row 3: 'inf' is not finite"),
        ((HEADER + "1,1,0,0\n1,1,0,0\n").encode(), "row 2: duplicate key user_id='1', text_id='1'"),
        ((HEADER + "1,,0,0\n").encode(), "column 'text_id', row 1: key is empty"),
        ((HEADER + "1,1,0,0,9,9\n").encode(), "cannot be read as CSV"),
        ((HEADER + "1,1,0,0\n1,2,0,0,9\n").encode(), "cannot be read as CSV"),
        (HEADER.encode() + b"1,1,0,0\n\xff\xfe,2,0,0\n", "not UTF-8 text .*line 3"),
    ],
)
def test_bad_prediction_files(tmp_path, content, match):
    path = tmp_path / "pred.csv"
    path.write_bytes(content)
    with pytest.raises(VatrackError, match=match) as info:
        load_prediction_file(path, "subtask1")
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_gold(tmp_path):
    with pytest.raises(VatrackError, match="does not exist"):
        load_prediction_file(tmp_path / "nope.csv", "subtask1")
    bad_seen = _write(tmp_path, "gold.csv", "user_id,text_id,valence,arousal,is_seen_user\n1,1,0,0,perhaps\n")
    with pytest.raises(VatrackError, match="is_seen_user', row 1"):
        load_gold_file(bad_seen, "subtask1")
    no_gold = _write(tmp_path, "gold2.csv", "user_id,text_id,valence\n1,1,0\n")
    with pytest.raises(VatrackError, match="'arousal'"):
        load_gold_file(no_gold, "subtask1")
    with pytest.raises(VatrackError, match="unknown task"):
        load_gold_file(no_gold, "subtask4")


def test_bom_is_tolerated(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_bytes("\ufeff".encode() + (HEADER + "1,1,0,0\n").encode())
    assert load_prediction_file(path, "subtask1")["user_id"].tolist() == ["1"]


def _text(table) -> str:
    console = Console(record=True, width=120)
    console.print(table)
    return console.export_text()


def test_render_table(tmp_path):
    res = score_files("subtask1", _write(tmp_path, "pred.csv", PRED_ST1), _write(tmp_path, "gold.csv", GOLD_ST1))
    text = _text(render_table(res, "subtask1"))
    for word in ("r_composite", "r_between", "mae_within", "valence", "arousal", "seen", "unseen"):
        assert word in text
    assert f"{math.sqrt(27) / (math.sqrt(28) + 1):.4f}" in text

    gold = _write(tmp_path, "g2.csv", "user_id,state_change_valence,state_change_arousal\na,0,1\nb,1,0\n")
    pred = _write(tmp_path, "p2.csv", "user_id,pred_state_change_valence,pred_state_change_arousal\na,0,1\nb,1,0\n")
    text = _text(render_table(score_files("subtask2a", pred, gold), "subtask2a"))
    assert "subtask2a: 2 users" in text and "1.0000" in text and "seen" not in text
