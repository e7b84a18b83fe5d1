"""The frame every model reads, from whatever DataFrame a caller passes to fit / predict.

``vatrack.data.load_diary`` returns frames in the canonical shape (docs/architecture.md).
Library users also build frames by hand; a model accepts any DataFrame with

    user_id, text_id, text, timestamp            (+ valence, arousal to train)

and fills what is optional: ``is_words`` False, ``collection_phase`` missing. Keys become
strings and timestamps datetime64[ns], as load_diary makes them. Row order is kept, so
predictions line up with the caller's rows. This is not a validator of files (load_diary
is): it only makes a hand-made frame readable, and names the first thing it cannot read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vatrack.data import LABELS
from vatrack.errors import VatrackError

CANONICAL = ("user_id", "text_id", "text", "timestamp")


def diary_frame(frame, what: str = "frame", required=CANONICAL, labels: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` in the canonical column types, optional columns filled.

    ``what`` names the argument in messages (e.g. "train"); ``labels`` demands valence and
    arousal on every row.
    """
    if not isinstance(frame, pd.DataFrame):
        raise VatrackError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    need = [*required, *(LABELS if labels else ())]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise VatrackError(f"{what} lacks column(s) {', '.join(map(repr, missing))}; a diary frame has "
                           f"{', '.join(CANONICAL)} (+ {', '.join(LABELS)} to train), is_words optional")
    out = frame.reset_index(drop=True).copy()
    for key in ("user_id", "text_id"):
        if key in out:
            out[key] = out[key].astype(str)
    if "text" in out:
        out["text"] = out["text"].fillna("").astype(str)
    if "timestamp" in out:
        out["timestamp"] = _datetimes(out["timestamp"], what)
    out["is_words"] = out["is_words"].fillna(False).astype(bool) if "is_words" in out else False
    if "collection_phase" not in out:
        out["collection_phase"] = pd.array([pd.NA] * len(out), dtype="Int64")
    if labels:
        for label in LABELS:
            values = pd.to_numeric(out[label], errors="coerce")
            bad = values.isna().to_numpy()
            if bad.any():
                raise VatrackError(f"{what}, column '{label}', row {int(np.argmax(bad)) + 1}: missing label (or not a number); "
                                   "training needs valence and arousal on every row")
            out[label] = values.astype(float)
    return out


def _datetimes(values: pd.Series, what: str) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise VatrackError(f"{what}, column 'timestamp', row {i + 1}: cannot read '{values.iat[i]}' as a time; "
                               "use datetimes or text like 2021-06-09 12:41:57")
        values = parsed.dt.tz_localize(None)
    return values.astype("datetime64[ns]")
