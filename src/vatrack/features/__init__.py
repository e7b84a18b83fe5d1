"""Features of the sequence model: past-only, from labels the model may see.

Reading order: ``frames`` (any DataFrame -> the canonical frame every model reads),
``text`` (ten text statistics), ``table`` (per-row time/text features, past-only label
prefix sums, windows), ``labels`` (lags and user statistics from visible labels, per
batch), ``text_ridge`` (an optional out-of-fold ridge prediction per row), ``examples``
(targets + windows, cut into batches).
"""

from vatrack.features.examples import Examples, FeatureSpec
from vatrack.features.frames import diary_frame
from vatrack.features.labels import NO_CUTOFF, STEPS_CAP, LabelFeatures, n_label_features
from vatrack.features.table import (
    RIDGE_COLUMNS,
    STATIC_NAMES,
    TIME_NAMES,
    RowTable,
    build_table,
    label_stats,
    merge_for_prediction,
    standardiser,
    time_features,
    windows,
)
from vatrack.features.text import TEXT_STAT_NAMES, text_stats, text_stats_matrix
from vatrack.features.text_ridge import TextRidgeFeature

__all__ = [
    "NO_CUTOFF", "RIDGE_COLUMNS", "STATIC_NAMES", "STEPS_CAP", "TEXT_STAT_NAMES", "TIME_NAMES", "Examples", "FeatureSpec",
    "LabelFeatures", "RowTable", "TextRidgeFeature", "build_table", "diary_frame", "label_stats", "merge_for_prediction", "n_label_features",
    "standardiser", "text_stats", "text_stats_matrix", "time_features", "windows",
]
