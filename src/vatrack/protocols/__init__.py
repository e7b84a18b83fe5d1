"""Protocols: the official split, official-style CV folds, forecasting instances."""

from vatrack.protocols.splits import Fold, cv_plan, fold_summary, official_split, official_style_folds, strip_labels

__all__ = ["Fold", "cv_plan", "fold_summary", "official_split", "official_style_folds", "strip_labels"]
