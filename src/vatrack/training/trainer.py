"""The one training loop: Lightning Trainer, early stopping, best checkpoint, resume, signals.

``fit_module(module, train_loader, val_loader, loop, ...)`` is what every network of vatrack
trains through (the sequence model, the sequence forecaster). It receives what it trains
(a LightningModule whose ``net`` is the network, the data loaders, LoopSettings, the run
folder and Lightning options) and returns a FitResult: the net with the best checkpoint's
weights, the per-epoch history and the loop's facts. It never sees an estimator: the
estimator prepares its data (for the sequence model: the inner validation split of
``inner_split``, vocabulary, standardisation), builds the module, calls the loop and
records the result itself.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from vatrack.errors import RunInterrupted, VatrackError, sigterm_deferred
from vatrack.io import atomic_path, write_json
from vatrack.progress import enabled as progress_enabled
from vatrack.protocols import official_style_folds
from vatrack.training.history import HistoryLogger
from vatrack.training.loggers import make_logger


def inner_split(train: pd.DataFrame, n_folds: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows the network trains on, validation rows with is_seen_user): fold 0 of an official-style CV."""
    n_users = train["user_id"].nunique()
    if n_users < 2 * n_folds:
        raise VatrackError(f"validation split needs at least {2 * n_folds} users (`val_folds={n_folds}`); "
                           f"the training data has {n_users}: train with `val='none'`, or with `val_folds=2`")
    fold = official_style_folds(train, n_folds=n_folds, seed=seed)[0]
    return fold.split(train)


class _ProgressBar(RichProgressBar):
    """Rich progress bar without Lightning's logger-version field (always 0 here)."""

    def get_metrics(self, trainer, pl_module):
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class _RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that survives its run folder being moved or renamed.

    Lightning restores the best path (absolute, into the old folder) but not the best score
    when the folder differs, so the first resumed epoch would overwrite best.ckpt with a
    worse model. The saved state is rebased onto this run's checkpoint folder instead.
    """

    def load_state_dict(self, state_dict: dict) -> None:
        old = state_dict.get("dirpath")
        if old and self.dirpath and old != self.dirpath:
            def moved(path):
                return os.path.join(self.dirpath, os.path.basename(path)) if path else path

            state_dict = {**state_dict, "dirpath": self.dirpath,
                          "best_model_path": moved(state_dict.get("best_model_path")),
                          "kth_best_model_path": moved(state_dict.get("kth_best_model_path")),
                          "last_model_path": moved(state_dict.get("last_model_path")),
                          "best_k_models": {moved(k): v for k, v in (state_dict.get("best_k_models") or {}).items()}}
        super().load_state_dict(state_dict)


class _ResumeCheckpoint(_RunCheckpoint):
    """The every-epoch full checkpoint; its own state key so it can sit beside the best/last one."""

    @property
    def state_key(self) -> str:
        return "vatrack-resume-checkpoint"


def trainer_for(loop: LoopSettings, *, has_val: bool, checkpoint_dir: Path, history_path: Path | None,
                progress: bool, options: dict, max_epochs: int) -> tuple[L.Trainer, ModelCheckpoint, HistoryLogger]:
    """Lightning Trainer, best (or last) checkpoint and history logger for ``loop``."""
    progress = progress and progress_enabled()   # --quiet silences every bar
    if has_val:
        checkpoint = _RunCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=loop.monitor, mode=loop.mode,
                                    save_top_k=1, save_weights_only=True, enable_version_counter=False)
        callbacks = [EarlyStopping(monitor=loop.monitor, mode=loop.mode, patience=loop.patience,
                                   check_finite=loop.check_finite), checkpoint]
    else:
        checkpoint = _RunCheckpoint(dirpath=checkpoint_dir, filename="last", save_top_k=1, save_weights_only=True,
                                    enable_version_counter=False)
        callbacks = [checkpoint]
    resume_from = options.get("resume_from")
    if history_path is not None:
        # Full state (weights, optimiser, scheduler, early stopping, loop) after every epoch,
        # overwritten each time: what `vatrack train --resume` continues from.
        callbacks.append(_ResumeCheckpoint(dirpath=checkpoint_dir, filename="resume", save_top_k=1, monitor=None,
                                         every_n_epochs=1, save_on_train_epoch_end=True, enable_version_counter=False))
    if progress:
        callbacks.append(_ProgressBar(refresh_rate=5, leave=True))
    callbacks += list(options.get("callbacks") or [])   # e.g. a sweep's per-epoch pruning
    checkpoint_io = AtomicCheckpointIO(hold={"resume.ckpt"})
    history = HistoryLogger(history_path, resume=bool(resume_from), after_train_row=checkpoint_io.release)
    loggers = [history]
    if options.get("logger") and history_path is not None:
        extra = make_logger(options["logger"], history_path.parent)
        extra.log_hyperparams(loop.hyperparams)
        loggers.append(extra)
    trainer = L.Trainer(
        max_epochs=max_epochs,
        accelerator=options.get("accelerator") or "auto",
        devices=options.get("devices") or 1,
        strategy=options.get("strategy") or "auto",
        num_nodes=options.get("num_nodes") or 1,
        logger=loggers,
        callbacks=callbacks,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=True,
        gradient_clip_val=loop.grad_clip or None,
        gradient_clip_algorithm="norm",
        accumulate_grad_batches=loop.grad_accum,
        use_distributed_sampler=False,  # our batch sampler shards by rank itself
        log_every_n_steps=10**9,        # nothing is logged per step anyway
        default_root_dir=str(checkpoint_dir),
        plugins=[checkpoint_io],
    )
    return trainer, checkpoint, history


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temp file beside the target, then renamed onto it.

    Lightning's default writes through fsspec, which stages the file in the system temp
    folder and copies it across filesystems: a full disk or a kill during the copy left a
    truncated best.ckpt in the run folder. A failed write is one VatrackError line.

    Files named in ``hold`` (the resume checkpoint) are serialised when Lightning saves them
    but reach the disk only at :meth:`release`. Lightning saves checkpoints in
    on_train_epoch_end and logs the epoch's train figures after that: a kill in between left
    a resume checkpoint of an epoch whose train figures never reached history.csv (a resumed
    history then had a hole). The history logger releases the file once it has written them.
    """

    def __init__(self, hold=()):
        super().__init__()
        self.hold = set(hold)
        self.held: dict[str, bytes] = {}

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        if Path(path).name in self.hold:
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)   # the state as of now, whatever changes before release
            self.held[str(path)] = buffer.getvalue()
            return
        self._write(path, lambda tmp: torch.save(checkpoint, tmp))

    def release(self) -> None:
        """Write the held checkpoints (atomically, as every other)."""
        held, self.held = self.held, {}
        for path, data in held.items():
            self._write(path, lambda tmp: tmp.write_bytes(data))

    @staticmethod
    def _write(path, write) -> None:
        with atomic_path(path) as tmp:
            try:
                write(tmp)
            except OSError as err:
                raise VatrackError(f"cannot write checkpoint {path} ({err.strerror or err}); "
                                   "free disk space or choose another `out`") from None


