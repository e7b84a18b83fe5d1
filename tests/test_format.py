"""A user's own file: column mapping, rating scales, dates, separators (DiaryFormat + loader + CLI)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli
from vatrack.data import DiaryFormat, load_diary, parse_format, read_diary
from vatrack.errors import VatrackError

EMA_HEADER = "participant,entry,date,diary_text,sam_valence,sam_arousal\n"
MAPPING = ["user_id=participant", "text_id=entry", "timestamp=date", "text=diary_text",
           "valence=sam_valence", "arousal=sam_arousal"]
CLI_MAPPING = [arg for item in MAPPING for arg in ("--column", item)]


def write(tmp_path, text, name="diary.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def ema(rows, header=EMA_HEADER, sep=","):
    return header.replace(",", sep) + "".join(sep.join(map(str, r)) + "\n" for r in rows)


# --- columns -------------------------------------------------------------------------------------


def test_column_mapping_reads_the_users_names(tmp_path):
    path = write(tmp_path, ema([("A", 1, "2025-03-04 10:00", "fine", 5, 3), ("A", 2, "2025-03-05 10:00", "sad", 2, 7)]))
    frame = load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))
    assert frame["user_id"].tolist() == ["A", "A"] and frame["text"].tolist() == ["fine", "sad"]
    assert frame["valence"].tolist() == [0.0, -1.5] and frame["arousal"].tolist() == [0.5, 1.5]


def test_every_missing_column_is_listed_at_once(tmp_path, capsys):
    path = write(tmp_path, ema([("A", 1, "2025-03-04 10:00", "fine", 5, 3)]))
    code, _, stderr = run_cli(["baseline", "--method", "mean", "--train", path, "--data", path,
                               "--out", tmp_path / "p.csv"], capsys)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1
    for column in ("'user_id'", "'text'", "'timestamp'", "'valence'", "'arousal'"):
        assert column in lines[0]
    assert "columns found: participant, entry, date, diary_text, sam_valence, sam_arousal" in lines[0]
    assert "map yours with --column, e.g. --column user_id=participant" in lines[0]


def test_mapping_to_a_column_the_file_lacks_is_one_line(tmp_path):
    path = write(tmp_path, ema([("A", 1, "2025-03-04 10:00", "fine", 5, 3)]))
    with pytest.raises(VatrackError, match="'who' named in the column mapping are not in the file"):
        load_diary(path, format=parse_format(["user_id=who"]))


@pytest.mark.parametrize("bad,message", [("user_id", "expected VATRACK=YOURS"), ("mood=x", "not a vatrack column"),
                                         ("user_id=", "expected VATRACK=YOURS")])
def test_bad_column_option(bad, message):
    with pytest.raises(VatrackError, match=message):
        parse_format([bad])


# --- scales --------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(["valence", "arousal"]), st.floats(-100, 100), st.floats(0.5, 200), st.floats(0, 1))
def test_scale_mapping_round_trips(label, low, width, where):
    fmt = DiaryFormat(scales={label: (low, low + width)})
    rating = low + where * width
    model = fmt.to_model(label, [rating])
    lo_m, hi_m = {"valence": (-2, 2), "arousal": (0, 2)}[label]
    assert lo_m - 1e-9 <= model[0] <= hi_m + 1e-9
    assert fmt.to_user(label, model)[0] == pytest.approx(rating, abs=1e-9 * max(1, abs(rating)))


@pytest.mark.parametrize("scale,ratings", [("1:9", (1, 5, 9)), ("0:100", (0, 50, 100)), ("-3:3", (-3, 0, 3))])
def test_scales_round_trip_through_baseline(tmp_path, capsys, scale, ratings):
    """Ratings on the user's scale reach the model as -2..2 / 0..2; predictions come back on the user's scale."""
    lo, mid, hi = ratings
    rows = []
    for user in range(4):
        for k, (v, a) in enumerate([(lo, lo), (mid, hi), (hi, mid), (mid, mid)]):
            rows.append((f"u{user}", k, f"2025-03-{10 + k:02d} 09:00", ["awful", "fine", "great", "ok"][k], v, a))
    path = write(tmp_path, ema(rows))
    fmt = parse_format(MAPPING, [f"valence={scale}", f"arousal={scale}"])
    frame = load_diary(path, require_labels=True, format=fmt)
    assert frame["valence"].min() == -2 and frame["valence"].max() == 2
    assert frame["arousal"].min() == 0 and frame["arousal"].max() == 2
    out = tmp_path / "pred.csv"
    code, _, stderr = run_cli(["baseline", "--method", "user-mean", "--train", path, "--data", path, "--out", out,
                               *CLI_MAPPING, "--scale", f"valence={scale}", "--scale", f"arousal={scale}"], capsys)
    assert code == 0, stderr
    pred = pd.read_csv(out)
    # user-mean: every user's mean rating, on the user's own scale.
    expected = np.mean([lo, mid, hi, mid])
    assert np.allclose(pred["pred_valence"], expected) and pred["pred_valence"].between(lo, hi).all()


def test_out_of_scale_rating_names_the_row(tmp_path):
    path = write(tmp_path, ema([("A", 1, "2025-03-04 10:00", "fine", 5, 3), ("A", 2, "2025-03-05 10:00", "x", 10, 3)]))
    with pytest.raises(VatrackError) as err:
        load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))
    assert "column 'sam_valence', row 2" in str(err.value) and "outside the valence scale 1..9" in str(err.value)


def test_ratings_off_the_model_scale_suggest_scale_option(tmp_path, capsys):
    path = write(tmp_path, ema([("A", 1, "2025-03-04 10:00", "fine", 7, 3)]))
    # the library names its parameter, the CLI the flag
    with pytest.raises(VatrackError, match=r"give yours with `scales=\{'valence': \(LO, HI\)\}`"):
        load_diary(path, format=parse_format(MAPPING))
    args = [f"--column={c}" for c in MAPPING]
    code, _, stderr = run_cli(["baseline", "--method", "mean", "--train", path, "--data", path,
                               "--out", path.parent / "p.csv", *args], capsys)
    assert code == 2 and "give yours with --scale valence=LO:HI)" in stderr, stderr


@pytest.mark.parametrize("bad", ["valence=9:1", "valence=1-9", "mood=1:9", "valence=a:b"])
def test_bad_scale_option(bad):
    with pytest.raises(VatrackError):
        parse_format([], [bad])


def test_train_records_the_scale_and_predict_maps_back(tmp_path, capsys):
    from vatrack.data.synthetic import make_ema_export

    export = make_ema_export(n_people=12, entries=(8, 10), seed=1, unrated_share=0.0)
    path = tmp_path / "diary.csv"
    export.to_csv(path, index=False)
    run = tmp_path / "run"
    tiny = ["--set", "epochs=1", "--set", "lstm_hidden=8", "--set", "lstm_layers=1", "--set", "fusion=[8]",
            "--set", "user_emb=4", "--set", "seq_length=3", "--val", "none"]
    scales = ["--scale", "valence=1:9", "--scale", "arousal=1:9"]
    code, _, stderr = run_cli(["train", "--data", path, "--out", run, "--preset", "v3.3", *tiny, *CLI_MAPPING,
                               *scales, "--dayfirst", "--quiet"], capsys)
    assert code == 0, stderr
    import json

    record = json.loads((run / "scales.json").read_text())
    assert record["valence"] == {"user": [1.0, 9.0], "model": [-2.0, 2.0]}
    out = tmp_path / "pred.csv"
    # No --scale here: predict takes the run's recorded scale.
    code, _, stderr = run_cli(["predict", "--run", run, "--data", path, "--out", out, *CLI_MAPPING, "--dayfirst",
                               "--quiet"], capsys)
    assert code == 0, stderr
    pred = pd.read_csv(out)
    assert pred["pred_valence"].between(1, 9).all() and pred["pred_arousal"].between(1, 9).all()
    assert pred["pred_valence"].max() > 2.5  # on 1..9, not the model's -2..2


def test_one_scale_given_with_a_run_keeps_the_other_recorded_scale():
    """--scale valence=... with --run used to drop the run's recorded arousal scale: arousal was
    then written on the model's 0..2 instead of the user's 1..9, silently."""
    record = {"valence": {"user": [1.0, 9.0], "model": [-2.0, 2.0]}, "arousal": {"user": [1.0, 9.0], "model": [0.0, 2.0]}}
    merged = parse_format(scales=["valence=0:100"]).with_scales_from(record)
    assert merged.scales == {"valence": (0.0, 100.0), "arousal": (1.0, 9.0)}
    assert parse_format().with_scales_from(record).scales == {"valence": (1.0, 9.0), "arousal": (1.0, 9.0)}


def test_a_copied_row_without_ids_is_an_error_not_two_entries(tmp_path):
    """Without an id column each row got its own number, so a copied export row became two
    entries: it counted twice per person, and CV held out one while training on its twin."""
    rows = [("A", 1, "2025-03-04 09:00", "tired", 5, 5), ("A", 2, "2025-03-05 09:00", "fine", 6, 5),
            ("B", 1, "2025-03-04 10:00", "calm", 5, 4), ("A", 2, "2025-03-05 09:00", "fine", 6, 5)]
    no_ids = "participant,date,diary_text,sam_valence,sam_arousal\n" + "".join(
        ",".join(map(str, (r[0], *r[2:]))) + "\n" for r in rows)
    fmt = parse_format([m for m in MAPPING if not m.startswith("text_id")], ["valence=1:9", "arousal=1:9"])
    with pytest.raises(VatrackError, match=r"rows 2 and 4 are the same entry \(same participant, date and text\)"):
        load_diary(write(tmp_path, no_ids), format=fmt)
    # with the user's ids, a repeated id is named by the user's own columns
    with pytest.raises(VatrackError, match=r"column 'entry', row 4: duplicate \(participant, entry\) = \(A, 2\)"):
        load_diary(write(tmp_path, ema(rows), name="ids.csv"), format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))


def test_entries_at_the_same_time_are_ordered_by_id_whatever_the_files_row_order(tmp_path, caplog):
    """Ties kept file order, so RMSSD and lag-1 autocorrelation changed when the file was resorted."""
    rows = [("A", 10, "2025-03-04", "c", 3, 5), ("A", 9, "2025-03-04", "b", 8, 5), ("A", 2, "2025-03-03", "a", 1, 5),
            ("A", 11, "2025-03-05", "d", 6, 5)]
    fmt = parse_format(MAPPING, ["valence=1:9", "arousal=1:9"])
    with caplog.at_level("INFO", logger="vatrack"):
        frames = [load_diary(write(tmp_path, ema(order), name=f"d{i}.csv"), format=fmt)
                  for i, order in enumerate((rows, rows[::-1], [rows[1], rows[3], rows[0], rows[2]]))]
    for frame in frames:
        assert frame["text_id"].tolist() == ["2", "9", "10", "11"]   # numeric ids: 9 before 10
    assert "2 entries share their date and time" in caplog.text and "ordered by their entry" in caplog.text


# --- dates ---------------------------------------------------------------------------------------


AMBIGUOUS = [("A", 1, "04/03/2025 09:00", "a", 5, 5), ("A", 2, "03/04/2025 09:00", "b", 5, 5),
             ("A", 3, "05/04/2025 09:00", "c", 5, 5)]


def test_ambiguous_dates_are_a_question_not_a_guess(tmp_path, capsys):
    path = write(tmp_path, ema(AMBIGUOUS))
    code, stdout, stderr = run_cli(["baseline", "--method", "mean", "--train", path, "--data", path,
                                    "--out", tmp_path / "p.csv", *CLI_MAPPING, "--scale", "valence=1:9",
                                    "--scale", "arousal=1:9"], capsys)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr
    assert "column 'date'" in lines[0]   # the user's own column name, not vatrack's
    for part in ("ambiguous dates", "'04/03/2025 09:00'", "--dayfirst", "--monthfirst", "--date-format"):
        assert part in lines[0], part
    assert not (tmp_path / "p.csv").exists()


def test_dayfirst_orders_a_persons_entries_and_so_their_lags(tmp_path):
    # Valence rises with the true (day-first) date; read month-first, the order and the lag-1 values change.
    rows = [("A", 1, "04/03/2025 09:00", "a", 1, 5),    # 4 March
            ("A", 2, "02/04/2025 09:00", "b", 5, 5),    # 2 April
            ("A", 3, "03/05/2025 09:00", "c", 9, 5)]    # 3 May
    path = write(tmp_path, ema(rows))
    scales = ["valence=1:9", "arousal=1:9"]
    day = load_diary(path, format=parse_format(MAPPING, scales, dayfirst=True))
    month = load_diary(path, format=parse_format(MAPPING, scales, monthfirst=True))
    assert day["text_id"].tolist() == ["1", "2", "3"]
    assert month["text_id"].tolist() == ["2", "3", "1"]   # month-first: 3 April, 4 February, 5 March
    assert day["timestamp"].dt.month.tolist() == [3, 4, 5]
    lag_day = day.groupby("user_id")["valence"].shift(1).tolist()
    lag_month = month.groupby("user_id")["valence"].shift(1).tolist()
    assert lag_day[1:] == [-2.0, 0.0] and lag_month[1:] != lag_day[1:]


def test_a_value_that_proves_the_order_is_used_with_a_note(tmp_path, caplog):
    rows = [("A", 1, "04/03/2025 09:00", "a", 5, 5), ("A", 2, "13/03/2025 09:00", "b", 5, 5)]
    path = write(tmp_path, ema(rows))
    with caplog.at_level("INFO", logger="vatrack"):
        frame = load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))
    assert frame["timestamp"].dt.day.tolist() == [4, 13] and frame["timestamp"].dt.month.tolist() == [3, 3]
    assert any("day-first" in r.getMessage() and "13/03/2025" in r.getMessage() for r in caplog.records)


def test_an_option_contradicted_by_the_data_is_an_error(tmp_path):
    rows = [("A", 1, "04/03/2025 09:00", "a", 5, 5), ("A", 2, "03/13/2025 09:00", "b", 5, 5)]
    path = write(tmp_path, ema(rows))
    with pytest.raises(VatrackError, match="row 2.*cannot be read dayfirst"):
        load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"], dayfirst=True))


def test_explicit_date_format(tmp_path):
    rows = [("A", 1, "04.03.2025 09:00", "a", 5, 5), ("A", 2, "13.03.2025 21:30", "b", 5, 5)]
    path = write(tmp_path, ema(rows))
    fmt = parse_format(MAPPING, ["valence=1:9", "arousal=1:9"], date_format="%d.%m.%Y %H:%M")
    frame = load_diary(path, format=fmt)
    assert frame["timestamp"].tolist() == [pd.Timestamp("2025-03-04 09:00"), pd.Timestamp("2025-03-13 21:30")]
    bad = write(tmp_path, ema(rows[:1] + [("A", 2, "2025-03-13", "b", 5, 5)]), name="bad.csv")
    with pytest.raises(VatrackError, match="row 2.*does not match the date format"):
        load_diary(bad, format=fmt)


def test_iso_dates_need_no_option(tmp_path):
    path = write(tmp_path, ema([("A", 1, "2025-03-04 09:00", "a", 5, 5), ("A", 2, "2025-04-03T09:00:00", "b", 5, 5)]))
    frame = load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))
    assert frame["timestamp"].dt.month.tolist() == [3, 4]


def test_naive_times_beside_zoned_ones_are_read_as_utc_with_a_note(tmp_path, caplog):
    rows = [("A", 1, "2025-03-04 09:00", "a", 5, 5), ("A", 2, "2025-03-05T09:00:00+02:00", "b", 5, 5)]
    with caplog.at_level("INFO", logger="vatrack"):
        frame = load_diary(write(tmp_path, ema(rows)), format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))
    assert frame["timestamp"].dt.hour.tolist() == [9, 7]
    assert "1 date(s) have no time zone while others do (first: row 1" in caplog.text


@pytest.mark.parametrize("option", [{"dayfirst": True}, {"monthfirst": True}, {}])
def test_year_first_dates_are_never_swapped_by_the_order_option(tmp_path, option):
    """--dayfirst used to read 2021-03-11 as 3 November: pandas' dayfirst applies to ISO dates too."""
    rows = [("A", 1, "2021-03-11 19:04", "a", 5, 5), ("A", 2, "2021/03/12 08:00", "b", 5, 5),
            ("A", 3, "2021-03-13T10:00:00+01:00", "c", 5, 5)]
    if option.get("dayfirst") or not option:
        rows.append(("A", 4, "14/03/2021 09:00", "d", 5, 5))   # numeric day-first beside them (proves the order)
    path = write(tmp_path, ema(rows))
    frame = load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"], **option))
    assert frame["timestamp"].dt.strftime("%m-%d").tolist()[:3] == ["03-11", "03-12", "03-13"]
    assert frame["text"].tolist()[:3] == ["a", "b", "c"]


