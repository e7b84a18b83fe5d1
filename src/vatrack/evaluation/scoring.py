"""Score an official prediction file against a gold file, and show the result.

Both files are read with every column as text, so keys stay exactly as written, and each
problem is reported as one line naming the file, the column and the first offending
1-based data row (the header is not counted).
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table

from vatrack.errors import VatrackError, where
from vatrack.evaluation.metrics import (
    DIMS,
    GOLD_ALIASES,
    GOLD_COLUMNS,
    KEY_COLUMNS,
    PRED_COLUMNS,
    SEEN_COLUMN,
    check_task,
    seen_mask,
    subtask1_metrics,
    subtask2_metrics,
)

# Text that means "no value" in a numeric column.
_MISSING_TOKENS = {"", "na", "nan", "n/a", "null", "none"}


# -- reading -------------------------------------------------------------------------------


def _read_text_csv(path, what: str) -> pd.DataFrame:
    """Read a CSV with every column as str; clear errors for the usual file problems."""
    path = Path(path)
    if not path.is_file():
        raise VatrackError(f"{what} file {path} does not exist")
    raw = path.read_bytes()
    try:
        # utf-8-sig: a spreadsheet's byte-order mark must not become part of the first header.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise VatrackError(f"{path}: not UTF-8 text (bad byte at line {line}); save the file as UTF-8") from None
    if not text.strip():
        raise VatrackError(f"{path} is empty; expected a CSV with a header row")
    try:
        # keep_default_na=False: a key such as "NA" stays a key, not a missing value.
        # index_col=False plus the warning as an error: rows longer than the header must
        # fail, not silently turn the first columns into an index and shift the keys.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
        raise VatrackError(f"{path}: cannot be read as CSV ({' '.join(str(exc).split())})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise VatrackError(f"{path} has a header but no data rows")
    return frame


def _check_columns(frame: pd.DataFrame, path, columns) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise VatrackError(f"{path} lacks column(s) {', '.join(repr(c) for c in missing)}; found: {', '.join(frame.columns)}")


def _parse_keys(frame: pd.DataFrame, path, keys) -> None:
    for col in keys:
        # Short rows leave NaN even with keep_default_na=False; treat them as empty keys.
        frame[col] = frame[col].fillna("").astype(object)
        # As vatrack.data.load_diary reads keys: trimmed, and "7.0" (a spreadsheet's 7) is "7".
        frame[col] = frame[col].str.strip().str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
        blank = (frame[col].str.strip() == "").to_numpy()
        if blank.any():
            raise VatrackError(f"{where(path, col, int(np.flatnonzero(blank)[0]) + 1)}: key is empty")
    dup = frame.duplicated(list(keys)).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        shown = ", ".join(f"{k}={frame[k].iloc[i]!r}" for k in keys)
        raise VatrackError(f"{where(path, row=i + 1)}: duplicate key {shown}; each key must appear once")


def _parse_numbers(frame: pd.DataFrame, path, columns) -> None:
    """Turn ``columns`` into finite floats in place; report the first bad cell."""
    for col in columns:
        text = frame[col].astype(str).str.strip()
        values = pd.to_numeric(text, errors="coerce").astype(float).to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell = text.iloc[i]
            if cell.lower() in _MISSING_TOKENS:
                why = "value is missing"
            elif math.isnan(values[i]):
                why = f"{cell!r} is not a number"
            else:
                why = f"{cell!r} is not finite"
            raise VatrackError(f"{where(path, col, i + 1)}: {why}; every value must be a finite number")
        frame[col] = values


def load_prediction_file(path, task: str) -> pd.DataFrame:
    """Read and validate an official prediction file (see ``vatrack.evaluation.submission``)."""
    check_task(task)
    frame = _read_text_csv(path, "prediction")
    keys, preds = KEY_COLUMNS[task], PRED_COLUMNS[task]
    _check_columns(frame, path, (*keys, *preds))
    frame = frame[list(keys) + list(preds)].copy()
    _parse_keys(frame, path, keys)
    _parse_numbers(frame, path, preds)
    return frame


def load_gold_file(path, task: str) -> pd.DataFrame:
    """Read and validate a gold file: the task's keys and gold columns (+ is_seen_user for subtask1)."""
    check_task(task)
    frame = _read_text_csv(path, "gold")
    frame = frame.rename(columns={k: v for k, v in GOLD_ALIASES.get(task, {}).items() if v not in frame.columns})
    keys, golds = KEY_COLUMNS[task], GOLD_COLUMNS[task]
    _check_columns(frame, path, (*keys, *golds))
    extra = [SEEN_COLUMN] if task == "subtask1" and SEEN_COLUMN in frame.columns else []
    frame = frame[list(keys) + list(golds) + extra].copy()
    _parse_keys(frame, path, keys)
    _parse_numbers(frame, path, golds)
    if extra:
        try:
            frame[SEEN_COLUMN] = seen_mask(frame[SEEN_COLUMN])
        except VatrackError as exc:
            raise VatrackError(f"{path}, {exc}") from None
    return frame


