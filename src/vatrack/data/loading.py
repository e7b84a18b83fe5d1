"""Load and validate diary CSVs (the task's files or anyone's own diary).

Every problem is reported as one line naming the file, the column and the first
offending data row (1-based, header excluded), as a VatrackError. A :class:`DiaryFormat`
says how the user's file maps onto vatrack (columns, rating scales, dates, separator);
ratings come back on the model's scale. Things worth knowing but not wrong (dates read
day-first because a value proves it, unrated rows left out of training) are logged as
notes on the ``vatrack`` logger, which the CLI prints.

Empty text: a missing or blank ``text`` cell is read as the empty string, not an error —
"feeling words" entries can be blank in real diaries and the encoders handle "" fine.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vatrack.data.format import MAPPABLE, DiaryFormat
from vatrack.data.schema import KEYS, LABELS, OPTIONAL, REQUIRED
from vatrack.errors import VatrackError, where

log = logging.getLogger("vatrack.data")

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}
# Diaries hold long essays; the csv module's default field limit (128 KiB) is not a data rule.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class Diary:
    """A loaded diary: the model's view and the file as the user wrote it.

    ``frame``: canonical columns, ratings on the model's scale, sorted by user then time.
    ``raw``: every column of the file as text, in the file's row order.
    ``row``: for each row of ``frame``, its position in ``raw`` (0-based).
    """

    frame: pd.DataFrame
    raw: pd.DataFrame
    row: np.ndarray
    format: DiaryFormat
    path: str

    @property
    def rated(self) -> np.ndarray:
        """Rows of ``frame`` with both ratings."""
        return self.frame[list(LABELS)].notna().all(axis=1).to_numpy()


def load_diary(source, *, require_labels: bool = False, required=REQUIRED, format: DiaryFormat | None = None,
               ignore_labels: bool = False) -> pd.DataFrame:
    """Read a CSV path (or take a DataFrame), validate every column, return rows sorted by user then time.

    ``ignore_labels``: valence/arousal columns are dropped unread (inputs to predict: a label
    the command does not use must not fail it).
    ``require_labels``: the file must have valence and arousal columns; rows without both
    ratings are left out (with a note), and a file with no rated row is an error.
    ``format``: the file's own column names, rating scales, date order and separator.
    """
    diary = read_diary(source, required=required, format=format, need_label_columns=require_labels,
                       ignore_labels=ignore_labels and not require_labels)
    if not require_labels:
        return diary.frame
    rated = diary.rated
    if not rated.any():
        raise VatrackError(f"{where(diary.path, 'valence')}: no row has both valence and arousal; training needs rated rows")
    if not rated.all():
        first = int(diary.row[~rated].min()) + 1   # in the file's order, as every message counts rows
        log.info(f"{diary.path}: {int((~rated).sum())} of {len(rated)} rows lack a rating (first: row {first}); "
                 "they are left out of training (`vatrack track` predicts them)")
    return diary.frame[rated].reset_index(drop=True)


def read_diary(source, *, required=REQUIRED, format: DiaryFormat | None = None, need_label_columns: bool = False,
               ignore_labels: bool = False) -> Diary:
    """Read and validate ``source`` (a CSV path or a DataFrame); see :class:`Diary`."""
    format = format or DiaryFormat()
    if isinstance(source, pd.DataFrame):
        path = "<DataFrame>"
        raw = _raw_from_frame(source, path)
    else:
        path = Path(source)
        raw = _read_raw(path, format)
    frame = _validated(raw, path, required, need_label_columns, format, ignore_labels=ignore_labels)
    if isinstance(source, pd.DataFrame):
        frame = _callers_columns(frame, source, format)
    frame["_row"] = np.arange(len(frame))
    ties = frame.duplicated(["user_id", "timestamp"], keep=False).to_numpy()
    if ties.any():
        ids = format.columns.get("text_id", "text_id")
        order = (f"by their {ids}" if ids in raw.columns else
                 "as in the file (map a column that orders them with `columns={'text_id': 'YOURS'}`)")
        log.info(f"{path}: {int(ties.sum())} entries share their date and time with another entry of the same person "
                 f"(first: row {int(np.argmax(ties)) + 1}); they are ordered {order}")
    frame = sort_diary(frame)
    row = frame.pop("_row").to_numpy()
    return Diary(frame=frame, raw=raw, row=row, format=format, path=str(path))


def read_frame(frame, name: str = "frame", *, required=REQUIRED, labels: bool = False) -> pd.DataFrame:
    """A caller's DataFrame, validated as :func:`load_diary` validates a file, in the caller's row order.

    What ``fit`` / ``predict`` read (through ``vatrack.features.diary_frame``): the same column
    checks, types, scales and dates as a file, and the canonical columns filled (``is_words``
    False, ``collection_phase`` missing). Messages name ``name``, the parameter the frame came
    in (``train, column 'valence', row 3: ...``), and count rows in the frame's order. Unlike a
    file, rows keep their order, ``text_id`` is not numbered for the caller when ``required``
    names it (predictions are keyed by it), and with ``labels`` every row needs valence and
    arousal (``load_diary(frame, require_labels=True)`` leaves unrated rows out instead).
    Columns vatrack does not know pass through with the caller's values.
    """
    if not isinstance(frame, pd.DataFrame):
        raise VatrackError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    raw = _raw_from_frame(frame, name, allow_empty=True)
    out = _validated(raw, name, required, labels, DiaryFormat(), number_texts=False)
    out = _callers_columns(out, frame, DiaryFormat())
    # inputs to predict stay without label columns
    out = out.drop(columns=[c for c in LABELS if c not in {str(c).strip() for c in frame.columns}])
    if labels and len(out):
        unrated = out[list(LABELS)].isna().to_numpy()
        if unrated.any():
            i, j = divmod(int(np.argmax(unrated)), len(LABELS))
            raise VatrackError(f"{where(name, LABELS[j], i + 1)}: missing label; training needs valence and arousal on "
                               "every row (leave unrated rows out, as load_diary(frame, require_labels=True) does)")
    return out


def _callers_columns(out: pd.DataFrame, source: pd.DataFrame, format: DiaryFormat) -> pd.DataFrame:
    """Columns vatrack does not know keep the caller's values (not their text), in ``out``'s row order."""
    mapped = set(format.columns.values())
    for column in source.columns:
        name = str(column).strip()
        if name not in {*REQUIRED, *OPTIONAL} and name not in mapped and name in out:
            out[name] = source[column].to_numpy()
    return out


def _validated(raw: pd.DataFrame, path, required, need_label_columns: bool, format: DiaryFormat,
               number_texts: bool = True, ignore_labels: bool = False) -> pd.DataFrame:
    """The canonical frame of ``raw`` (the source as text), in ``raw``'s row order; every check."""
    named = format.rename(raw, path)
    if ignore_labels:
        named = named.drop(columns=[c for c in LABELS if c in named.columns])
    _check_columns(named, path, required, need_label_columns, number_texts, from_frame=bool(raw.attrs.get("frame")))
    frame = pd.DataFrame(index=named.index)
    for column in named.columns:
        values = named[column]
        shown = format.columns.get(column, column)   # messages name the user's own column
        if column in ("user_id", "text_id"):
            frame[column] = _keys(values, path, shown)
        elif column == "text":
            frame[column] = values.fillna("").astype(str)
            blank = (frame[column].str.strip() == "").to_numpy()
            if blank.any():  # kept (blank feeling-word entries happen), but never silently
                n, first = int(blank.sum()), int(np.argmax(blank)) + 1
                log.info(f"{where(path, shown)}: {n} entr{'y has' if n == 1 else 'ies have'} no text (first: row {first}); "
                         "read as an empty text, so the words add nothing to their predictions")
        elif column == "timestamp":
            frame[column], note = format.parse_dates(values, path, shown)
            if note:
                log.info(note)
        elif column in OPTIONAL:
            values.attrs["decimal_comma"] = raw.attrs.get("sep", ",") != ","
            frame[column] = _typed(values, path, column, OPTIONAL[column], format, shown)
        else:
            frame[column] = values  # unknown extra columns pass through untouched
    if "text_id" not in frame and number_texts:
        copies = frame.duplicated([c for c in ("user_id", "timestamp", "text") if c in frame], keep=False).to_numpy()
        if copies.any():  # numbering the rows would make two ids of one entry, and CV would hold out its twin
            first = int(np.argmax(copies))
            twin = next(j for j in range(first + 1, len(frame)) if copies[j] and frame.iloc[j][["user_id", "timestamp", "text"]]
                        .equals(frame.iloc[first][["user_id", "timestamp", "text"]]))
            raise VatrackError(f"{path}: rows {first + 1} and {twin + 1} are the same entry (same "
                               f"{format.columns.get('user_id', 'user_id')}, {format.columns.get('timestamp', 'timestamp')} "
                               "and text); remove the copy, or map a column that tells entries apart with "
                               "`columns={'text_id': 'YOURS'}`")
        frame.insert(1, "text_id", [str(i + 1) for i in range(len(frame))])
        log.info(f"{path}: no text_id column; entries are numbered by their row in the file")
    if "is_words" not in frame:
        frame["is_words"] = False
    if "collection_phase" not in frame:
        frame["collection_phase"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    for label in LABELS:
        if label not in frame:
            frame[label] = np.nan
    duplicated = frame.duplicated(list(KEYS)).to_numpy() if set(KEYS) <= set(frame) else np.zeros(len(frame), bool)
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise VatrackError(
            f"{where(path, format.columns.get('text_id', 'text_id'), i + 1)}: duplicate ({format.columns.get('user_id', 'user_id')}, "
            f"{format.columns.get('text_id', 'text_id')}) = ({frame.user_id.iat[i]}, {frame.text_id.iat[i]}); every text needs its own id"
        )
    return frame


def sort_diary(frame: pd.DataFrame) -> pd.DataFrame:
    """Order rows by user, then timestamp; entries of one person at the same time by text_id
    (numerically when the ids are numbers), then file order — so the order, and the lags and
    statistics built on it, do not depend on how the file's rows were sorted."""
    order = frame.assign(_user=_id_sort_key(frame["user_id"]), _pos=np.arange(len(frame)))
    keys = ["_user", "user_id", "timestamp"]
    if "text_id" in frame and frame.duplicated(["user_id", "timestamp"]).any():
        order["_tid"] = _id_sort_key(frame["text_id"])
        order["_tid_text"] = frame["text_id"].astype(str)
        keys += ["_tid", "_tid_text"]
    order = order.sort_values([*keys, "_pos"], kind="mergesort")
    return order.drop(columns=[c for c in ("_user", "_pos", "_tid", "_tid_text") if c in order]).reset_index(drop=True)


def _id_sort_key(ids: pd.Series) -> pd.Series:
    # Numeric ids (users, texts) sort numerically (2 before 10); anything else sorts after, as text.
    numbers = pd.to_numeric(ids, errors="coerce")
    return numbers.fillna(np.inf)


def _raw_from_frame(source: pd.DataFrame, path: str, allow_empty: bool = False) -> pd.DataFrame:
    """A caller's DataFrame as the loader's raw text table (timestamps and numbers as text)."""
    if len(source) == 0 and not allow_empty:
        raise VatrackError(f"{path}: has no rows")
    names = [str(c).strip() for c in source.columns]
    twice = [c for c in names if names.count(c) > 1]
    if twice:
        raise VatrackError(f"{path}: column '{twice[0]}' appears more than once")
    raw = pd.DataFrame(index=range(len(source)))
    for column, name in zip(source.columns, names):
        values = source[column].reset_index(drop=True)
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)   # a zone is read as UTC, as in a file
        if pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime("%Y-%m-%d %H:%M:%S.%f").where(values.notna(), None)
        else:
            text = values.astype(object).where(values.notna(), None).map(str, na_action="ignore")
        raw[name] = text
    raw.attrs["frame"] = True
    return raw


