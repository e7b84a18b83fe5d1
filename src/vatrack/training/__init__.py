"""Training of vatrack's networks: losses, batches, the LightningModules, the one training loop.

Reading order: ``losses`` (stable CCC, weighted CCC + MSE), ``data`` (seeded batch sampler,
visible-label simulation, evaluation batches), ``history`` (history.csv logger), ``module``
(the sequence model's and the forecaster's LightningModules), ``trainer`` (the loop:
callbacks, checkpoints, resume, signals; ``fit_module``).
"""

from vatrack.training.losses import ccc, weighted_ccc_mse
from vatrack.training.trainer import FitResult, LoopSettings, fit_module, inner_split, seed_run

__all__ = ["FitResult", "LoopSettings", "ccc", "fit_module", "inner_split", "seed_run", "weighted_ccc_mse"]