# -- scoring -------------------------------------------------------------------------------


def score_files(task: str, pred_path, gold_path) -> dict:
    """Official metrics for a prediction file against a gold file.

    Every gold key needs a prediction (else an error naming the first missing key);
    predictions for keys not in the gold file are ignored and counted in
    ``n_unmatched_predictions``.
    """
    check_task(task)
    pred = load_prediction_file(pred_path, task)
    gold = load_gold_file(gold_path, task)
    keys = list(KEY_COLUMNS[task])
    joined = gold.merge(pred, on=keys, how="left", indicator=True, validate="one_to_one")
    absent = (joined["_merge"] == "left_only").to_numpy()
    if absent.any():
        i = int(np.flatnonzero(absent)[0])
        shown = ", ".join(f"{k}={joined[k].iloc[i]!r}" for k in keys)
        raise VatrackError(
            f"{pred_path} has no prediction for {int(absent.sum())} gold key(s), first {shown} (row {i + 1} of {gold_path}); predict every gold row"
        )
    joined = joined.drop(columns="_merge")
    result = subtask1_metrics(joined) if task == "subtask1" else subtask2_metrics(joined, task)
    result["task"] = task
    result["n_unmatched_predictions"] = int(len(pred) - len(joined))
    return result


# -- display -------------------------------------------------------------------------------

_ROWS = {
    "subtask1": ("r_composite", "r_between", "r_within", "mae_between", "mae_within", "ccc", "pearson", "rmse", "mae", "n_users_within"),
    "subtask2a": ("r", "mae", "ccc", "rmse"),
    "subtask2b": ("r", "mae", "ccc", "rmse"),
}


def _fmt(value) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4f}"


def render_table(result: dict, task: str) -> Table:
    """A rich table: one row per metric, columns valence / arousal / mean.

    For subtask1 results with seen/unseen entries the table has one section per group.
    """
    check_task(task)
    if task == "subtask1":
        title = f"{task}: {result['n_users']} users, {result['n_rows']} rows"
    else:
        title = f"{task}: {result['n_users']} users"
    table = Table(title=title)
    table.add_column("metric")
    for dim in DIMS:
        table.add_column(dim, justify="right")
    table.add_column("mean", justify="right")

    groups = [("all", result)] + [(g, result[g]) for g in ("seen", "unseen") if g in result]
    for n, (name, block) in enumerate(groups):
        if len(groups) > 1:
            if n:
                table.add_section()
            size = f"{block['n_users']} users, {block['n_rows']} rows" if "n_rows" in block else f"{block['n_users']} users"
            table.add_row(f"[bold]{name}[/bold] ({size})", "", "", "")
        for metric in _ROWS[task]:
            mean = block["avg"].get(metric) if metric != "n_users_within" else None
            table.add_row(metric, *(_fmt(block[d][metric]) for d in DIMS), _fmt(mean) if mean is not None else "")
    return table
