"""The LightningModules: loss, optimiser, schedule and per-epoch figures of the sequence model
(SequenceModule) and of any (n, 2) regression net (RegressionModule: the sequence forecaster,
the fine-tuned text regressor).

Per-step work is kept to the forward/backward pass: nothing is logged per step (logging
costs more than this small network's step); predictions are accumulated and every figure
of history.csv is computed once per epoch.
"""

from __future__ import annotations

import math
import time

import lightning as L
import numpy as np
import pandas as pd
import torch

from vatrack.data import LABELS, clip_to_scale
from vatrack.training.losses import ccc, weighted_ccc_mse


def cosine_with_warmup(total_steps: int, warmup_share: float):
    """LR multiplier per optimiser step: linear warmup, then cosine decay to 0."""
    warmup = int(round(warmup_share * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        progress = (step - warmup) / max(total_steps - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


class SequenceModule(L.LightningModule):
    """``net``: a SeqNet. ``optim``: the config's optim group (loss weights, LRs, schedule).
    ``monitor``: "composite" or "ccc", the validation figure behind ``val_score``.
    ``val_gold``: frame (user_id, valence, arousal, is_seen_user) in validation-example order.
    ``encode_val``: fine-tune mode, () -> text vectors of the validation table, recomputed each
    validation epoch with the current encoder."""

    def __init__(self, net, optim, total_steps: int, monitor: str = "composite", val_gold: pd.DataFrame | None = None,
                 encode_val=None, seed: int = 0):
        super().__init__()
        self.net, self.optim, self.monitor = net, optim, monitor
        self.total_steps = max(int(total_steps), 1)
        self.val_gold = val_gold
        self.encode_val = encode_val
        self.ccc_weights = (optim.ccc_weight_valence, optim.ccc_weight_arousal)
        self.last_val: dict = {}
        self.cfg_seed = int(seed)  # the run seed: per-epoch reseeding of dropout and batch order
        self._reset_train()

    def forward(self, batch):
        return self.net(batch)

    # -- training --------------------------------------------------------------------------

    def _reset_train(self):
        self._preds, self._ys, self._losses = [], [], []
        self._passes = self._naive = 0
        self._epoch_start = time.perf_counter()

    def on_train_epoch_start(self):
        self._reset_train()
        # Dropout draws from torch's global RNG; seeding it per epoch makes an epoch's
        # randomness independent of what ran before, so a resumed run replays it exactly.
        torch.manual_seed(int(self.cfg_seed) * 100_003 + int(self.current_epoch))
        # Likewise the batch order: take the epoch from the loop itself (Lightning's own
        # set_epoch counts processed epochs, which lags by one after a resume).
        loader = self.trainer.train_dataloader if self._trainer is not None else None
        for sampler in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.current_epoch)
        if self.net.encoder is not None:
            # v3.2's warm start: the encoder stays frozen for the first epochs (no gradients
            # at all, so those epochs cost little more than frozen mode).
            trainable = self.current_epoch >= self.optim.freeze_encoder_epochs
            self.net.encoder.requires_grad_(trainable)

    def training_step(self, batch, batch_idx):
        pred = self.net(batch)
        loss, _ = weighted_ccc_mse(pred, batch["y"], self.ccc_weights, self.optim.label_smoothing, self.net.label_mean)
        self._preds.append(pred.detach())
        self._ys.append(batch["y"])
        self._losses.append(loss.detach())
        if "input_ids" in batch:
            self._passes += int(batch["input_ids"].shape[0])
            self._naive += int(batch["valid"].sum())
        return loss

    def on_train_epoch_end(self):
        if not self._preds:
            return
        pred, y = torch.cat(self._preds).float(), torch.cat(self._ys).float()
        train_ccc = [float(ccc(pred[:, d], y[:, d])) for d in range(2)]
        figures = {
            "train_loss": float(torch.stack(self._losses).mean()),
            "train_ccc_valence": train_ccc[0], "train_ccc_arousal": train_ccc[1],
            "train_ccc_avg": float(np.mean(train_ccc)),
            "lr": self.optimizers().param_groups[0]["lr"],
            "epoch_time_s": time.perf_counter() - self._epoch_start,
        }
        groups = self.optimizers().param_groups
        if len(groups) > 1:
            figures["lr_encoder"] = groups[1]["lr"]
        if self._naive:
            figures["encoder_passes"] = float(self._passes)
            figures["encoder_naive_passes"] = float(self._naive)
        if "val_ccc_avg" in self.last_val:
            figures["gap_ccc"] = figures["train_ccc_avg"] - self.last_val["val_ccc_avg"]
        self.log_dict(figures, on_step=False, on_epoch=True, sync_dist=False)

    # -- validation ------------------------------------------------------------------------

    def on_validation_epoch_start(self):
        self._val_preds, self._val_index = [], []
        self._val_vectors = self.encode_val() if self.encode_val is not None else None

    def validation_step(self, batch, batch_idx):
        batch = dict(batch)
        if "text_row" in batch:
            rows = batch.pop("text_row")
            batch["text"] = self._val_vectors.to(self.device)[rows.clamp(min=0)] * batch["valid"].unsqueeze(-1)
        self._val_preds.append(self.net(batch).detach().float().cpu())
        self._val_index.append(batch["example"].cpu())

    def on_validation_epoch_end(self):
        if not self._val_preds or self.val_gold is None:
            return
        order = torch.cat(self._val_index).numpy()
        pred = np.empty((len(self.val_gold), 2))
        pred[order] = torch.cat(self._val_preds).numpy()
        figures = validation_figures(self.val_gold, pred, self.ccc_weights, self.monitor)
        self.last_val = figures
        self.log_dict(figures, on_step=False, on_epoch=True, sync_dist=False)

    # -- optimiser ---------------------------------------------------------------------------

    def configure_optimizers(self):
        # Steps per process as Lightning counts them once the process group exists (DDP shards
        # the batches, so a count taken before fit would be W times too long with W devices).
        total = self.total_steps
        if self._trainer is not None:
            estimated = self.trainer.estimated_stepping_batches
            if math.isfinite(estimated) and estimated > 0:
                total = int(estimated)
        optimizer = make_optimizer(self.net, self.optim)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total, self.optim.warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def make_optimizer(net, optim) -> torch.optim.AdamW:
    """AdamW with one LR for the encoder (fine-tune mode) and one for the rest (``optim``: lr,
    lr_encoder, weight_decay).

    The fused kernel (CPU and CUDA) takes ~20% off a v3.3 step on 2 CPU cores against the
    default multi-tensor one; other devices keep the default.
    """
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype == torch.float32 for p in net.parameters())
    return torch.optim.AdamW(param_groups(net, optim.lr, optim.lr_encoder), weight_decay=optim.weight_decay,
                             fused=fused or None)


def param_groups(net, lr: float, lr_encoder: float) -> list[dict]:
    """``lr`` for the net's own parameters, ``lr_encoder`` for its ``encoder`` (a fine-tuned
    transformer) when it has one."""
    encoder = getattr(net, "encoder", None)
    encoder_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    groups = [{"params": [p for p in net.parameters() if id(p) not in encoder_ids], "lr": lr}]
    if encoder is not None:
        groups.append({"params": list(encoder.parameters()), "lr": lr_encoder})
    return groups


def validation_figures(gold: pd.DataFrame, pred: np.ndarray, ccc_weights, monitor: str = "composite") -> dict:
    """Official figures of clipped predictions + the loss on raw ones; ``val_score`` is what
    early stopping and the best checkpoint follow (NaN, e.g. no scorable user, counts as -1)."""
    from vatrack.evaluation.metrics import subtask1_metrics  # pure numpy; scoring lives in evaluation

    clipped = clip_to_scale(pred)
    frame = gold.assign(pred_valence=clipped[:, 0], pred_arousal=clipped[:, 1])
    scores = subtask1_metrics(frame)
    y = torch.from_numpy(np.array(gold[list(LABELS)], dtype=np.float32))
    loss, _ = weighted_ccc_mse(torch.as_tensor(pred, dtype=torch.float32), y, ccc_weights)
    figures = {"val_loss": float(loss)}
    for dim in LABELS:
        for metric in ("ccc", "r_composite", "rmse", "mae"):
            figures[f"val_{metric}_{dim}"] = float(scores[dim][metric])
    figures["val_ccc_avg"] = float(scores["avg"]["ccc"])
    figures["val_r_composite_avg"] = float(scores["avg"]["r_composite"])
    figures["val_r_within_avg"] = float(np.mean([scores[d]["r_within"] for d in LABELS]))
    figures["val_r_between_avg"] = float(np.mean([scores[d]["r_between"] for d in LABELS]))
    score = figures["val_ccc_avg"] if monitor == "ccc" else figures["val_r_composite_avg"]
    figures["val_score"] = score if np.isfinite(score) else -1.0
    return figures


class RegressionModule(L.LightningModule):
    """Any net that maps a batch to (n, 2) targets (``batch["y"]``): weighted CCC + MSE, AdamW
    (``lr_encoder`` for ``net.encoder`` when the net has one, e.g. a fine-tuned transformer)
    with a cosine schedule and warmup. Used by the sequence forecaster (change targets) and the
    fine-tuned text regressor. ``val_loss`` is the loss over the whole validation set (CCC is
    not averaged over batches), logged once per epoch for early stopping and the best weights;
    ``train_loss`` is the epoch's mean step loss."""

    def __init__(self, net, ccc_weights, lr: float, weight_decay: float, warmup: float, total_steps: int,
                 lr_encoder: float | None = None):
        super().__init__()
        self.net = net
        self.ccc_weights = tuple(ccc_weights)
        self.lr, self.weight_decay, self.warmup = float(lr), float(weight_decay), float(warmup)
        self.lr_encoder = float(lr_encoder) if lr_encoder is not None else self.lr
        self.total_steps = max(int(total_steps), 1)
        self._val_pred, self._val_y, self._losses = [], [], []

    def forward(self, batch):
        return self.net(batch)

    def training_step(self, batch, batch_idx):
        loss, _ = weighted_ccc_mse(self.net(batch), batch["y"], self.ccc_weights)
        self._losses.append(loss.detach())
        return loss

    def on_train_epoch_end(self):
        if self._losses:
            self.log("train_loss", float(torch.stack(self._losses).mean()), on_step=False, on_epoch=True)
        self._losses = []

    def validation_step(self, batch, batch_idx):
        self._val_pred.append(self.net(batch))
        self._val_y.append(batch["y"])

    def on_validation_epoch_end(self):
        loss, _ = weighted_ccc_mse(torch.cat(self._val_pred), torch.cat(self._val_y), self.ccc_weights)
        self._val_pred, self._val_y = [], []
        self.log("val_loss", loss)

    def configure_optimizers(self):
        optimiser = torch.optim.AdamW(param_groups(self.net, self.lr, self.lr_encoder), weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, cosine_with_warmup(self.total_steps, self.warmup))
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
