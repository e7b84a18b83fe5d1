"""Data layer: loading, ordering, validation errors (one line, exit 2, no output file)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from vatrack.data import load_diary, make_diaries, make_official_like
from vatrack.errors import VatrackError

HEADER = "user_id,text_id,text,timestamp,collection_phase,is_words,valence,arousal\n"
GOOD = "1,10,I feel fine,2021-06-09 12:41:57,1,False,1,1\n1,11,tired,2021-06-10 08:00:00,1,True,-1,0\n"


def write(tmp_path, content, name="train.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


# (name, file content, text that must appear in the one-line message)
BAD_FILES = [
    ("empty file", "", "file is empty"),
    ("header only", HEADER, "no data rows"),
    ("missing required column", "user_id,text_id,text,valence,arousal\n1,1,hi,1,1\n", "missing column(s) 'timestamp'"),
    ("fewer fields", HEADER + GOOD + "2,12,short row,2021-06-10 08:00:00\n", "row 3"),
    ("more fields", HEADER + GOOD + "2,12,long,2021-06-10 08:00:00,1,False,1,1,extra\n", "row 3"),
    ("bad timestamp", HEADER + GOOD + "2,12,x,yesterday-ish,1,False,1,1\n", "column 'timestamp', row 3"),
    ("non-numeric label", HEADER + GOOD + "2,12,x,2021-06-10 08:00:00,1,False,high,1\n", "column 'valence', row 3"),
    ("valence out of scale", HEADER + GOOD + "2,12,x,2021-06-10 08:00:00,1,False,3,1\n", "column 'valence', row 3"),
    ("arousal out of scale", HEADER + GOOD + "2,12,x,2021-06-10 08:00:00,1,False,1,-1\n", "column 'arousal', row 3"),
    ("duplicate key", HEADER + GOOD + "1,11,again,2021-06-11 08:00:00,1,False,1,1\n", "duplicate (user_id, text_id)"),
    ("bad boolean", HEADER + GOOD + "2,12,x,2021-06-10 08:00:00,1,maybe,1,1\n", "column 'is_words', row 3"),
    ("not utf-8", (HEADER + GOOD).encode("utf-8") + "3,1,caf\xe9,2021-06-10 08:00:00,1,False,1,1\n".encode("latin-1"), "not UTF-8"),
]


@pytest.mark.parametrize("name,content,expected", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_loader_rejects_bad_file_with_located_message(tmp_path, name, content, expected):
    path = write(tmp_path, content)
    with pytest.raises(VatrackError) as err:
        load_diary(path, require_labels=True)
    message = str(err.value)
    assert expected in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize("role", ["train", "data"])
@pytest.mark.parametrize("name,content,expected", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_cli_bad_input_exit_2_one_line_no_output(tmp_path, capsys, role, name, content, expected):
    good = write(tmp_path, HEADER + GOOD, name="good.csv")
    bad = write(tmp_path, content, name="bad.csv")
    out = tmp_path / "pred_subtask1.csv"
    train, data = (bad, good) if role == "train" else (good, bad)
    code, stdout, stderr = run_cli(["baseline", "--method", "mean", "--train", train, "--data", data, "--out", out], capsys)
    assert code == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in stderr + stdout
    assert not out.exists() and not list(tmp_path.glob(".pred_subtask1*"))


def test_missing_file_is_one_line(tmp_path, capsys):
    code, _, stderr = run_cli(["baseline", "--method", "mean", "--train", tmp_path / "nope.csv",
                               "--data", tmp_path / "nope.csv", "--out", tmp_path / "p.csv"], capsys)
    assert code == 2 and "file not found" in stderr and len(stderr.strip().splitlines()) == 1


def test_prediction_inputs_need_no_labels_but_training_does(tmp_path):
    path = write(tmp_path, "user_id,text_id,text,timestamp\n1,1,hi,2021-01-01 10:00\n")
    frame = load_diary(path)
    assert frame["valence"].isna().all() and not frame["is_words"].any()
    with pytest.raises(VatrackError, match=r"missing column\(s\) 'valence', 'arousal'"):
        load_diary(path, require_labels=True)


def test_empty_text_becomes_empty_string(tmp_path):
    path = write(tmp_path, HEADER + '1,10,,2021-06-09 12:41:57,1,False,1,1\n1,11,"",2021-06-10 08:00:00,1,True,-1,0\n')
    frame = load_diary(path, require_labels=True)
    assert frame["text"].tolist() == ["", ""]


def test_rows_ordered_by_user_then_time_stably(tmp_path):
    content = HEADER + (
        "10,1,a,2021-01-02 00:00:00,1,False,0,0\n"
        "2,2,b,2021-01-03 00:00:00,1,False,0,0\n"
        "2,3,c,2021-01-01 00:00:00,1,False,0,0\n"
        "2,4,d,2021-01-03 00:00:00,1,False,0,0\n"
    )
    frame = load_diary(write(tmp_path, content))
    assert frame["text_id"].tolist() == ["3", "2", "4", "1"]  # user 2 before 10; tie keeps file order


def test_mixed_timestamp_formats_parse(tmp_path):
    content = HEADER + "1,1,a,2021-06-09 12:41:57,1,False,0,0\n1,2,b,2021-06-10T08:00:00,1,False,0,0\n"
    frame = load_diary(write(tmp_path, content))
    assert frame["timestamp"].dt.day.tolist() == [9, 10]


def test_synthetic_diaries_deterministic_and_valid(tmp_path):
    a, b = make_diaries(n_users=8, seed=5), make_diaries(n_users=8, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_diaries(n_users=8, seed=6))
    assert a["valence"].between(-2, 2).all() and a["arousal"].between(0, 2).all()
    assert 0.1 < a["is_words"].mean() < 0.6


def test_official_like_split_shape():
    train, test = make_official_like(n_users=20, seed=1)
    unseen = set(test.loc[~test.is_seen_user, "user_id"])
    assert unseen and not unseen & set(train.user_id)
    for user, rows in test[test.is_seen_user].groupby("user_id"):
        assert rows.timestamp.min() >= train.loc[train.user_id == user, "timestamp"].max()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
@example(b"\r\x01")   # a lone carriage return: the csv module raised its own error here
def test_loader_fuzz_never_crashes_uncontrolled(tmp_path, blob):
    """Any bytes: either a valid frame or a one-line VatrackError, never another exception."""
    path = write(tmp_path, HEADER.encode() + blob, name="fuzz.csv")
    try:
        frame = load_diary(path)
    except VatrackError as err:
        assert "\n" not in str(err)
    else:
        assert list(frame.columns[:4]) == ["user_id", "text_id", "text", "timestamp"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 5), st.text(alphabet="abc ,\"\n", max_size=20),
                          st.integers(-3, 3), st.integers(-1, 3)), min_size=1, max_size=12))
def test_loader_fuzz_rows(tmp_path, rows):
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER.strip().split(","))
    for i, (user, text, v, a) in enumerate(rows):
        writer.writerow([user, i, text, f"2021-01-{1 + i % 28:02d} 10:00:00", 1, "False", v, a])
    path = write(tmp_path, buf.getvalue(), name="rows.csv")
    in_scale = all(-2 <= v <= 2 and 0 <= a <= 2 for _, _, v, a in rows)
    if in_scale:
        frame = load_diary(path, require_labels=True)
        assert len(frame) == len(rows)
    else:
        with pytest.raises(VatrackError, match="outside the"):
            load_diary(path, require_labels=True)


# --- a hand-made DataFrame: one validation, whether it comes through load_diary or fit/predict ---------


def _hand_made() -> pd.DataFrame:
    """What a library user builds: integer keys, text timestamps, no is_words or collection_phase."""
    return pd.DataFrame({"user_id": [2, 2, 1, 1], "text_id": [1, 2, 1, 2], "text": ["fine", "tired", "ok", "sad"],
                         "timestamp": ["2021-06-09 12:00", "2021-06-10 08:00", "2021-06-09 09:00", "2021-06-11 10:00"],
                         "valence": [1.0, -1.0, 0.0, -2.0], "arousal": [1.0, 0.0, 1.0, 2.0]})


BAD_FRAMES = [
    ("missing columns", lambda f: f.drop(columns=["text", "timestamp"]), ": missing column(s) 'text', 'timestamp'"),
    ("missing labels", lambda f: f.drop(columns=["arousal"]), ": missing column(s) 'arousal'"),
    ("label not a number", lambda f: f.assign(valence=[1, "high", 0, 0]), ", column 'valence', row 2: 'high' is not a number"),
    ("label off the scale", lambda f: f.assign(arousal=[1, 1, 5, 1]), ", column 'arousal', row 3: 5 is outside the arousal scale"),
    ("time not a time", lambda f: f.assign(timestamp=["2021-06-09", "soon", "2021-06-09", "2021-06-10"]),
     ", column 'timestamp', row 2: 'soon' cannot be read as a date and time; write it like the other rows, e.g. '2021-06-09'"),
    ("time missing", lambda f: f.assign(timestamp=["2021-06-09", "2021-06-09", " ", "2021-06-10"]),
     ", column 'timestamp', row 3: no date; every entry needs its date and time"),
    ("is_words not a bool", lambda f: f.assign(is_words=[True, False, "maybe", False]),
     ", column 'is_words', row 3: 'maybe' is not True/False"),
    ("empty key", lambda f: f.assign(user_id=[2, 2, None, 1]), ", column 'user_id', row 3: empty user_id"),
    ("duplicate key", lambda f: f.assign(text_id=[1, 1, 1, 2]), ", column 'text_id', row 2: duplicate (user_id, text_id)"),
]


@pytest.mark.parametrize(("case", "damage", "message"), BAD_FRAMES, ids=[c[0] for c in BAD_FRAMES])
def test_a_bad_frame_fails_alike_in_load_diary_and_in_fit(case, damage, message):
    """Same check, same line; load_diary says <DataFrame>, fit names its parameter `train`."""
    from vatrack.models import make_model

    frame = damage(_hand_made())
    with pytest.raises(VatrackError) as loaded:
        load_diary(frame, require_labels=True)
    with pytest.raises(VatrackError) as fitted:
        make_model("user-mean").fit(frame)
    assert str(loaded.value).startswith("<DataFrame>" + message), str(loaded.value)
    assert str(fitted.value) == str(loaded.value).replace("<DataFrame>", "train", 1)
    if "label" not in case:   # inputs to predict need no labels
        with pytest.raises(VatrackError) as predicted:
            make_model("user-mean").fit(_hand_made()).predict(frame.drop(columns=["valence", "arousal"], errors="ignore"))
        assert str(predicted.value).startswith("inputs" + message)


def test_a_hand_made_frame_reads_as_load_diary_reads_it_in_the_callers_order():
    from vatrack.data import read_frame, sort_diary
    from vatrack.features import diary_frame

    frame = _hand_made().assign(mood_note=[7, 8, 9, 10])   # a column vatrack does not know
    canonical = load_diary(frame)
    mine = diary_frame(frame, "train", labels=True)
    assert mine["user_id"].tolist() == ["2", "2", "1", "1"]           # the caller's rows, in the caller's order
    assert not mine["is_words"].any() and mine["collection_phase"].isna().all()   # without is_words: False
    assert mine["mood_note"].tolist() == [7, 8, 9, 10] and canonical["mood_note"].tolist() == [9, 10, 7, 8]
    pd.testing.assert_frame_equal(sort_diary(mine)[list(canonical.columns)], canonical)
    assert "valence" not in read_frame(frame.drop(columns=["valence", "arousal"]), "inputs").columns


def test_unrated_rows_are_left_out_by_load_diary_and_refused_by_fit(caplog):
    """The one difference, on purpose: load_diary(require_labels=True) drops unrated rows with a
    note (the CLI's train does the same); fit never drops a caller's rows silently."""
    from vatrack.models import make_model

    frame = _hand_made().assign(valence=[1.0, None, 0.0, -2.0])
    assert load_diary(frame, require_labels=True)["text"].tolist() == ["ok", "sad", "fine"]
    with pytest.raises(VatrackError, match=r"^train, column 'valence', row 2: missing label; .*require_labels=True"):
        make_model("user-mean").fit(frame)
    make_model("user-mean").fit(load_diary(frame, require_labels=True))   # the way to train on the rated rows
    with pytest.raises(VatrackError, match="must be a pandas DataFrame, got list"):
        make_model("user-mean").fit([1, 2])
