"""Official metrics, file scoring, submission writers and run statistics."""

from vatrack.evaluation.metrics import (
    DIMS,
    GOLD_COLUMNS,
    KEY_COLUMNS,
    PRED_COLUMNS,
    TASKS,
    ccc,
    composite_r,
    headline_score,
    mae,
    pearson,
    rmse,
    subtask1_metrics,
    subtask2_metrics,
)
from vatrack.evaluation.scoring import load_gold_file, load_prediction_file, render_table, score_files
from vatrack.evaluation.stats import bootstrap_ci, mean_std, paired_bootstrap, wilcoxon_paired
from vatrack.evaluation.submission import SUBMISSION_COLUMNS, SUBMISSION_FILES, check_submission, write_submission

__all__ = [
    "DIMS",
    "GOLD_COLUMNS",
    "KEY_COLUMNS",
    "PRED_COLUMNS",
    "SUBMISSION_COLUMNS",
    "SUBMISSION_FILES",
    "TASKS",
    "bootstrap_ci",
    "ccc",
    "check_submission",
    "composite_r",
    "headline_score",
    "load_gold_file",
    "load_prediction_file",
    "mae",
    "mean_std",
    "paired_bootstrap",
    "pearson",
    "render_table",
    "rmse",
    "score_files",
    "subtask1_metrics",
    "subtask2_metrics",
    "wilcoxon_paired",
]