def _read_raw(path: Path, format: DiaryFormat) -> pd.DataFrame:
    if not path.exists():
        raise VatrackError(f"{path}: file not found")
    if path.is_dir():
        raise VatrackError(f"{path}: is a folder, expected a CSV file")
    data = path.read_bytes()
    try:
        # Excel's "Unicode text" export is UTF-16 with a byte-order mark; some tools write it
        # without one: then every other byte of plain text is zero, which no UTF-8 CSV has.
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = data.decode("utf-16")
        elif len(data) >= 4 and data[1::2].count(0) > 0.9 * len(data[1::2]):
            text = data.decode("utf-16-le")
        elif len(data) >= 4 and data[0::2].count(0) > 0.9 * len(data[0::2]):
            text = data.decode("utf-16-be")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise VatrackError(f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8 CSV") from None
    if "\x00" in text:
        raise VatrackError(f"{path}: contains NUL bytes; this is not a CSV text file")
    if not text.strip():
        raise VatrackError(f"{path}: file is empty; expected a CSV header and rows")
    try:
        sep = format.pick_separator(text, path)
        # Rows of separators only (spreadsheet padding) are blank lines, whatever their width.
        text = "".join(line for line in text.splitlines(keepends=True) if line.strip(sep + " \t\r\n") or not line.strip())
        _check_field_counts(text, path, sep)
    except csv.Error as err:   # e.g. a lone carriage return inside a field
        raise VatrackError(f"{path}: not a readable CSV ({err}); save it again as CSV") from None
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], sep=sep,
                          engine="python" if sep not in (",", ";", "\t", "|") else "c")
    except (pd.errors.ParserError, ValueError, csv.Error) as err:
        raise VatrackError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    header = next(csv.reader(io.StringIO(text), delimiter=sep))
    nameless = [i for i, name in enumerate(header) if not name.strip()]
    for i in nameless:  # spreadsheets export empty trailing columns with an empty name: drop those
        if raw.iloc[:, i].notna().any():
            first = int(raw.iloc[:, i].notna().to_numpy().argmax()) + 1
            raise VatrackError(f"{where(path, row=first)}: column {i + 1} has values but no name in the header; name it")
    raw = raw.drop(columns=raw.columns[nameless])
    raw.columns = [str(c).strip() for c in raw.columns]
    raw = raw[raw.notna().any(axis=1)].reset_index(drop=True)   # rows of separators only are blank lines
    if len(raw) == 0:
        raise VatrackError(f"{path}: has a header but no data rows")
    raw.attrs["sep"] = sep
    return raw


