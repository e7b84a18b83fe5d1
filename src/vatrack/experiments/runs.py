"""One training run in one folder, and predictions from it.

``train_run`` writes RUN_DIR:

    config.yaml        the resolved configuration (a valid preset: --preset RUN_DIR/config.yaml)
    history.csv        one row per epoch (losses, CCC, composite r, RMSE, MAE, gap, lr, ...)
    metrics.json       run facts + validation figures of the best epoch (seen/unseen)
    scales.json        the user's rating scales and the model scale they map onto (predict maps back)
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

from vatrack.errors import Interrupted, RunInterrupted, VatrackError
from vatrack.io import (
    check_writable,
    claim_run_dir,
    discard_run_dir,
    finish_run_dir,
    prepare_run_dir,
    release_run_dir,
    run_dir_entries,
    write_json,
    write_text,
)

MAX_SEED = 2**32 - 1  # numpy's and Lightning's seed range


SCALES_FILE = "scales.json"


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


def check_seed(seed, option: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise VatrackError(f"`{option}` must be an integer from 0 to {MAX_SEED} (got {seed})")
    return seed


def train_run(data_path, preset="v3.3", out="runs/train", *, encoder: str | None = None, seed: int = 0,
              overrides=None, val: str | None = None, mode: str | None = None, force: bool = False,
              accelerator: str | None = None, devices=None, strategy: str | None = None, num_nodes: int | None = None,
              progress: bool = True, resume: bool = False, logger: str | None = None, callbacks=None,
              format=None) -> dict:
    """Train the sequence model on a labelled CSV; returns the metrics written to metrics.json.

    ``callbacks``: extra Lightning callbacks (not recorded in metrics.json). ``format``: the
    file's columns, rating scales and dates (recorded in scales.json for predict). ``val``
    defaults to 'cv'. A method preset (e.g. finetune) trains in one go: the sequence model's
    own settings (val, mode, resume, trainer and logger options) are refused for it.
    """
    from vatrack.data import DiaryFormat, load_diary
    from vatrack.models.presets import config_yaml, resolve_config
    from vatrack.models.sequence import SequenceRegressor

    from vatrack.training.loggers import check_logger

    if val not in (None, "cv", "none"):
        raise VatrackError(f"val must be 'cv' or 'none' (got '{val}')")
    check_seed(seed)
    from vatrack.models import model_from_preset
    from vatrack.models.presets import method_preset

    spec = method_preset(preset, overrides, encoder=encoder)
    if spec is not None:
        model = model_from_preset(preset, seed=seed, encoder=encoder, overrides=overrides)
        sequence_only = {"val": val, "mode": mode, "resume": resume or None, "accelerator": accelerator,
                         "devices": devices, "strategy": strategy, "num_nodes": num_nodes, "callbacks": callbacks,
                         "logger": None if logger in (None, "csv") else logger}
        given = [name for name, value in sequence_only.items() if value is not None]
        if given:
            raise VatrackError(f"preset '{spec.name}' trains the `{spec.method}` method in one go; "
                               f"{', '.join(f'`{name}`' for name in given)}: for sequence-model runs only, leave out")
        return _train_method_run(spec, model, data_path, out, seed=seed, force=force, format=format, progress=progress)
    val = val or "cv"
    logger = check_logger(logger)   # before any work: a missing package is one line, not a late crash
    config = resolve_config(preset, encoder=encoder, mode=mode, overrides=overrides)
    trainer = {"accelerator": accelerator, "devices": _devices(devices), "strategy": strategy, "num_nodes": num_nodes,
               "logger": None if logger == "csv" else logger}
    from vatrack.training.trainer import check_trainer_options

    check_trainer_options(trainer)
    format = format or DiaryFormat()
    from vatrack.protocols import model_inputs

    train = model_inputs(load_diary(data_path, require_labels=True, format=format))  # no column carrying later rows
    out = Path(out)
    writer = launcher_rank() == 0
    created = not out.exists()
    if writer and resume:
        claim_run_dir(out)
    try:
        resume_from = _resume_checkpoint(out, config) if resume else None
        if writer and resume_from is None:
            prepare_run_dir(out, force=force, inputs={"data": data_path}, until_done=True)
            write_text(out / "config.yaml", config_yaml(config))
            write_json(out / SCALES_FILE, format.scale_record())
    except BaseException:
        if writer and resume:
            release_run_dir(out)
        raise
    if resume_from is not None:
        trainer["resume_from"] = str(resume_from)
    if callbacks:
        trainer["callbacks"] = list(callbacks)
    try:
        model = SequenceRegressor(config, seed=seed, val=val, trainer=trainer, run_dir=out, progress=progress and writer)
        model.fit(train)
        info = model.fit_info
        if not writer or info.get("global_rank", 0) != 0:
            return {}
        model.save(out / "model")
        metrics = {
            "run": {"preset": config.name, "seed": seed, "val": val, "encoder": config.encoder.name,
                    "encoder_mode": config.encoder.mode, "data": str(data_path), "rows": len(train),
                    "users": int(train["user_id"].nunique()),
                    "trainer": {k: v for k, v in trainer.items() if v and k != "callbacks"},
                    "command": " ".join(["vatrack", *sys.argv[1:]]) if sys.argv and "vatrack" in sys.argv[0] else None,
                    "python": platform.python_version()},
            **{k: v for k, v in info.items() if k not in ("history", "checkpoint")},
            "checkpoint": os.path.relpath(info["checkpoint"], out) if info.get("checkpoint") else None,
            "last_epoch": info["history"][-1] if info.get("history") else None,
        }
        write_json(out / "metrics.json", metrics)
        finish_run_dir(out)   # complete: what --force replaced can go now
    except BaseException as stop:
        raise _stopped(stop, out, writer=writer, fresh=resume_from is None, created=created) from None
    finally:
        if writer:
            release_run_dir(out)
    return metrics


def _train_method_run(spec, model, data_path, out, *, seed: int, force: bool, format, progress: bool) -> dict:
    """``train_run`` for a method preset (e.g. finetune): the same folder (config.yaml,
    scales.json, model/, metrics.json) without the sequence model's epochs and checkpoints.
    A stopped or failed fit leaves no folder behind (there is nothing to resume)."""
    import time

    import yaml

    from vatrack.data import DiaryFormat, load_diary
    from vatrack.protocols import model_inputs

    if progress and "progress" in model.get_params():
        model.set_params(progress=True)
    format = format or DiaryFormat()
    train = model_inputs(load_diary(data_path, require_labels=True, format=format))
    out = Path(out)
    created = not out.exists()
    prepare_run_dir(out, force=force, inputs={"data": data_path}, until_done=True)
    try:
        write_text(out / "config.yaml", yaml.safe_dump(spec.model_dump(), sort_keys=False))
        write_json(out / SCALES_FILE, format.scale_record())
        started = time.perf_counter()
        model.fit(train)
        model.save(out / "model")
        info = getattr(model, "fit_info", {}) or {}
        metrics = {"run": {"preset": spec.name, "method": spec.method, "seed": seed, "data": str(data_path),
                           "rows": len(train), "users": int(train["user_id"].nunique()),
                           "command": " ".join(["vatrack", *sys.argv[1:]]) if sys.argv and "vatrack" in sys.argv[0] else None,
                           "python": platform.python_version()},
                   "params": spec.params, "train_time_s": round(time.perf_counter() - started, 3),
                   "epochs_run": info.get("epochs_run"), "cached_fit": info.get("cached_fit")}
        write_json(out / "metrics.json", metrics)
    except BaseException:
        discard_run_dir(out, created)  # a fit is all or nothing: no half-written run folder, the replaced one back
        raise
    finish_run_dir(out)
    return metrics


def _stopped(stop: BaseException, out: Path, *, writer: bool, fresh: bool, created: bool) -> BaseException:
    """What a train that failed or was stopped leaves behind, and the line that says so.

    Before its first epoch ended the folder holds only config.yaml: it is removed, so the
    same command simply runs again (no "already exists"). A signal after that point says
    how to continue: --resume.
    """
    kept = (out / "checkpoints" / "resume.ckpt").exists()
    if writer and fresh and not kept:
        discard_run_dir(out, created)
    signal_name = (stop.signal_name if isinstance(stop, (RunInterrupted, Interrupted))
                   else "SIGINT" if isinstance(stop, KeyboardInterrupt) else None)
    if signal_name and not kept:
        return RunInterrupted(signal_name, f"training stopped by {signal_name} before its first epoch ended; "
                              "nothing was kept, rerun the same command")
    if signal_name and not isinstance(stop, RunInterrupted):
        # stopped outside the epoch loop (e.g. while saving the model): the loop's checkpoints are there
        return RunInterrupted(signal_name, f"training stopped by {signal_name} after its last checkpoint; rerun it "
                              "with `resume=True` to finish it")
    return stop


def _resume_checkpoint(out: Path, config) -> Path | None:
    """The checkpoint a --resume continues from; None when the folder holds no run yet."""
    if out.exists() and not out.is_dir():
        raise VatrackError(f"{out} is a file, not a run folder; choose another `out`")
    if not run_dir_entries(out):
        return None  # nothing was started: --resume simply trains from scratch
    checkpoint = out / "checkpoints" / "resume.ckpt"
    if not checkpoint.exists():
        raise VatrackError(f"{out}: nothing to resume (no checkpoints/resume.ckpt; the run ended before its first "
                           "epoch or is not a vatrack run); pass `force=True` to start it again")
    if (out / "metrics.json").exists():
        raise VatrackError(f"{out}: this run already finished (metrics.json is there); nothing to resume. "
                           "Use it as it is, or pass `force=True` to train it again")
    saved = out / "config.yaml"
    if not saved.exists():
        raise VatrackError(f"{saved} is missing, so `resume=True` cannot check that the run continues with the same "
                           "configuration; pass `force=True` to start the run again")
    from vatrack.models.presets import load_preset

    try:
        same = load_preset(saved) == config   # a flat config.yaml of an older version counts too
    except VatrackError:
        raise VatrackError(f"{saved}: unreadable; pass `force=True` to start the run again") from None
    if not same:
        raise VatrackError(f"{out}: `resume=True` needs the same `preset`, `overrides` and `encoder` as the interrupted run "
                           f"(see {saved}); pass `force=True` to start a new run instead")
    _check_resume_file(checkpoint)
    return checkpoint


def _check_resume_file(checkpoint: Path) -> None:
    """A truncated, empty or foreign resume.ckpt: one line, before Lightning reads it."""
    import torch

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        ok = isinstance(state, dict) and {"state_dict", "loops", "epoch", "callbacks"} <= set(state)
    except Exception:
        ok = False
    if not ok:
        raise VatrackError(f"{checkpoint}: unreadable checkpoint (truncated, empty or not written by vatrack train); "
                           "pass `force=True` to start the run again")


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


def run_format(run_dir, format=None):
    """``format`` with the rating scales the run was trained on (unless it sets its own)."""
    import json

    from vatrack.data import DiaryFormat

    format = format or DiaryFormat()
    path = Path(run_dir) / SCALES_FILE
    if not path.exists():
        return format  # runs from before scales were recorded: the model's own scale
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return format.with_scales_from(record)
    except (ValueError, KeyError, TypeError) as err:
        raise VatrackError(f"{path}: unreadable scale record ({err}); restore it or pass `scales`") from None


def predict_run(run_dir, data_path, out, format=None) -> Path:
    """Predict every row of ``data_path`` (labels, if any, are dropped first) into the official file,
    on the rating scale the run was trained on (or ``format``'s own)."""
    from vatrack.data import load_diary
    from vatrack.evaluation.submission import write_submission
    from vatrack.protocols import strip_labels

    check_writable(out, inputs={"data": data_path})
    model = load_run_model(run_dir)
    format = run_format(run_dir, format)
    inputs = strip_labels(load_diary(data_path, format=format, ignore_labels=True))
    predictions = format.predictions_to_user(model.predict(inputs))
    return write_submission(predictions, "subtask1", out, expected_keys=inputs[["user_id", "text_id"]])
