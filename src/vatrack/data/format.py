"""How a user's own diary file maps onto vatrack: column names, rating scales, dates, separator.

One :class:`DiaryFormat` describes a file; every command that reads a diary takes one (the CLI
builds it from ``--column``, ``--scale``, ``--dayfirst/--monthfirst/--date-format`` and
``--sep``). The model always works on its own scale (valence −2..2, arousal 0..2); ratings
are mapped onto it linearly on the way in and predictions mapped back (and clipped) on the
way out. Nothing here guesses: an ambiguous date column or separator is an error that says
which option settles it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vatrack.data.schema import LABELS, OPTIONAL, REQUIRED, SCALES
from vatrack.errors import VatrackError, where

MAPPABLE = (*REQUIRED, *OPTIONAL)      # the names a column mapping may target
SEPARATORS = (",", ";", "\t", "|")      # what separator sniffing considers
DATE_ORDERS = ("dayfirst", "monthfirst")
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# A numeric date with the year last: 04/03/2025, 4.3.25, 04-03-2025 14:30 ...
_ZONE = re.compile(r"(?:\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$")
_YEAR_FIRST_DATE = re.compile(r"^\s*\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}(?!\d)")
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?!\d)")


@dataclass(frozen=True)
class DiaryFormat:
    """A diary file's layout. Defaults read the task's own files unchanged."""

    columns: dict = field(default_factory=dict)     # canonical name -> the file's column name
    scales: dict = field(default_factory=dict)      # label -> (low, high) of the user's ratings
    date_order: str | None = None                   # "dayfirst", "monthfirst" or None (decide from the data)
    date_format: str | None = None                  # an explicit strptime format, e.g. "%d/%m/%Y %H:%M"
    sep: str | None = None                          # None: sniffed

    def __post_init__(self):
        unknown = [c for c in self.columns if c not in MAPPABLE]
        if unknown:
            raise VatrackError(f"column mapping: '{unknown[0]}' is not a vatrack column; map one of {', '.join(MAPPABLE)}")
        theirs = list(self.columns.values())
        twice = [c for c in theirs if theirs.count(c) > 1]
        if twice:
            raise VatrackError(f"column mapping: the file's column '{twice[0]}' is mapped to more than one vatrack column")
        for label, (low, high) in self.scales.items():
            if label not in LABELS:
                raise VatrackError(f"scale: '{label}' is not a rating; give valence=LO:HI or arousal=LO:HI")
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise VatrackError(f"scale {label}={low:g}:{high:g}: the low end must be below the high end")
        if self.date_order not in (None, *DATE_ORDERS):
            raise VatrackError(f"date order must be one of {', '.join(DATE_ORDERS)} (got '{self.date_order}')")
        if self.date_order and self.date_format:
            raise VatrackError("give either a date order (dayfirst/monthfirst) or an explicit date format, not both")
        if self.sep is not None and len(self.sep) != 1:
            raise VatrackError(f"separator must be one character (got {self.sep!r}); for tab use '\\t'")

    # --- scales --------------------------------------------------------------------------

    def user_scale(self, label: str) -> tuple[float, float]:
        return tuple(float(x) for x in self.scales.get(label, SCALES[label]))

    def to_model(self, label: str, values) -> np.ndarray:
        """Ratings on the user's scale -> the model's scale (linear; NaN stays NaN)."""
        (low, high), (m_low, m_high) = self.user_scale(label), SCALES[label]
        return m_low + (np.asarray(values, dtype=float) - low) * (m_high - m_low) / (high - low)

    def to_user(self, label: str, values) -> np.ndarray:
        """Predictions on the model's scale -> the user's scale, clipped to it."""
        (low, high), (m_low, m_high) = self.user_scale(label), SCALES[label]
        out = low + (np.asarray(values, dtype=float) - m_low) * (high - low) / (m_high - m_low)
        return np.clip(out, low, high)

    def change_to_user(self, label: str, values) -> np.ndarray:
        """A change (difference of two ratings) on the model's scale -> on the user's scale."""
        (low, high), (m_low, m_high) = self.user_scale(label), SCALES[label]
        return np.asarray(values, dtype=float) * (high - low) / (m_high - m_low)

    def predictions_to_user(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """A prediction frame (pred_valence/pred_arousal, or 2A/2B change columns) on the user's scale."""
        out = predictions.copy()
        for label in LABELS:
            if f"pred_{label}" in out:
                out[f"pred_{label}"] = self.to_user(label, out[f"pred_{label}"])
            for change in (f"pred_state_change_{label}", f"pred_disp_change_{label}"):
                if change in out:
                    out[change] = self.change_to_user(label, out[change])
        return out

    @property
    def rescales(self) -> bool:
        return any(self.user_scale(label) != SCALES[label] for label in LABELS)

    def scale_record(self) -> dict:
        """What a run folder records: each label's user scale and the model scale it maps onto."""
        return {label: {"user": list(self.user_scale(label)), "model": list(SCALES[label])} for label in LABELS}

    def with_scales_from(self, record: dict | None) -> "DiaryFormat":
        """This format with the scales a run folder recorded, label by label: a scale this one
        sets (--scale valence=...) replaces the recorded one for that label only."""
        if not record:
            return self
        scales = {label: tuple(record[label]["user"]) for label in LABELS if label in record}
        scales.update(self.scales)
        return DiaryFormat(self.columns, scales, self.date_order, self.date_format, self.sep)

    # --- reading -------------------------------------------------------------------------

    def pick_separator(self, text: str, path) -> str:
        """The explicit separator, or the one the header uses; ambiguity is an error."""
        if self.sep is not None:
            return self.sep
        lines = text.splitlines()
        header = lines[0] if lines else ""
        splitting = [s for s in SEPARATORS if len(next(csv.reader([header], delimiter=s), [])) > 1]
        if len(splitting) <= 1:
            return splitting[0] if splitting else ","
        # The header splits on several: keep those that split every sampled row the same way.
        sample = "\n".join(lines[:200])
        even = [s for s in splitting if len({len(r) for r in csv.reader(io.StringIO(sample), delimiter=s) if r}) == 1]
        if len(even) == 1:
            return even[0]
        names = " or ".join(f"{_SEP_NAMES[s]} ('{s}')" if s != "\t" else "tab" for s in (even or splitting))
        raise VatrackError(f"{path}: cannot tell the separator: the header splits on {names}; "
                           f"pass `sep` (e.g. `sep=';'`)")

    def rename(self, raw: pd.DataFrame, path) -> pd.DataFrame:
        """The raw frame with the user's columns renamed to vatrack's; a canonical name the
        file also uses for another column is dropped (the mapping says which one is meant)."""
        missing = [theirs for theirs in self.columns.values() if theirs not in raw.columns]
        if missing:
            raise VatrackError(f"{path}: column(s) {', '.join(repr(c) for c in missing)} named in the column mapping "
                               f"are not in the file (columns found: {', '.join(raw.columns)})")
        shadowed = [c for c in self.columns if c in raw.columns and c not in self.columns.values()]
        frame = raw.drop(columns=shadowed)
        return frame.rename(columns={theirs: ours for ours, theirs in self.columns.items()})

    def parse_dates(self, values: pd.Series, path, column: str = "timestamp") -> tuple[pd.Series, str | None]:
        """(naive datetime64 series, a note or None). Zones are converted to UTC.

        Numeric dates with the year last (04/03/2025) are read day-first or month-first only
        when an option says so or a value proves it (13/03/2025 can only be day-first);
        otherwise the column is ambiguous and this is an error naming the options.
        """
        text = values.fillna("").astype(str).str.strip()
        label = where(path, column)
        note = None
        if self.date_format:
            try:
                parsed = pd.to_datetime(text, format=self.date_format, errors="coerce", utc=True)
            except ValueError as err:
                raise VatrackError(f"{label}: date format '{self.date_format}' is not usable ({err})") from None
            return _checked(parsed, text, path, column, f"does not match the date format '{self.date_format}'"), None
        order = self.date_order
        parts = text.str.extract(_NUMERIC_DATE).dropna()
        if len(parts):
            first, second = parts[0].astype(int), parts[1].astype(int)
            day_proof, month_proof = first > 12, second > 12
            if order is None:
                if day_proof.any() and month_proof.any():
                    a, b = text[day_proof[day_proof].index[0]], text[month_proof[month_proof].index[0]]
                    raise VatrackError(f"{label}: dates mix day-first ('{a}') and month-first ('{b}'); "
                                       "make the column consistent, or give `date_format`")
                if day_proof.any() or month_proof.any():
                    order = "dayfirst" if day_proof.any() else "monthfirst"
                    proof = text[(day_proof if day_proof.any() else month_proof).idxmax()]
                    note = (f"{label}: read dates {'day' if order == 'dayfirst' else 'month'}-first "
                            f"('{proof}' can only be read that way); pass `date_order='{order}'` to make it explicit")
                elif (first != second).any():
                    example = text[(first != second).idxmax()]
                    raise VatrackError(f"{label}: ambiguous dates: '{example}' reads as day-first or month-first "
                                       "and no value settles it; pass `date_order='dayfirst'`, `date_order='monthfirst'` or `date_format=FMT`")
            else:
                contradiction = month_proof if order == "dayfirst" else day_proof
                if contradiction.any():
                    i = contradiction.idxmax()
                    raise VatrackError(f"{where(path, column, int(i) + 1)}: '{text[i]}' cannot be read {order} "
                                       f"(no month {'above' if order == 'dayfirst' else 'below'} 12 there); check `date_order='{order}'`")
        zoned = text.str.contains(_ZONE).to_numpy()
        if zoned.any() and not zoned.all():  # a naive time beside zoned ones is read as UTC: say so
            i = int(np.argmax(~zoned))
            zone_note = (f"{label}: {int((~zoned).sum())} date(s) have no time zone while others do (first: row {i + 1}, "
                         f"'{text.iat[i]}'); they are read as UTC")
            note = f"{note}; {zone_note}" if note else zone_note
        # Year-first dates (ISO, 2025/03/04) are year-month-day whatever the order option says:
        # pandas' dayfirst would swap their month and day.
        year_first = text.str.match(_YEAR_FIRST_DATE).to_numpy()
        parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
        for rows, dayfirst in ((year_first, False), (~year_first, order == "dayfirst")):
            if rows.any():
                parsed[rows] = pd.to_datetime(text[rows], errors="coerce", format="mixed", utc=True, dayfirst=dayfirst)
        return _checked(parsed, text, path, column, "cannot be read as a date and time; use e.g. 2021-06-09 12:41:57"), note


