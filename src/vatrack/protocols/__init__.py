"""Protocols: the official split, official-style CV folds, grouped out-of-fold predictions, forecasting instances."""

from vatrack.protocols.splits import (
    Fold,
    cv_plan,
    fold_summary,
    grouped_folds,
    grouped_oof,
    official_split,
    official_style_folds,
    strip_labels,
)

__all__ = ["Fold", "cv_plan", "fold_summary", "grouped_folds", "grouped_oof", "official_split", "official_style_folds", "strip_labels"]