@contextlib.contextmanager
def _quiet_lightning():
    """Lightning's start-up banners and dataloader-worker advice are noise for this model."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*LightningModule.log.*")
        warnings.filterwarnings("ignore", message=".*isinstance.*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def check_trainer_options(trainer: dict) -> None:
    """Lightning's accelerator / devices / strategy / num_nodes, checked before any work:
    a bad value or a GPU the machine lacks is one line, not a traceback after the run began."""
    given = {k: trainer.get(k) for k in ("accelerator", "devices", "strategy", "num_nodes") if trainer.get(k) is not None}
    if not given:
        return
    if "num_nodes" in given and given["num_nodes"] < 1:
        raise VatrackError(f"`num_nodes` must be at least 1 (got {given['num_nodes']})")
    devices = given.get("devices")
    if isinstance(devices, str) and devices != "auto" and not all(p.strip().lstrip("-").isdigit()
                                                                   for p in devices.split(",") if p.strip()):
        raise VatrackError(f"`devices` must be a number, a comma list of device indices or 'auto' (got '{devices}')")
    shown = ", ".join(f"`{k}={v!r}`" for k, v in given.items())
    try:
        with _quiet_lightning():
            L.Trainer(accelerator=given.get("accelerator") or "auto", devices=given.get("devices") or 1,
                      strategy=given.get("strategy") or "auto", num_nodes=given.get("num_nodes") or 1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    except Exception as err:  # MisconfigurationException, ValueError, RuntimeError: all mean "not here"
        why = " ".join(str(err).split())[:300] or type(err).__name__
        raise VatrackError(f"{shown}: not usable on this machine ({why})") from None


@dataclass(frozen=True)
class LoopSettings:
    """How the loop runs, apart from the module (which owns loss, optimiser and schedule).

    ``monitor`` / ``mode``: the logged figure early stopping and the best checkpoint follow.
    ``hyperparams``: what an extra ``--logger`` records as the run's hyperparameters.
    """

    patience: int
    grad_clip: float = 0.0
    grad_accum: int = 1
    monitor: str = "val_score"
    mode: str = "max"
    check_finite: bool = False
    hyperparams: dict = field(default_factory=dict)


@dataclass
class FitResult:
    """What :func:`fit_module` hands back: the fitted net (best weights, on the CPU, in eval
    mode) and the loop's facts."""

    net: torch.nn.Module
    history: pd.DataFrame          # one row per epoch (history.csv's rows)
    best_path: str                 # the checkpoint loaded back ('' if none)
    stopped_early: bool            # early stopping ended the loop (a finished run resumed: fit-done.json's)
    global_rank: int
    epochs: int                    # the loop's current epoch when it ended


