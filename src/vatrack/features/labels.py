"""Label-derived inputs (lags, user statistics), computed per batch from visible labels only.

For a target row t of user u, a label is *visible* when the row is known in the table
(see :mod:`vatrack.features.table`), belongs to u, comes before t, and lies before the
example's ``cutoff`` (an entry number). Prediction uses ``cutoff = NO_CUTOFF``: visible =
the user's training rows before t. Training draws a cutoff per example (training/data.py)
so that the model practises predicting several entries past the last label it sees,
exactly as it must for a seen user's test texts, and with ``cutoff = 0`` as for an unseen
user. Everything here is a gather over past-only prefix arrays, so it costs little per batch
and can never read a label at or after the target.

Per window step (the row ``j`` at that step):
* ``n_lags`` lagged (valence, arousal) of rows j-1 .. j-n_lags, standardised with the
  training mean/std. A lag whose label is not visible is **filled with the user's visible
  mean shrunk toward the training mean** (``prior`` pseudo-counts; the training mean itself
  when the user has no visible label), and its mask bit is 0;
* one mask bit per lag (1 = a real label);
* entries since the last visible label before j, log-scaled; "none visible" reads as the cap.

Per example (repeated at every step): the user's shrunk visible mean (V, A, standardised),
shrunk visible std relative to the training std (V, A), log count of visible labels, and
entries between the last visible label and the target.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vatrack.features.table import RowTable

NO_CUTOFF = 1 << 40      # prediction: every known row before the target is visible
STEPS_CAP = 64           # "entries since the last label" saturates here (and means "none")
_LOG_CAP = math.log1p(STEPS_CAP)
_LOG_N = math.log1p(100)


def n_label_features(n_lags: int, use_lags: bool, use_user_stats: bool) -> int:
    return (3 * n_lags + 1 if use_lags else 0) + (6 if use_user_stats else 0)


class LabelFeatures:
    """Callable turning (target, window, lags, cutoff) index tensors into label features."""

    def __init__(self, table: RowTable, stats: dict, prior: float, n_lags: int,
                 use_lags: bool = True, use_user_stats: bool = True):
        self.labels = torch.from_numpy(table.labels)
        self.known = torch.from_numpy(table.known)
        self.pos = torch.from_numpy(table.pos)
        self.user_start = torch.from_numpy(table.user_start)
        self.prefix_n = torch.from_numpy(table.prefix_n)
        self.prefix_sum = torch.from_numpy(table.prefix_sum)
        self.prefix_sq = torch.from_numpy(table.prefix_sq)
        self.last_known = torch.from_numpy(table.last_known)
        self.mean = torch.as_tensor(np.asarray(stats["mean"]), dtype=torch.float32)
        self.var = torch.as_tensor(np.asarray(stats["var"]), dtype=torch.float32)
        self.std = self.var.sqrt()
        self.prior = float(prior)
        self.n_lags, self.use_lags, self.use_user_stats = n_lags, use_lags, use_user_stats
        self.n_features = n_label_features(n_lags, use_lags, use_user_stats)

    def __call__(self, target: torch.Tensor, win: torch.Tensor, lags: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
        B, W = win.shape
        pos_t = self.pos[target]
        # Visible labels before the target: those with entry number < min(cutoff, pos_t).
        # Prefix arrays at the row with that entry number hold exactly their sums.
        stats_row = self.user_start[target] + torch.minimum(cutoff, pos_t)
        n = self.prefix_n[stats_row]
        s1, s2 = self.prefix_sum[stats_row], self.prefix_sq[stats_row]
        k = self.prior
        user_mean = (s1 + k * self.mean) / (n[:, None] + k)
        safe_n = n.clamp(min=1.0)[:, None]
        user_var = (s2 / safe_n - (s1 / safe_n) ** 2).clamp(min=0.0)
        user_var = (n[:, None] * user_var + k * self.var) / (n[:, None] + k)

        parts = []
        valid_win = win >= 0
        if self.use_lags:
            rows = lags.clamp(min=0)
            visible = (lags >= 0) & self.known[rows] & (self.pos[rows] < cutoff[:, None, None])
            values = torch.where(visible[..., None], self.labels[rows], user_mean[:, None, None, :])
            parts.append(((values - self.mean) / self.std).reshape(B, W, 2 * self.n_lags))
            parts.append(visible.to(torch.float32))
            step_rows = win.clamp(min=0)
            last = torch.minimum(self.last_known[step_rows], cutoff[:, None] - 1)
            parts.append(_steps_feature(self.pos[step_rows] - last, last < 0)[..., None])
        if self.use_user_stats:
            last_t = torch.minimum(self.last_known[target], cutoff - 1)
            per_example = torch.cat([
                (user_mean - self.mean) / self.std,
                user_var.sqrt() / self.std - 1.0,
                (torch.log1p(n) / _LOG_N)[:, None],
                _steps_feature(pos_t - last_t, last_t < 0)[:, None],
            ], dim=1)
            parts.append(per_example[:, None, :].expand(B, W, per_example.shape[1]))
        if not parts:
            return torch.zeros(B, W, 0)
        # Padding steps carry nothing (their rows do not exist).
        return torch.cat(parts, dim=-1) * valid_win[..., None]


def _steps_feature(steps: torch.Tensor, none: torch.Tensor) -> torch.Tensor:
    steps = torch.where(none, torch.full_like(steps, STEPS_CAP), steps.clamp(min=1, max=STEPS_CAP))
    return torch.log1p(steps.to(torch.float32)) / _LOG_CAP
