"""Load and validate diary CSVs (the task's files or any diary in the same shape).

Every problem is reported as one line naming the file, the column and the first
offending data row (1-based, header excluded), as a VatrackError.

Empty text: a missing or blank ``text`` cell is read as the empty string, not an error —
"feeling words" entries can be blank in real diaries and the encoders handle "" fine.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from vatrack.data.schema import KEYS, OPTIONAL, REQUIRED, SCALES
from vatrack.errors import VatrackError, where

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def load_diary(path, *, require_labels: bool = False, required=REQUIRED) -> pd.DataFrame:
    """Read ``path``, validate every column present, return rows sorted by user then time.

    ``require_labels`` demands valence and arousal with no missing values (training data).
    """
    path = Path(path)
    raw = _read_raw(path)
    _check_columns(raw, path, required, require_labels)
    frame = pd.DataFrame(index=raw.index)
    for column in raw.columns:
        values = raw[column]
        if column in ("user_id", "text_id"):
            frame[column] = _keys(values, path, column)
        elif column == "text":
            frame[column] = values.fillna("").astype(str)
        elif column == "timestamp":
            frame[column] = _timestamps(values, path)
        elif column in OPTIONAL:
            frame[column] = _typed(values, path, column, OPTIONAL[column])
        else:
            frame[column] = values  # unknown extra columns pass through untouched
    if require_labels:
        for label in ("valence", "arousal"):
            missing = frame[label].isna().to_numpy()
            if missing.any():
                raise VatrackError(f"{where(path, label, _row(missing))}: missing label; training data needs valence and arousal on every row")
    if "is_words" not in frame:
        frame["is_words"] = False
    if "collection_phase" not in frame:
        frame["collection_phase"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    for label in ("valence", "arousal"):
        if label not in frame:
            frame[label] = np.nan
    duplicated = frame.duplicated(list(KEYS)).to_numpy()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise VatrackError(
            f"{where(path, 'text_id', i + 1)}: duplicate (user_id, text_id) = ({frame.user_id.iat[i]}, {frame.text_id.iat[i]}); every text needs its own id"
        )
    return sort_diary(frame)


def sort_diary(frame: pd.DataFrame) -> pd.DataFrame:
    """Order rows by user, then timestamp; ties keep file order (stable)."""
    order = frame.assign(_user=_user_sort_key(frame["user_id"]), _pos=np.arange(len(frame)))
    order = order.sort_values(["_user", "user_id", "timestamp", "_pos"], kind="mergesort")
    return order.drop(columns=["_user", "_pos"]).reset_index(drop=True)


def _user_sort_key(users: pd.Series) -> pd.Series:
    # Numeric ids sort numerically (2 before 10); anything else sorts after, as text.
    numbers = pd.to_numeric(users, errors="coerce")
    return numbers.fillna(np.inf)


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise VatrackError(f"{path}: file not found")
    if path.is_dir():
        raise VatrackError(f"{path}: is a folder, expected a CSV file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise VatrackError(f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8 CSV") from None
    if "\x00" in text:
        raise VatrackError(f"{path}: contains NUL bytes; this is not a CSV text file")
    if not text.strip():
        raise VatrackError(f"{path}: file is empty; expected a CSV header and rows")
    _check_field_counts(text, path)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, ValueError) as err:
        raise VatrackError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    if len(raw) == 0:
        raise VatrackError(f"{path}: has a header but no data rows")
    return raw


def _check_field_counts(text: str, path: Path) -> None:
    # pandas silently pads short rows and fails cryptically on long ones; say which row.
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    width = len(header)
    for n, fields in enumerate(reader, start=1):
        if not fields:
            continue  # blank line
        if len(fields) != width:
            raise VatrackError(f"{where(path, row=n)}: has {len(fields)} fields but the header has {width}; check quoting and commas")


def _check_columns(raw, path, required, require_labels) -> None:
    need = list(required) + (["valence", "arousal"] if require_labels else [])
    for column in need:
        if column not in raw.columns:
            raise VatrackError(f"{where(path, column)}: required column is missing (columns found: {', '.join(raw.columns)})")
    duplicated = [c for c in raw.columns if list(raw.columns).count(c) > 1 or "." in c and c.split(".")[0] in raw.columns]
    if duplicated:
        raise VatrackError(f"{path}: column '{duplicated[0]}' appears more than once in the header")


def _row(mask) -> int:
    return int(np.argmax(np.asarray(mask))) + 1


def _keys(values: pd.Series, path, column) -> pd.Series:
    stripped = values.fillna("").astype(str).str.strip()
    empty = (stripped == "").to_numpy()
    if empty.any():
        raise VatrackError(f"{where(path, column, _row(empty))}: empty {column}; every row needs one")
    # "3" and "3.0" from a spreadsheet mean the same user; normalise integral floats.
    return stripped.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def _timestamps(values: pd.Series, path) -> pd.Series:
    text = values.fillna("").astype(str).str.strip()
    # Formats may mix within a file. A timestamp with a zone is converted to UTC; one
    # without is taken as it stands (utc=True leaves naive wall-clock values unchanged).
    parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = _row(bad)
        raise VatrackError(f"{where(path, 'timestamp', i)}: cannot parse timestamp '{text.iat[i - 1]}'; use e.g. 2021-06-09 12:41:57")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def _typed(values: pd.Series, path, column, kind) -> pd.Series:
    if kind == "bool":
        lowered = values.fillna("").astype(str).str.strip().str.lower()
        bad = ~lowered.isin(_TRUE | _FALSE | {""})
        if bad.any():
            i = _row(bad.to_numpy())
            raise VatrackError(f"{where(path, column, i)}: '{values.iat[i - 1]}' is not True/False")
        return lowered.isin(_TRUE)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy()
    if bad.any():
        i = _row(bad)
        raise VatrackError(f"{where(path, column, i)}: '{values.iat[i - 1]}' is not a number")
    finite = np.isfinite(numbers.fillna(0).to_numpy(dtype=float))
    if not finite.all():
        raise VatrackError(f"{where(path, column, _row(~finite))}: value is not finite")
    if kind == "label":
        low, high = SCALES[column]
        outside = ((numbers < low) | (numbers > high)).to_numpy()
        if outside.any():
            i = _row(outside)
            raise VatrackError(f"{where(path, column, i)}: {numbers.iat[i - 1]:g} is outside the {column} scale {low:g}..{high:g}")
        return numbers.astype(float)
    if kind == "int":
        frac = (numbers.dropna() % 1 != 0)
        if frac.any():
            i = int(np.flatnonzero(numbers.notna().to_numpy())[np.argmax(frac.to_numpy())]) + 1
            raise VatrackError(f"{where(path, column, i)}: '{values.iat[i - 1]}' is not a whole number")
        return numbers.astype("Int64")
    return numbers.astype(float)
