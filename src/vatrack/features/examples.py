"""Examples: target rows of a RowTable with their windows, ready to be cut into batches.

Everything that does not depend on the per-example cutoff is computed once here
(standardised static features, text vectors, window and lag indices, user ids), so a batch
is a handful of gathers: cheap enough that the training loop is dominated by the network.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from vatrack.features.labels import NO_CUTOFF, LabelFeatures, n_label_features
from vatrack.features.table import N_TEXT, N_TIME, RIDGE_COLUMNS, RowTable, windows


class FeatureSpec(BaseModel):
    """Which inputs a step carries and how many of each: the ``features`` group of the
    sequence model's config (vatrack.models.presets), declared here, once, where it is used."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    seq_length: int = Field(7, ge=1, le=64)            # window: the target and its previous entries
    n_lags: int = Field(5, ge=1, le=32)                # visible previous labels as inputs
    use_text_vec: bool = True
    use_time: bool = True
    use_text_stats: bool = True                        # 10 text statistics + is_words
    use_lags: bool = True
    use_user_stats: bool = True
    use_text_ridge: bool = False                       # + out-of-fold ridge(text vector) per step
    stats_prior: float = Field(3.0, ge=0.0, le=1000.0)  # shrinkage of user statistics (pseudo-entries)

    def static_columns(self) -> np.ndarray:
        """Indices of the static columns in use; text stats include is_words."""
        cols = []
        if self.use_time:
            cols += list(range(N_TIME))
        if self.use_text_stats:
            cols += list(range(N_TIME, N_TIME + N_TEXT + 1))
        if self.use_text_ridge:
            cols += list(RIDGE_COLUMNS)
        return np.asarray(cols, np.int64)

    def n_numeric(self) -> int:
        # + 1: the step's position in the window
        return len(self.static_columns()) + n_label_features(self.n_lags, self.use_lags, self.use_user_stats) + 1


class Examples:
    """Target rows ``targets`` of ``table`` (all rows by default).

    ``vectors``: (n_rows, dim) text vectors (frozen mode) or None (fine-tune mode: batches
    then carry ``text_row``, the table row of each step, and the model encodes the texts).
    ``user_index``: the vocabulary index per table row (0 = unknown user).
    """

    def __init__(self, table: RowTable, spec: FeatureSpec, standardise: dict, label_stats: dict,
                 user_index: np.ndarray, vectors: np.ndarray | None = None, targets: np.ndarray | None = None):
        self.table, self.spec = table, spec
        targets = np.arange(len(table)) if targets is None else np.asarray(targets, np.int64)
        win, lags = windows(table, targets, spec.seq_length, spec.n_lags)
        cols = spec.static_columns()
        static = (table.static[:, cols] - standardise["mean"][cols]) / standardise["std"][cols]
        self.static = torch.from_numpy(np.ascontiguousarray(static, dtype=np.float32))
        self.vectors = None if vectors is None or not spec.use_text_vec else torch.from_numpy(np.ascontiguousarray(vectors, np.float32))
        self.targets = torch.from_numpy(targets)
        self.win = torch.from_numpy(win)
        self.lags = torch.from_numpy(lags)
        self.user = torch.from_numpy(np.asarray(user_index, np.int64)[targets])
        self.pos = torch.from_numpy(table.pos[targets])
        self.y = torch.from_numpy(table.labels[targets])  # meaningful only where known (training)
        self.label_features = LabelFeatures(table, label_stats, spec.stats_prior, spec.n_lags,
                                            spec.use_lags, spec.use_user_stats)
        W = spec.seq_length
        self.position = (torch.arange(W, dtype=torch.float32) / max(W - 1, 1)).view(1, W, 1)

    def __len__(self) -> int:
        return len(self.targets)

    def batch(self, idx: torch.Tensor, cutoff: torch.Tensor | None = None, user: torch.Tensor | None = None) -> dict:
        """Inputs for examples ``idx``; ``cutoff`` None = prediction (all known past visible)."""
        win = self.win[idx]
        valid = win >= 0
        rows = win.clamp(min=0)
        target = self.targets[idx]
        if cutoff is None:
            cutoff = torch.full((len(idx),), NO_CUTOFF, dtype=torch.long)
        mask = valid[..., None].to(torch.float32)
        num = torch.cat([
            self.static[rows] * mask,
            self.label_features(target, win, self.lags[idx], cutoff),
            self.position.expand(len(idx), -1, -1) * mask,
        ], dim=-1)
        out = {"num": num, "valid": valid, "user": self.user[idx] if user is None else user, "y": self.y[idx]}
        if self.vectors is not None:
            out["text"] = self.vectors[rows] * mask
        elif self.spec.use_text_vec:
            out["text_row"] = torch.where(valid, rows, torch.full_like(rows, -1))
        return out
