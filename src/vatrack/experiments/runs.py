"""One training run in one folder, and predictions from it.

``train_run`` writes RUN_DIR:

    config.yaml        the resolved configuration (a valid preset: --preset RUN_DIR/config.yaml)
    history.csv        one row per epoch (losses, CCC, composite r, RMSE, MAE, gap, lr, ...)
    metrics.json       run facts + validation figures of the best epoch (seen/unseen)
    checkpoints/       Lightning's best (or last, with --val none) checkpoint
    model/             the bundle ``predict_run`` / vatrack.models.load_model reads

Under DDP, Lightning re-runs the command in one process per extra device; those processes
train but never write (only global rank 0 prepares the folder and writes files).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from vatrack.errors import VatrackError
from vatrack.io import prepare_run_dir, write_json, write_text


def launcher_rank() -> int:
    """This process's rank as any common launcher sets it (0 when not launched as a group).

    Lightning's own launcher sets LOCAL_RANK/NODE_RANK; torchrun sets RANK; srun sets
    SLURM_PROCID. Any non-zero one means another process is the writer.
    """
    names = ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID")
    ranks = []
    for name in names:
        try:
            ranks.append(int(os.environ.get(name, "0") or 0))
        except ValueError:
            raise VatrackError(f"environment variable {name}={os.environ[name]!r} is not an integer rank") from None
    return max(ranks)


def train_run(data_path, preset="v3.3", out="runs/train", *, encoder: str | None = None, seed: int = 0,
              overrides=None, val: str = "cv", mode: str | None = None, force: bool = False,
              accelerator: str | None = None, devices=None, strategy: str | None = None, num_nodes: int | None = None,
              progress: bool = True, resume: bool = False, logger: str | None = None) -> dict:
    """Train the sequence model on a labelled CSV; returns the metrics written to metrics.json."""
    from vatrack.data import load_diary
    from vatrack.models.presets import config_yaml, resolve_config
    from vatrack.models.sequence import SequenceRegressor

    from vatrack.training.loggers import check_logger

    if val not in ("cv", "none"):
        raise VatrackError(f"--val must be cv or none (got '{val}')")
    logger = check_logger(logger)   # before any work: a missing package is one line, not a late crash
    config = resolve_config(preset, encoder=encoder, mode=mode, overrides=overrides)
    from vatrack.protocols import model_inputs

    train = model_inputs(load_diary(data_path, require_labels=True))  # no column carrying later rows
    out = Path(out)
    writer = launcher_rank() == 0
    resume_from = _resume_checkpoint(out, config_yaml(config)) if resume else None
    if writer and resume_from is None:
        prepare_run_dir(out, force=force)
        write_text(out / "config.yaml", config_yaml(config))
    trainer = {"accelerator": accelerator, "devices": _devices(devices), "strategy": strategy, "num_nodes": num_nodes,
               "logger": None if logger == "csv" else logger}
    if resume_from is not None:
        trainer["resume_from"] = str(resume_from)
    model = SequenceRegressor(config, seed=seed, val=val, trainer=trainer, run_dir=out, progress=progress and writer)
    model.fit(train)
    info = model.fit_info
    if not writer or info.get("global_rank", 0) != 0:
        return {}
    model.save(out / "model")
    metrics = {
        "run": {"preset": config.name, "seed": seed, "val": val, "encoder": config.encoder,
                "encoder_mode": config.encoder_mode, "data": str(data_path), "rows": len(train),
                "users": int(train["user_id"].nunique()), "trainer": {k: v for k, v in trainer.items() if v},
                "command": " ".join(["vatrack", *sys.argv[1:]]) if sys.argv and "vatrack" in sys.argv[0] else None,
                "python": platform.python_version()},
        **{k: v for k, v in info.items() if k not in ("history", "checkpoint")},
        "checkpoint": os.path.relpath(info["checkpoint"], out) if info.get("checkpoint") else None,
        "last_epoch": info["history"][-1] if info.get("history") else None,
    }
    write_json(out / "metrics.json", metrics)
    return metrics


def _resume_checkpoint(out: Path, config_text: str) -> Path | None:
    """The checkpoint a --resume continues from; None when the folder holds no run yet."""
    if not out.exists() or not any(out.iterdir()):
        return None  # nothing was started: --resume simply trains from scratch
    checkpoint = out / "checkpoints" / "resume.ckpt"
    if not checkpoint.exists():
        raise VatrackError(f"{out}: nothing to resume (no checkpoints/resume.ckpt; the run ended before its first "
                           "epoch or is not a vatrack run); pass --force to start it again")
    saved = out / "config.yaml"
    if saved.exists() and saved.read_text(encoding="utf-8") != config_text:
        raise VatrackError(f"{out}: --resume needs the same preset, --set and --encoder as the interrupted run "
                           f"(see {saved}); pass --force to start a new run instead")
    return checkpoint


def _devices(devices):
    """'2' -> 2, 'auto' stays, None stays: Lightning's own spellings pass through."""
    if devices is None or isinstance(devices, int):
        return devices
    text = str(devices).strip()
    return int(text) if text.isdigit() else text


def load_run_model(run_dir):
    """The model bundle of a run folder (RUN_DIR/model) or of a bundle folder itself."""
    from vatrack.models import load_model

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise VatrackError(f"{run_dir}: run folder not found")
    folder = run_dir / "model" if (run_dir / "model").is_dir() else run_dir
    return load_model(folder)


def predict_run(run_dir, data_path, out) -> Path:
    """Predict every row of ``data_path`` (labels, if any, are dropped first) into the official file."""
    from vatrack.data import load_diary
    from vatrack.evaluation.submission import write_submission
    from vatrack.protocols import strip_labels

    model = load_run_model(run_dir)
    inputs = strip_labels(load_diary(data_path))
    predictions = model.predict(inputs)
    return write_submission(predictions, "subtask1", out, expected_keys=inputs[["user_id", "text_id"]])
