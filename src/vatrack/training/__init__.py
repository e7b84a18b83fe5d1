"""Training of the sequence model: losses, batches, the LightningModule, Trainer wiring.

Reading order: ``losses`` (stable CCC, weighted CCC + MSE), ``data`` (seeded batch sampler,
visible-label simulation, evaluation batches), ``history`` (history.csv logger), ``module``
(LightningModule), ``trainer`` (split, callbacks, fit).
"""

from vatrack.training.losses import ccc, weighted_ccc_mse
from vatrack.training.trainer import fit_sequence, inner_split

__all__ = ["ccc", "fit_sequence", "inner_split", "weighted_ccc_mse"]