# --- separators and spreadsheet exports ------------------------------------------------------------


def test_spreadsheet_leftovers_empty_named_columns_and_separator_rows_are_skipped(tmp_path):
    """Excel pads exports with empty trailing columns and rows of separators: they used to be
    'column '' appears more than once', an 'Unnamed: 6' column in the output, or 'empty participant'."""
    rows = [("A", 1, "04/03/2025 09:00", "a", 5, 5), ("A", 2, "13/03/2025 09:00", "b", 6, 4)]
    text = EMA_HEADER.replace(",", ";").replace("\n", ";;\r\n") + "".join(
        ";".join(map(str, r)) + ";;\r\n" for r in rows) + ";;;;;;;;\r\n;;;;;;;;\r\n"
    fmt = parse_format(MAPPING, ["valence=1:9", "arousal=1:9"], dayfirst=True)
    diary = read_diary(write(tmp_path, "\ufeff" + text), format=fmt)
    assert list(diary.raw.columns) == EMA_HEADER.strip().split(",") and len(diary.frame) == 2
    named_values = EMA_HEADER.strip() + ",\n" + "".join(",".join(map(str, r)) + ",\n" for r in rows[:1]) + \
        ",".join(map(str, rows[1])) + ",oops\n"
    with pytest.raises(VatrackError, match="row 2: column 7 has values but no name in the header"):
        read_diary(write(tmp_path, named_values, name="named.csv"), format=fmt)


