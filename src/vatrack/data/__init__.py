"""Data layer: schema, the user's file format (columns, scales, dates), loading with validation, synthetic diaries."""

from vatrack.data.format import DiaryFormat, parse_format
from vatrack.data.loading import Diary, load_diary, read_diary, read_frame, sort_diary
from vatrack.data.schema import KEYS, LABEL_COLUMNS, LABELS, SCALES, clip_to_scale
from vatrack.data.synthetic import make_diaries, make_official_like, write_csv_like_official

__all__ = ["KEYS", "LABELS", "LABEL_COLUMNS", "SCALES", "Diary", "DiaryFormat", "clip_to_scale", "load_diary",
           "parse_format", "read_diary", "read_frame", "sort_diary", "make_diaries", "make_official_like", "write_csv_like_official"]
