"""Official submission files: check a prediction frame, then write it atomically.

Formats (one CSV per task, exactly these columns in this order):

* ``pred_subtask1.csv``  user_id, text_id, pred_valence, pred_arousal
* ``pred_subtask2a.csv`` user_id, pred_state_change_valence, pred_state_change_arousal
* ``pred_subtask2b.csv`` user_id, pred_disp_change_valence, pred_disp_change_arousal

Keys are written as strings exactly as they came in (``"007"`` stays ``"007"``). Other
columns of the frame are left out of the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vatrack.errors import VatrackError
from vatrack.evaluation.metrics import KEY_COLUMNS, PRED_COLUMNS, check_task
from vatrack.io import write_csv

SUBMISSION_FILES = {task: f"pred_{task}.csv" for task in KEY_COLUMNS}
SUBMISSION_COLUMNS = {task: (*KEY_COLUMNS[task], *PRED_COLUMNS[task]) for task in KEY_COLUMNS}


def _key_text(row) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in row.items())


def _keys_as_strings(frame: pd.DataFrame, keys, label: str) -> pd.DataFrame:
    """Key columns as plain str; a missing key is an error."""
    out = pd.DataFrame(index=frame.index)
    for col in keys:
        values = frame[col]
        bad = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise VatrackError(f"{label}, column '{col}', row {row}: key is missing; every row needs a {col}")
        out[col] = values.astype(str).astype(object)
    return out


def check_submission(frame: pd.DataFrame, task: str, expected_keys: pd.DataFrame | None = None, *, label: str | None = None) -> pd.DataFrame:
    """Validate ``frame`` as a ``task`` submission and return it in the official layout.

    Raises :class:`VatrackError` for a missing column, a missing key or value, a value that
    is not a finite number, a duplicated key, and (given ``expected_keys``, a frame of the
    key columns) keys that are missing from or not in ``expected_keys``. ``label`` names
    the source in messages (default "<task> predictions").
    """
    check_task(task)
    label = label or f"{task} predictions"
    keys, preds = KEY_COLUMNS[task], PRED_COLUMNS[task]
    missing = [c for c in (*keys, *preds) if c not in frame.columns]
    if missing:
        raise VatrackError(f"{label} lacks column(s) {', '.join(repr(c) for c in missing)}; a {task} submission needs {', '.join(SUBMISSION_COLUMNS[task])}")
    if len(frame) == 0:
        raise VatrackError(f"{label} has no rows")

    out = _keys_as_strings(frame, keys, label)
    for col in preds:
        values = pd.to_numeric(frame[col], errors="coerce").astype(float)
        bad = ~np.isfinite(values.to_numpy())
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raw = frame[col].iloc[i]
            why = "value is missing" if pd.isna(raw) else f"{raw!r} is not a finite number"
            raise VatrackError(f"{label}, column '{col}', row {i + 1}: {why}; every prediction must be a finite number")
        out[col] = values.to_numpy()

    dup = out.duplicated(list(keys))
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise VatrackError(f"{label}, row {i + 1}: duplicate key {_key_text(out.iloc[i][list(keys)])}; each key must appear once")

    if expected_keys is not None:
        _compare_keys(out, expected_keys, keys, label)
    return out.reset_index(drop=True)


def _compare_keys(out: pd.DataFrame, expected_keys: pd.DataFrame, keys, label: str) -> None:
    """Both directions: every expected key predicted, nothing predicted that is not expected."""
    missing_cols = [c for c in keys if c not in expected_keys.columns]
    if missing_cols:
        raise VatrackError(f"expected keys lack column(s) {', '.join(repr(c) for c in missing_cols)}")
    expected = _keys_as_strings(expected_keys, keys, "expected keys").drop_duplicates()
    have = pd.MultiIndex.from_frame(out[list(keys)])
    want = pd.MultiIndex.from_frame(expected[list(keys)])
    absent = ~want.isin(have)
    if absent.any():
        first = expected.loc[absent].iloc[0]
        raise VatrackError(f"{label} misses {int(absent.sum())} expected key(s), first {_key_text(first)}; predict every expected row")
    extra = ~have.isin(want)
    if extra.any():
        i = int(np.flatnonzero(extra)[0])
        raise VatrackError(f"{label}, row {i + 1}: key {_key_text(out.iloc[i][list(keys)])} is not expected ({int(extra.sum())} unexpected key(s)); drop rows outside the test set")


def write_submission(frame: pd.DataFrame, task: str, path, expected_keys: pd.DataFrame | None = None) -> Path:
    """Check ``frame`` and write the official CSV to ``path`` atomically; return the path.

    If ``path`` is an existing folder the official file name is used inside it. Nothing is
    written when the check fails.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SUBMISSION_FILES[check_task(task)]
    clean = check_submission(frame, task, expected_keys, label=str(path))
    return write_csv(path, clean[list(SUBMISSION_COLUMNS[task])])
