"""Data layer: schema, loading with validation, synthetic diaries."""

from vatrack.data.loading import load_diary, sort_diary
from vatrack.data.schema import KEYS, LABEL_COLUMNS, LABELS, SCALES, clip_to_scale
from vatrack.data.synthetic import make_diaries, make_official_like, write_csv_like_official

__all__ = ["KEYS", "LABELS", "LABEL_COLUMNS", "SCALES", "clip_to_scale", "load_diary", "sort_diary",
           "make_diaries", "make_official_like", "write_csv_like_official"]
