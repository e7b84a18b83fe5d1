"""Protocols: the official split, official-style CV folds, grouped out-of-fold predictions, forecasting instances."""

from vatrack.protocols.splits import (CONFIRMATION_SEEDS, FUTURE_COLUMNS, Fold, check_development_seeds, cv_plan,
                                      cv_seeds, fold_summary, grouped_folds, grouped_oof, model_inputs, official_split,
                                      official_style_folds, seed_set, strip_labels)

__all__ = ["CONFIRMATION_SEEDS", "FUTURE_COLUMNS", "Fold", "check_development_seeds", "cv_plan", "cv_seeds",
           "fold_summary", "grouped_folds", "grouped_oof", "model_inputs", "official_split", "official_style_folds",
           "seed_set", "strip_labels"]
