"""Losses: a numerically stable CCC and the seed's per-dimension weighted CCC + MSE.

CCC = 2 cov(p, y) / (var p + var y + (mean p - mean y)^2), with population moments and a
small epsilon in the denominator. A batch of one row, or one where every target (and
prediction) is equal, has zero covariance: CCC is then 0 (loss 1 - CCC = 1), finite, with
finite gradients — never NaN. The MSE term still teaches the level in those batches.
"""

from __future__ import annotations

import torch

EPS = 1e-6


def ccc(pred: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Concordance correlation of two 1-d tensors (differentiable, finite for any input size >= 1)."""
    pred, target = pred.float(), target.float()
    mp, mt = pred.mean(), target.mean()
    dp, dt = pred - mp, target - mt
    cov = (dp * dt).mean()
    denom = dp.pow(2).mean() + dt.pow(2).mean() + (mp - mt).pow(2)
    return 2.0 * cov / (denom + eps)


def weighted_ccc_mse(pred: torch.Tensor, target: torch.Tensor, ccc_weights, label_smoothing: float = 0.0,
                     smoothing_mean: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over dimensions of w_d * (1 - CCC_d) + (1 - w_d) * MSE_d; also returns per-dim CCC.

    ``label_smoothing`` e pulls the MSE target toward the training mean, y' = (1-e) y + e mean
    (the regression analogue of label smoothing); CCC always sees the raw target, since it
    is scale-aware and smoothing would only shrink the variance it matches.
    """
    losses, cccs = [], []
    for d, w in enumerate(ccc_weights):
        p, y = pred[:, d], target[:, d]
        c = ccc(p, y)
        y_mse = y if not label_smoothing else (1.0 - label_smoothing) * y + label_smoothing * smoothing_mean[d]
        mse = (p - y_mse).pow(2).mean()
        losses.append(w * (1.0 - c) + (1.0 - w) * mse)
        cccs.append(c.detach())
    return torch.stack(losses).mean(), torch.stack(cccs)
