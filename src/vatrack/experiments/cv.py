"""Official-style cross-validation of any subtask-1 estimator.

For every (seed, fold): fit a fresh estimator on the fold's training rows, predict the
held-out rows from their label-free inputs, score with the official metrics. The result
keeps per-fold figures (for paired comparisons), out-of-fold predictions (for ensembles)
and a mean ± std summary.

``jobs > 1`` fits folds in that many worker processes, each with its share of the torch
threads. On 2 CPU cores two one-thread trainings of the small sequence model get through
~40% more steps than one two-thread training (its matrices are too small to keep two
threads busy). Results are the same for the same ``jobs``; a different thread count may
change the last bits of floating-point sums.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from vatrack.data.schema import LABELS
from vatrack.evaluation.metrics import subtask1_metrics
from vatrack.errors import VatrackError
from vatrack.protocols import cv_plan, strip_labels

# Figures kept per fold, as flat column names: "<group>.<dim>.<metric>".
_METRICS = ("r_composite", "r_within", "r_between", "ccc", "rmse", "mae")
_GROUPS = ("all", "seen", "unseen")


@dataclass
class CVResult:
    per_fold: pd.DataFrame     # one row per (seed, fold): flat metric columns
    predictions: pd.DataFrame  # out-of-fold predictions with gold, seed, fold, is_seen_user

    def summary(self) -> pd.DataFrame:
        """mean and std over folds × seeds for every figure."""
        figures = self.per_fold.drop(columns=["seed", "fold"])
        return pd.DataFrame({"mean": figures.mean(), "std": figures.std(ddof=1), "n": figures.count()})


def flatten_metrics(scores: dict) -> dict:
    """Nested subtask1_metrics output -> {"all.valence.r_composite": ..., "seen.avg.r_composite": ...}."""
    flat = {}
    for group in _GROUPS:
        block = scores if group == "all" else scores.get(group)
        if not block:
            continue
        for dim in LABELS:
            for metric in _METRICS:
                if metric in block.get(dim, {}):
                    flat[f"{group}.{dim}.{metric}"] = float(block[dim][metric])
        for metric, value in block.get("avg", {}).items():
            flat[f"{group}.avg.{metric}"] = float(value)
    return flat


def run_cv(frame: pd.DataFrame, make_estimator: Callable[[int], object], n_folds: int = 5,
           seeds=(0, 1, 2), on_fold: Callable[[dict], None] | None = None, jobs: int = 1) -> CVResult:
    """Official-style CV of ``make_estimator(seed)``: a fresh estimator per fold of every seed.

    ``frame``: labelled diary rows (vatrack.load_diary). ``make_estimator``: seed -> unfitted
    estimator, e.g. ``lambda seed: vatrack.make_model("ridge", seed=seed)``. ``on_fold`` gets
    each fold's figures as it finishes; ``jobs`` folds train at once in worker processes.
    Returns per-fold official figures, out-of-fold predictions and ``summary()``.
    """
    rows, predictions = [], []
    for row, _, scored in iter_cv(frame, make_estimator, n_folds, seeds, jobs):
        rows.append(row)
        predictions.append(scored)
        if on_fold:
            on_fold(row)
    return CVResult(per_fold=pd.DataFrame(rows), predictions=pd.concat(predictions, ignore_index=True))


def iter_cv(frame: pd.DataFrame, make_estimator: Callable[[int], object], n_folds: int = 5, seeds=(0, 1, 2),
            jobs: int = 1) -> Iterator[tuple[dict, object, pd.DataFrame]]:
    """(figures row, fitted estimator, scored out-of-fold predictions) per fold, in plan order,
    as each finishes: callers can save a seed as soon as its folds are in."""
    if int(jobs) < 1:
        raise VatrackError(f"jobs must be at least 1 (got {jobs})")
    folds = list(cv_plan(frame, n_folds=n_folds, seeds=tuple(seeds)))
    # Estimators are made here, in fold order, so make_estimator may be any closure; only the
    # unfitted estimator and the fold's rows travel to a worker.
    tasks = ((make_estimator(fold.seed), *fold.split(frame)) for fold in folds)
    with _executor(min(int(jobs), len(folds))) as pool:
        with _sigint_ignored() if pool else contextlib.nullcontext():
            # map submits every fold now and so starts the workers: they inherit an ignored
            # SIGINT, so a Ctrl+C while they import never prints their tracebacks.
            results = pool.map(_fit_fold, tasks) if pool else map(_fit_fold, tasks)
        for fold, (model, scored) in zip(folds, results):
            row = {"seed": fold.seed, "fold": fold.fold, **flatten_metrics(subtask1_metrics(scored))}
            yield row, model, scored.assign(seed=fold.seed, fold=fold.fold)


_IN_FOLD = False  # a worker process: whether it is fitting a fold right now (see _worker_sigterm)


def _fit_fold(task) -> tuple[object, pd.DataFrame]:
    global _IN_FOLD
    model, train, test = task
    _IN_FOLD = True
    try:
        model = model.fit(train)
        pred = model.predict(strip_labels(test))
    finally:
        _IN_FOLD = False
    scored = test[["user_id", "text_id", *LABELS, "is_seen_user"]].merge(pred, on=["user_id", "text_id"], how="left")
    return model, scored


@contextlib.contextmanager
def _sigint_ignored():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _executor(jobs: int):
    if jobs <= 1:
        yield None
        return
    import torch

    threads = max(1, torch.get_num_threads() // jobs)
    # spawn, not fork: a forked child of a process that already ran torch ops can deadlock.
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(threads,))
    try:
        yield pool
    except BaseException:
        # Ctrl+C, SIGTERM or an error in the parent: the workers stop with it. Waiting for
        # them (the executor's default) would finish every running fold first, and a parent
        # that dies leaves them blocked forever on the result pipe.
        stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def stop_workers(pool: ProcessPoolExecutor, grace_s: float = 10.0) -> None:
    """Terminate a pool's worker processes now: SIGTERM (they clean up and exit), then SIGKILL."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=grace_s)
        if process.is_alive():
            process.kill()
            process.join(timeout=grace_s)


