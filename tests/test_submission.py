"""Submission files: official layout, every check, and no file left behind on failure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vatrack.errors import VatrackError
from vatrack.evaluation.submission import SUBMISSION_COLUMNS, SUBMISSION_FILES, check_submission, write_submission


def _st1() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["007", "007", "12"],
            "text_id": ["a1", "a2", "0003"],
            "pred_valence": [0.5, -1.25, 2.0],
            "pred_arousal": [1.0, 0.0, 0.75],
            "text": ["x", "y", "z"],  # extra columns are left out of the file
        }
    )


def _st2a() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["1", "2"], "pred_state_change_valence": [0.1, -0.2], "pred_state_change_arousal": [0.0, 0.3]})


def test_file_names_and_columns():
    assert SUBMISSION_FILES == {
        "subtask1": "pred_subtask1.csv",
        "subtask2a": "pred_subtask2a.csv",
        "subtask2b": "pred_subtask2b.csv",
    }
    assert SUBMISSION_COLUMNS["subtask1"] == ("user_id", "text_id", "pred_valence", "pred_arousal")
    assert SUBMISSION_COLUMNS["subtask2a"] == ("user_id", "pred_state_change_valence", "pred_state_change_arousal")
    assert SUBMISSION_COLUMNS["subtask2b"] == ("user_id", "pred_disp_change_valence", "pred_disp_change_arousal")


def test_write_round_trip_keeps_string_keys(tmp_path):
    path = write_submission(_st1(), "subtask1", tmp_path / "pred_subtask1.csv", expected_keys=_st1()[["user_id", "text_id"]])
    back = pd.read_csv(path, dtype=str)
    assert list(back.columns) == list(SUBMISSION_COLUMNS["subtask1"])
    assert back["user_id"].tolist() == ["007", "007", "12"]
    assert back["text_id"].tolist() == ["a1", "a2", "0003"]
    assert back["pred_valence"].astype(float).tolist() == [0.5, -1.25, 2.0]


def test_write_into_folder_uses_official_name(tmp_path):
    path = write_submission(_st2a(), "subtask2a", tmp_path)
    assert path == tmp_path / "pred_subtask2a.csv"
    assert path.read_text(encoding="utf-8").splitlines()[0] == "user_id,pred_state_change_valence,pred_state_change_arousal"


def test_check_returns_official_layout():
    out = check_submission(_st1(), "subtask1")
    assert list(out.columns) == list(SUBMISSION_COLUMNS["subtask1"])
    assert out["pred_arousal"].dtype == float


def _broken(kind: str) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """A subtask-1 frame with one kind of fault, optional expected keys, and the message to expect."""
    frame, keys = _st1(), None
    if kind == "missing column":
        frame, match = frame.drop(columns="pred_arousal"), "pred_arousal"
    elif kind == "null value":
        frame.loc[1, "pred_valence"], match = np.nan, "column 'pred_valence', row 2: value is missing"
    elif kind == "null key":
        frame.loc[2, "text_id"], match = None, "column 'text_id', row 3: key is missing"
    elif kind == "infinite":
        frame.loc[0, "pred_arousal"], match = np.inf, "column 'pred_arousal', row 1: .*not a finite number"
    elif kind == "not a number":
        frame["pred_arousal"] = frame["pred_arousal"].astype(object)
        frame.loc[2, "pred_arousal"], match = "high", "column 'pred_arousal', row 3: 'high'"
    elif kind == "duplicate key":
        frame.loc[1, "text_id"], match = "a1", "row 2: duplicate key user_id='007', text_id='a1'"
    elif kind == "missing expected key":
        keys = pd.concat([_st1()[["user_id", "text_id"]], pd.DataFrame({"user_id": ["99"], "text_id": ["b"]})])
        match = "misses 1 expected key.*user_id='99', text_id='b'"
    elif kind == "extra key":
        keys = _st1()[["user_id", "text_id"]].iloc[:2]
        match = "row 3: key user_id='12', text_id='0003' is not expected"
    else:  # pragma: no cover
        raise AssertionError(kind)
    return frame, keys, match


KINDS = ["missing column", "null value", "null key", "infinite", "not a number", "duplicate key", "missing expected key", "extra key"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_raises_and_writes_nothing(tmp_path, kind):
    frame, keys, match = _broken(kind)
    target = tmp_path / "pred_subtask1.csv"
    with pytest.raises(VatrackError, match=match) as info:
        write_submission(frame, "subtask1", target, expected_keys=keys)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no file, no temp file


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = write_submission(_st1(), "subtask1", tmp_path / "pred_subtask1.csv")
    before = target.read_bytes()
    frame, _, _ = _broken("infinite")
    with pytest.raises(VatrackError):
        write_submission(frame, "subtask1", target)
    assert target.read_bytes() == before


def test_unknown_task_and_empty_frame():
    with pytest.raises(VatrackError, match="unknown task"):
        check_submission(_st1(), "subtask9")
    with pytest.raises(VatrackError, match="no rows"):
        check_submission(_st1().iloc[:0], "subtask1")


def test_numeric_keys_become_strings():
    frame = _st2a()
    frame["user_id"] = [1, 2]
    out = check_submission(frame, "subtask2a", expected_keys=pd.DataFrame({"user_id": ["1", "2"]}))
    assert out["user_id"].tolist() == ["1", "2"]