def _check_field_counts(text: str, path: Path, sep: str) -> None:
    # pandas silently pads short rows and fails cryptically on long ones; say which row.
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = [c.strip() for c in next(reader)]
    twice = [c for c in header if c and header.count(c) > 1]
    if twice:
        raise VatrackError(f"{path}: column '{twice[0]}' appears more than once in the header")
    width = len(header)
    for n, fields in enumerate(reader, start=1):
        if not fields or not any(f.strip() for f in fields):
            continue  # blank line, or one of separators only
        if len(fields) != width:
            raise VatrackError(f"{where(path, row=n)}: has {len(fields)} fields but the header has {width}; check quoting and separators")


def _check_columns(raw, path, required, need_labels, number_texts: bool = True, from_frame: bool = False) -> None:
    """Every missing column at once, with what the file has and how to map it."""
    need = [c for c in required if c != "text_id" or not number_texts] + (list(LABELS) if need_labels else [])
    missing = [c for c in need if c not in raw.columns]
    if missing:
        unmapped = [c for c in raw.columns if c not in MAPPABLE]
        if from_frame:   # a DataFrame: its columns are renamed in pandas
            hint = (f"; rename yours, e.g. .rename(columns={{'{unmapped[0]}': '{missing[0]}'}})" if unmapped
                    else f"; a diary frame has {', '.join(REQUIRED)} (+ {', '.join(LABELS)} to train)")
        else:
            hint = (f"; map yours with `columns`, e.g. `columns={{'{missing[0]}': '{unmapped[0]}'}}`" if unmapped
                    else "; map yours with `columns={'VATRACK': 'YOURS'}`")
        raise VatrackError(f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} "
                           f"(columns found: {', '.join(raw.columns)}){hint}")