def _worker_init(threads: int) -> None:
    import signal

    import torch

    # Ctrl+C reaches the whole process group; the parent decides and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM (from the parent, or a scheduler) ends the fold at once, removing its temp files;
    # an idle worker just exits (an exception there would print multiprocessing's traceback).
    signal.signal(signal.SIGTERM, _worker_sigterm)
    _die_with_parent()
    torch.set_num_threads(threads)


def _worker_sigterm(signum, frame) -> None:
    if _IN_FOLD:
        from vatrack.errors import Interrupted

        raise Interrupted("SIGTERM")
    os._exit(128 + signum)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when its parent dies, even by SIGKILL (best effort elsewhere)."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def format_mean_std(summary: pd.DataFrame, key: str, digits: int = 3) -> str:
    if key not in summary.index or np.isnan(summary.loc[key, "mean"]):
        return "—"
    return f"{summary.loc[key, 'mean']:.{digits}f} ± {summary.loc[key, 'std']:.{digits}f}"


def estimator_factory(method: str | None = None, preset: str | None = None, encoder: str | None = None,
                      overrides=()) -> Callable[[int], object]:
    """seed -> a fresh estimator, for a baseline ``method`` or a sequence-model ``preset`` (exactly one).

    Both are validated here, before any fold runs.
    """
    from vatrack.models import model_from_method, model_from_preset

    if (method is None) == (preset is None):
        raise VatrackError("give exactly one of method (a baseline) or preset (a sequence-model preset)")
    if method is not None:
        model_from_method(method, encoder=encoder, overrides=list(overrides))
        return lambda seed: model_from_method(method, encoder=encoder, seed=seed, overrides=list(overrides))
    model_from_preset(preset, encoder=encoder, overrides=list(overrides))
    return lambda seed: model_from_preset(preset, encoder=encoder, seed=seed, overrides=list(overrides))
