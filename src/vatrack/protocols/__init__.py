"""Protocols: the official split, official-style CV folds, forecasting instances."""

from vatrack.protocols.splits import (FUTURE_COLUMNS, Fold, cv_plan, fold_summary, model_inputs, official_split,
                                      official_style_folds, strip_labels)

__all__ = ["FUTURE_COLUMNS", "Fold", "cv_plan", "fold_summary", "model_inputs", "official_split", "official_style_folds",
           "strip_labels"]