def _row(mask) -> int:
    return int(np.argmax(np.asarray(mask))) + 1


def _keys(values: pd.Series, path, column) -> pd.Series:
    stripped = values.fillna("").astype(str).str.strip()
    empty = (stripped == "").to_numpy()
    if empty.any():
        raise VatrackError(f"{where(path, column, _row(empty))}: empty {column}; every row needs one")
    # "3" and "3.0" from a spreadsheet mean the same user; normalise integral floats (the regex
    # only where a "." is: it was most of the time of reading a large frame).
    dotted = stripped.str.contains(".", regex=False).to_numpy()
    if dotted.any():
        stripped = stripped.copy()
        stripped[dotted] = stripped[dotted].str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    return stripped


_MISSING_MARKS = {"NA", "N/A", "NAN", "#N/A"}


def _typed(values: pd.Series, path, column, kind, format: DiaryFormat, shown: str) -> pd.Series:
    """``values`` as ``kind``; ``column`` is vatrack's name, ``shown`` the file's (for messages)."""
    if kind == "bool":
        lowered = values.fillna("").astype(str).str.strip().str.lower()
        bad = ~lowered.isin(_TRUE | _FALSE | {""})
        if bad.any():
            i = _row(bad.to_numpy())
            raise VatrackError(f"{where(path, shown, i)}: '{values.iat[i - 1]}' is not True/False")
        return lowered.isin(_TRUE)
    if kind == "label" and values.attrs.get("decimal_comma"):
        # A semicolon/tab export from a spreadsheet in most of Europe writes 4,5 for 4.5.
        values = values.str.replace(r"^\s*(-?\d+),(\d+)\s*$", r"\1.\2", regex=True)
    if kind == "label":
        # R, SPSS and Excel mark a missing rating NA, N/A, NaN or #N/A: no rating, said once.
        missing = values.fillna("").astype(str).str.strip().str.upper().isin(_MISSING_MARKS).to_numpy()
        if missing.any():
            log.info(f"{where(path, shown)}: read {int(missing.sum())} value(s) like '{values[missing].iat[0]}' as no rating "
                     f"(first: row {_row(missing)})")
            values = values.mask(missing)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy()
    if bad.any():
        i = _row(bad)
        raise VatrackError(f"{where(path, shown, i)}: '{values.iat[i - 1]}' is not a number")
    finite = np.isfinite(numbers.fillna(0).to_numpy(dtype=float))
    if not finite.all():
        raise VatrackError(f"{where(path, shown, _row(~finite))}: value is not finite")
    if kind == "label":
        low, high = format.user_scale(column)
        outside = ((numbers < low) | (numbers > high)).to_numpy()
        if outside.any():
            i = _row(outside)
            how = ("set with `scales`" if column in format.scales
                   else f"the model's own; give yours with `scales={{'{column}': (LO, HI)}}`")
            raise VatrackError(f"{where(path, shown, i)}: {numbers.iat[i - 1]:g} is outside the {column} scale "
                               f"{low:g}..{high:g} ({how})")
        return pd.Series(format.to_model(column, numbers), index=numbers.index)
    if kind == "int":
        frac = (numbers.dropna() % 1 != 0)
        if frac.any():
            i = int(np.flatnonzero(numbers.notna().to_numpy())[np.argmax(frac.to_numpy())]) + 1
            raise VatrackError(f"{where(path, shown, i)}: '{values.iat[i - 1]}' is not a whole number")
        return numbers.astype("Int64")
    return numbers.astype(float)
