"""What a diary file may hold, and the rules every column obeys."""

from __future__ import annotations

import numpy as np

LABELS = ("valence", "arousal")
SCALES = {"valence": (-2.0, 2.0), "arousal": (0.0, 2.0)}

REQUIRED = ("user_id", "text_id", "text", "timestamp")
KEYS = ("user_id", "text_id")

# Optional columns and their kinds. "label" columns are checked against SCALES.
OPTIONAL = {
    "collection_phase": "int",
    "is_words": "bool",
    "valence": "label",
    "arousal": "label",
    "is_seen_user": "bool",
    "is_forecasting_user": "bool",
    "state_change_valence": "number",
    "state_change_arousal": "number",
    "disposition_change_valence": "number",
    "disposition_change_arousal": "number",
    "group": "int",
}

# Every column that carries gold information. strip_labels() removes all of them.
LABEL_COLUMNS = (
    "valence",
    "arousal",
    "state_change_valence",
    "state_change_arousal",
    "disposition_change_valence",
    "disposition_change_arousal",
)


def clip_to_scale(pred) -> np.ndarray:
    """(n, 2) valence/arousal predictions made finite and kept within the label scale (NaN -> scale middle)."""
    out = np.array(pred, dtype=float, copy=True)
    for j, label in enumerate(LABELS):
        low, high = SCALES[label]
        col = np.nan_to_num(out[:, j], nan=(low + high) / 2, posinf=high, neginf=low)
        out[:, j] = np.clip(col, low, high)
    return out
