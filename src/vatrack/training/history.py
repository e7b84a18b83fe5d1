"""A Lightning logger that keeps one row per epoch in ``history.csv``.

Lightning hands every logged dict to ``log_metrics`` together with the epoch number; train
and validation figures of one epoch arrive in separate calls and are merged into one row.
The file is rewritten atomically after each call, so a crash leaves a complete history of
the epochs that finished.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from vatrack.io import write_csv

# Preferred column order; anything else logged goes after these.
COLUMNS = (
    "epoch", "train_loss", "val_loss",
    "train_ccc_valence", "train_ccc_arousal", "train_ccc_avg",
    "val_ccc_valence", "val_ccc_arousal", "val_ccc_avg",
    "val_r_composite_valence", "val_r_composite_arousal", "val_r_composite_avg",
    "val_r_within_avg", "val_r_between_avg",
    "val_rmse_valence", "val_rmse_arousal", "val_mae_valence", "val_mae_arousal",
    "gap_ccc", "val_score", "lr", "lr_encoder", "encoder_passes", "encoder_naive_passes", "epoch_time_s",
)


class HistoryLogger(Logger):
    def __init__(self, path, resume: bool = False, after_train_row=None):
        super().__init__()
        self.path = Path(path) if path else None
        # Called once an epoch's train figures are on disk (the resume checkpoint waits for them).
        self.after_train_row = after_train_row
        self.rows: dict[int, dict] = {}
        if resume and self.path is not None and self.path.exists():
            # A resumed run continues the file: rows of finished epochs stay, keyed 0-based.
            for row in pd.read_csv(self.path).to_dict(orient="records"):
                self.rows[int(row["epoch"]) - 1] = row

    @property
    def name(self) -> str:
        return "history"

    @property
    def version(self) -> int:
        return 0

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass  # the resolved config is written as config.yaml by the run

    @rank_zero_only
    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        epoch = int(metrics.get("epoch", -1))
        row = self.rows.setdefault(epoch, {"epoch": epoch + 1})  # 1-based epochs in the file
        row.update({k: float(v) for k, v in metrics.items() if k != "epoch"})
        if self.path is not None:
            write_csv(self.path, self.frame())
        if self.after_train_row is not None and any(k.startswith("train_") for k in metrics):
            self.after_train_row()

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([self.rows[e] for e in sorted(self.rows)])
        ordered = [c for c in COLUMNS if c in frame.columns]
        return frame[ordered + [c for c in frame.columns if c not in ordered]]
