"""The frame every model reads, from whatever DataFrame a caller passes to fit / predict.

``vatrack.data.load_diary`` returns frames in the canonical shape (docs/architecture.md).
Library users also build frames by hand; a model accepts any DataFrame with

    user_id, text_id, text, timestamp            (+ valence, arousal to train)

and fills what is optional: ``is_words`` False, ``collection_phase`` missing. There is one
validation of diary data, the data layer's: this is ``vatrack.data.read_frame`` (the checks,
types, scales and dates of ``load_diary``) under the name the models import. Row order is
kept, so predictions line up with the caller's rows, and messages name the parameter the
frame came in (``train``, ``inputs``) and the columns.
"""

from __future__ import annotations

import pandas as pd

from vatrack.data.loading import read_frame

CANONICAL = ("user_id", "text_id", "text", "timestamp")


def diary_frame(frame, what: str = "frame", required=CANONICAL, labels: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` in the canonical column types, optional columns filled.

    ``what`` names the argument in messages (e.g. "train"); ``required``: the columns it
    must have; ``labels`` demands valence and arousal on every row. See
    :func:`vatrack.data.read_frame`.
    """
    return read_frame(frame, what, required=required, labels=labels)
