"""Official-style cross-validation of any subtask-1 estimator.

For every (seed, fold): fit a fresh estimator on the fold's training rows, predict the
held-out rows from their label-free inputs, score with the official metrics. The result
keeps per-fold figures (for paired comparisons), out-of-fold predictions (for ensembles)
and a mean ± std summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from vatrack.data.schema import LABELS
from vatrack.evaluation.metrics import subtask1_metrics
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
           seeds=(0, 1, 2), on_fold: Callable[[dict], None] | None = None) -> CVResult:
    """Run ``make_estimator(seed)`` through every fold of every seed."""
    rows, predictions = [], []
    for fold in cv_plan(frame, n_folds=n_folds, seeds=tuple(seeds)):
        train, test = fold.split(frame)
        model = make_estimator(fold.seed).fit(train)
        pred = model.predict(strip_labels(test))
        scored = test[["user_id", "text_id", *LABELS, "is_seen_user"]].merge(pred, on=["user_id", "text_id"], how="left")
        row = {"seed": fold.seed, "fold": fold.fold, **flatten_metrics(subtask1_metrics(scored))}
        rows.append(row)
        predictions.append(scored.assign(seed=fold.seed, fold=fold.fold))
        if on_fold:
            on_fold(row)
    return CVResult(per_fold=pd.DataFrame(rows), predictions=pd.concat(predictions, ignore_index=True))


def format_mean_std(summary: pd.DataFrame, key: str, digits: int = 3) -> str:
    if key not in summary.index or np.isnan(summary.loc[key, "mean"]):
        return "—"
    return f"{summary.loc[key, 'mean']:.{digits}f} ± {summary.loc[key, 'std']:.{digits}f}"
