"""The optional text-ridge feature: a ridge regression from a row's text vector (+ is_words)
to (valence, arousal) — the organisers' Linear(BERT) recipe — fed to the sequence model as two
more numeric inputs per step (``features.use_text_ridge``; off in the shipped presets).

A row whose label trained the ridge would get an over-confident value, so the transformer
keeps, for every row it was fitted on, that row's *out-of-fold* value (folds by user, as the
values are used for other users' windows too), and for the other known rows (the validation
fold of a fit) the full ridge's value, which is out-of-sample for them. Any other row (a row
being predicted) gets the full ridge's value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vatrack.features.table import RIDGE_COLUMNS, RowTable
from vatrack.protocols import grouped_oof

_KEY = ["user_id", "text_id"]


def ridge_inputs(table: RowTable, vectors: np.ndarray) -> np.ndarray:
    return np.hstack([vectors, table.frame["is_words"].to_numpy(dtype=np.float32)[:, None]]).astype(np.float64)


class TextRidgeFeature:
    """``fit`` on the network's training rows, then ``fill`` any table's two ridge columns."""

    def __init__(self, alphas):
        self.alphas = tuple(alphas)
        self.ridge = None
        self.stored: pd.DataFrame | None = None   # user_id, text_id, ridge_v, ridge_a of known rows

    def fit(self, table: RowTable, vectors: np.ndarray, history: RowTable, history_vectors: np.ndarray) -> "TextRidgeFeature":
        """``table``/``vectors``: the rows the network trains on (labelled); ``history``: every
        row whose label a later prediction may see (a superset of ``table``)."""
        from sklearn.linear_model import Ridge, RidgeCV

        x = ridge_inputs(table, vectors)
        y = table.labels.astype(np.float64)
        self.ridge = RidgeCV(alphas=self.alphas, alpha_per_target=True).fit(x, y)
        groups = table.frame["user_id"].to_numpy()
        # One ridge per dimension with its own alpha.
        oof = np.column_stack([grouped_oof(Ridge(alpha=self.ridge.alpha_[d]), x, y[:, d], groups) for d in range(2)])
        full = self.ridge.predict(ridge_inputs(history, history_vectors))
        keyed = pd.concat([self._keyed(table, oof), self._keyed(history, full)])
        self.stored = keyed.drop_duplicates(_KEY, keep="first").reset_index(drop=True)
        return self

    def fill(self, table: RowTable, vectors: np.ndarray) -> None:
        """Known rows with a stored value get it; every other row the full ridge's value."""
        values = self.ridge.predict(ridge_inputs(table, vectors))
        looked_up = table.frame[_KEY].merge(self.stored, on=_KEY, how="left")
        use_stored = table.known & looked_up["ridge_v"].notna().to_numpy()
        values[use_stored] = looked_up.loc[use_stored, ["ridge_v", "ridge_a"]].to_numpy()
        table.static[:, RIDGE_COLUMNS] = values.astype(np.float32)

    @staticmethod
    def _keyed(table: RowTable, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, columns=["ridge_v", "ridge_a"]).assign(
            user_id=table.frame["user_id"].to_numpy(), text_id=table.frame["text_id"].to_numpy())