def seed_run(seed: int) -> None:
    """Python, NumPy and torch seeded as every fit starts (Lightning's seed_everything)."""
    L.seed_everything(seed, workers=False, verbose=False)


def fit_module(module: L.LightningModule, train_loader, val_loader, loop: LoopSettings, *, max_epochs: int,
               run_dir: Path | None = None, progress: bool = False, options: dict | None = None) -> FitResult:
    """The one training loop: Lightning fits ``module`` (whose ``net`` attribute is the network)
    on ``train_loader``, validating on ``val_loader`` (None: no early stopping, the last epoch's
    weights), and the best checkpoint's weights are loaded back.

    ``run_dir`` receives history.csv, checkpoints/ (best or last, resume) and fit-done.json;
    without it the checkpoints live in a temporary folder. ``options``: Lightning's
    accelerator / devices / strategy / num_nodes, ``callbacks``, ``logger`` and ``resume_from``.
    SIGTERM and Ctrl+C end the loop cleanly and raise RunInterrupted.
    """
    options = dict(options or {})
    resume_from = options.get("resume_from")
    with contextlib.ExitStack() as stack:
        if run_dir is not None:
            checkpoint_dir = run_dir / "checkpoints"
        else:
            checkpoint_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vatrack-ckpt-")))
        # Written when the loop has ended; a --resume after that (e.g. stopped during a refit)
        # takes the kept checkpoint as it is instead of training the finished loop further.
        finished = checkpoint_dir / FIT_DONE if run_dir is not None else None
        done = _read_fit_done(finished) if resume_from and finished is not None else None
        with _quiet_lightning():
            trainer, checkpoint, history = trainer_for(
                loop, has_val=val_loader is not None, checkpoint_dir=checkpoint_dir,
                history_path=run_dir / "history.csv" if run_dir is not None else None,
                progress=progress, options=options, max_epochs=max_epochs)
            if done is None:
                try:
                    # Lightning stops by itself at the next step on SIGTERM: no exception in the
                    # middle of a checkpoint write.
                    with sigterm_deferred():
                        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader,
                                    ckpt_path=resume_from)
                except SIGTERMException:
                    # Lightning stops cleanly on SIGTERM but exits 0; a scheduler must see a failure.
                    raise _interrupted("SIGTERM", trainer, run_dir) from None
                except SystemExit:
                    # ... and turns Ctrl+C into a bare sys.exit(1) after its own clean-up.
                    raise _interrupted("SIGINT", trainer, run_dir) from None
                best_path = checkpoint.best_model_path or checkpoint.last_model_path
                stopper = trainer.early_stopping_callback
                stopped_early = bool(stopper is not None and stopper.stopped_epoch > 0)
                if finished is not None and trainer.global_rank == 0:
                    write_json(finished, {"checkpoint": Path(best_path).name if best_path else None,
                                          "stopped_early": stopped_early})
            else:
                best_path = str(checkpoint_dir / done["checkpoint"]) if done.get("checkpoint") else ""
                stopped_early = bool(done.get("stopped_early"))
        if best_path and Path(best_path).exists():
            saved = torch.load(best_path, map_location="cpu", weights_only=False)
            module.load_state_dict(saved["state_dict"])
    frame = history.frame() if history.rows else pd.DataFrame()
    return FitResult(net=module.net.cpu().eval(), history=frame, best_path=str(best_path or ""),
                     stopped_early=stopped_early, global_rank=int(trainer.global_rank),
                     epochs=int(trainer.current_epoch))


FIT_DONE = "fit-done.json"


def _read_fit_done(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(done, dict) and (done.get("checkpoint") is None or isinstance(done["checkpoint"], str)):
            return done
    except (OSError, ValueError):
        pass
    raise VatrackError(f"{path}: unreadable (not written by vatrack); pass `force=True` to train the run again")


def _interrupted(signal_name: str, trainer, run_dir) -> RunInterrupted:
    done = int(trainer.current_epoch)
    if run_dir is not None and done > 0:
        hint = f"rerun it with `resume=True` to continue from epoch {done + 1}"
    elif run_dir is not None:
        hint = "no epoch had finished; rerun it with `force=True`"
    else:
        hint = "nothing was saved"
    return RunInterrupted(signal_name, f"training stopped by {signal_name} after {done} finished epoch(s); {hint}")