def _checked(parsed: pd.Series, text: pd.Series, path, column: str, why: str) -> pd.Series:
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        if not str(text.iat[i]).strip():  # an entry's place in time cannot be guessed
            raise VatrackError(f"{where(path, column, i + 1)}: no date; every entry needs its date and time "
                               "(trajectories are in time order): fill it in or drop the row")
        good = text[~bad]
        like = f"write it like the other rows, e.g. '{good.iat[0]}'" if len(good) else why.split("; ")[-1]
        raise VatrackError(f"{where(path, column, i + 1)}: '{text.iat[i]}' {why.split('; ')[0]}; {like}")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def parse_format(columns=(), scales=(), dayfirst: bool = False, monthfirst: bool = False,
                 date_format: str | None = None, sep: str | None = None) -> DiaryFormat:
    """A DiaryFormat from option strings: columns ``["user_id=participant", ...]``, scales
    ``["valence=1:9", ...]``; the separator may be spelled ``\\t``, ``tab`` or ``semicolon``."""
    mapping = {}
    for item in columns:
        ours, eq, theirs = str(item).partition("=")
        if not eq or not ours.strip() or not theirs.strip():
            raise VatrackError(f"column mapping '{item}': expected VATRACK=YOURS, e.g. user_id=participant")
        if ours.strip() in mapping:
            raise VatrackError(f"column mapping: '{ours.strip()}' is mapped twice")
        mapping[ours.strip()] = theirs.strip()
    ranges = {}
    for item in scales:
        label, eq, span = str(item).partition("=")
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*:\s*(-?\d+(?:\.\d+)?)\s*", span)
        if not eq or not match:
            raise VatrackError(f"scale '{item}': expected valence=LO:HI or arousal=LO:HI, e.g. valence=1:9")
        ranges[label.strip()] = (float(match.group(1)), float(match.group(2)))
    if dayfirst and monthfirst:
        raise VatrackError("dates cannot be both day-first and month-first; give one")
    named = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}
    sep = named.get(sep.lower(), sep) if sep else None
    order = "dayfirst" if dayfirst else ("monthfirst" if monthfirst else None)
    return DiaryFormat(columns=mapping, scales=ranges, date_order=order, date_format=date_format or None, sep=sep)