def test_r_and_spss_missing_marks_are_no_rating_with_a_note(tmp_path, caplog):
    rows = [("A", 1, "2025-03-04 09:00", "a", "NA", 5), ("A", 2, "2025-03-05 09:00", "b", 6, "#N/A"),
            ("A", 3, "2025-03-06 09:00", "c", 7, 4)]
    with caplog.at_level("INFO", logger="vatrack"):
        diary = read_diary(write(tmp_path, ema(rows)), format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))
    assert diary.rated.tolist() == [False, False, True]
    assert "column 'sam_valence': read 1 value(s) like 'NA' as no rating (first: row 1)" in caplog.text
    with pytest.raises(VatrackError, match="'n.a.' is not a number"):   # anything else stays an error
        read_diary(write(tmp_path, ema([("A", 1, "2025-03-04 09:00", "a", "n.a.", 5)]), name="x.csv"),
                   format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))


def test_utf16_without_a_byte_order_mark_is_read(tmp_path):
    rows = [("A", 1, "04/03/2025 09:00", "müde", 5, 5), ("A", 2, "13/03/2025 09:00", "froh", 6, 4)]
    for encoding in ("utf-16-le", "utf-16-be"):
        path = write(tmp_path, ema(rows, sep="\t", header=EMA_HEADER), name=f"{encoding}.txt", encoding=encoding)
        frame = load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"], dayfirst=True))
        assert frame["text"].tolist() == ["müde", "froh"]


def test_semicolon_excel_export_with_bom_and_decimal_comma(tmp_path):
    rows = [("A", 1, "04/03/2025 09:00", "tired, but ok", "4,5", 3), ("A", 2, "13/03/2025 09:00", "fine", 7, "2,5")]
    text = EMA_HEADER.replace(",", ";") + "".join(
        ";".join(f'"{c}"' if "," in str(c) and i == 3 else str(c) for i, c in enumerate(r)) + "\r\n" for r in rows)
    path = write(tmp_path, "\ufeff" + text)
    frame = load_diary(path, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"], dayfirst=True))
    assert frame["text"].tolist() == ["tired, but ok", "fine"]
    assert frame["valence"].tolist() == pytest.approx([-0.25, 1.0])   # 4,5 on 1..9 -> -0.25
    assert frame["arousal"].tolist() == pytest.approx([0.5, 0.375])


def test_tab_separated_and_utf16_exports(tmp_path):
    rows = [("A", 1, "2025-03-04 09:00", "a", 5, 5), ("A", 2, "2025-03-05 09:00", "b", 6, 4)]
    fmt = parse_format(MAPPING, ["valence=1:9", "arousal=1:9"])
    tab = write(tmp_path, ema(rows, sep="\t"), name="tab.tsv")
    utf16 = write(tmp_path, ema(rows, sep="\t").encode("utf-16"), name="utf16.txt")
    for path in (tab, utf16):
        assert load_diary(path, format=fmt)["text"].tolist() == ["a", "b"]


def test_explicit_separator_and_an_ambiguous_header(tmp_path):
    # The header splits on both ',' and ';' and so does every row: ask, do not guess.
    path = write(tmp_path, "user_id;text_id,text;timestamp\n1;1,hi;2025-01-01\n")
    with pytest.raises(VatrackError, match="cannot tell the separator.*pass `sep` \\(e.g. `sep=';'`\\)"):
        read_diary(path)
    frame = load_diary(write(tmp_path, "user_id|text_id|text|timestamp\n1|1|a, b; c|2025-01-01\n", name="p.csv"),
                       format=parse_format(sep="|"))
    assert frame["text"].tolist() == ["a, b; c"]


def test_text_id_is_optional_and_numbered_by_row(tmp_path):
    path = write(tmp_path, "user_id,timestamp,text\nA,2025-01-02,b\nA,2025-01-01,a\n")
    frame = load_diary(path)
    assert frame["text_id"].tolist() == ["2", "1"] and frame["text"].tolist() == ["a", "b"]


def test_timestamp_dot_local_is_not_a_duplicate(tmp_path):
    path = write(tmp_path, "user_id,text_id,text,timestamp,timestamp.local\n1,1,a,2025-01-01,x\n")
    assert load_diary(path)["timestamp.local"].tolist() == ["x"]


def test_very_long_text_field_loads(tmp_path):
    long_text = "word " * 50_000   # 250,000 characters: beyond the csv module's default field limit
    path = write(tmp_path, f"user_id,text_id,text,timestamp\n1,1,\"{long_text}\",2025-01-01\n")
    assert len(load_diary(path)["text"].iat[0]) == len(long_text)


def test_load_diary_takes_a_dataframe():
    frame = pd.DataFrame({"who": ["a", "a"], "when": pd.to_datetime(["2025-01-02", "2025-01-01"]),
                          "text": ["b", "a"], "v": [1.0, None], "a": [0.5, 1.5]})
    fmt = parse_format(["user_id=who", "timestamp=when", "valence=v", "arousal=a"])
    loaded = load_diary(frame, format=fmt)
    assert loaded["text"].tolist() == ["a", "b"] and np.isnan(loaded["valence"].iat[0])
    assert load_diary(frame, format=fmt, require_labels=True)["text"].tolist() == ["b"]


def test_unrated_rows_are_left_out_of_training_with_a_note_naming_the_first_file_row(tmp_path, caplog):
    rows = [("B", 1, "2025-03-05 09:00", "x", 5, 5), ("A", 1, "2025-03-04 09:00", "a", 5, 5),
            ("B", 2, "2025-03-06 09:00", "y", "", ""), ("A", 2, "2025-03-01 09:00", "b", "", "")]
    path = write(tmp_path, ema(rows))
    with caplog.at_level("INFO", logger="vatrack"):
        frame = load_diary(path, require_labels=True, format=parse_format(MAPPING, ["valence=1:9", "arousal=1:9"]))
    assert frame["text"].tolist() == ["a", "x"]
    # Sorted by person and time, A's unrated entry comes first; the note counts rows as the file does.
    assert any("2 of 4 rows lack a rating (first: row 3)" in r.getMessage() for r in caplog.records)
