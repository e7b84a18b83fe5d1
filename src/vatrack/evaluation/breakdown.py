"""Official subtask-1 figures per subgroup of texts, per (seed, fold): where a model fails.

Given out-of-fold predictions (``vatrack cv --out`` / ``vatrack compare``: user_id, text_id,
valence, arousal, is_seen_user, pred_valence, pred_arousal, seed, fold) and the diary frame
they were made on (``load_diary``: is_words, collection_phase, text), every (seed, fold) is
scored with :func:`subtask1_metrics` on each subgroup of its held-out rows:

* ``all``, ``seen`` / ``unseen`` users (``is_seen_user``);
* ``essays`` / ``feeling words`` (``is_words`` false / true);
* ``phase N`` (``collection_phase``; rows without a phase are in no phase group);
* ``length short / mid / long``: word-count terciles, cut once on the whole diary frame so
  every fold uses the same bins.

A subgroup is scored exactly as the official script scores a whole test set (within-user r
over the subgroup's rows of each user, between-user r over the users' subgroup means), so a
figure answers "how would the leaderboard score this model on these texts alone".

:func:`user_level_stability` asks how far a seen user's earlier level carries to their held-out
texts (the most a per-user offset can give), and :func:`label_structure` describes the gold labels themselves: how many distinct values, how
much of the variance lies within users (what within-user r has to explain), how many users
never vary.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vatrack.data.schema import KEYS, LABELS
from vatrack.errors import VatrackError
from vatrack.evaluation.metrics import pearson, seen_mask, subtask1_metrics

# Figures kept per (seed, fold, group, dim).
BREAKDOWN_METRICS = ("r_composite", "r_within", "r_between", "ccc", "mae")
LENGTH_BINS = ("short", "mid", "long")


def word_counts(texts: pd.Series) -> np.ndarray:
    """Words per text (whitespace-separated tokens)."""
    return texts.fillna("").astype(str).str.split().str.len().to_numpy(dtype=int)


def length_edges(texts: pd.Series) -> tuple[float, float]:
    """The word counts that cut ``texts`` into terciles (33rd and 67th percentile)."""
    counts = word_counts(texts)
    if counts.size == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(counts, [100 / 3, 200 / 3])
    return float(low), float(high)


def subgroup_masks(frame: pd.DataFrame, edges: tuple[float, float] | None = None) -> dict[str, np.ndarray]:
    """Name -> boolean row mask of ``frame`` for every subgroup present (empty ones left out).

    ``frame`` needs is_seen_user, is_words, collection_phase and text. ``edges``: the length
    tercile cuts (default: this frame's own).
    """
    masks: dict[str, np.ndarray] = {"all": np.ones(len(frame), dtype=bool)}
    seen = seen_mask(frame["is_seen_user"])
    masks["seen"], masks["unseen"] = seen, ~seen
    words = frame["is_words"].to_numpy(dtype=bool)
    masks["essays"], masks["feeling words"] = ~words, words
    phase = frame["collection_phase"]
    for value in sorted(phase.dropna().unique()):
        masks[f"phase {int(value)}"] = (phase == value).fillna(False).to_numpy(dtype=bool)
    low, high = edges if edges is not None else length_edges(frame["text"])
    counts = word_counts(frame["text"])
    masks["length short"] = counts <= low
    masks["length mid"] = (counts > low) & (counts <= high)
    masks["length long"] = counts > high
    return {name: mask for name, mask in masks.items() if mask.any()}


def join_diary(predictions: pd.DataFrame, diary: pd.DataFrame, what: str = "predictions") -> pd.DataFrame:
    """Out-of-fold predictions with the diary's is_words, collection_phase and text, by (user_id, text_id).

    Gold labels come from ``predictions`` (as scored); a key missing from ``diary`` is an error.
    """
    needed = [*KEYS, *LABELS, *(f"pred_{d}" for d in LABELS), "is_seen_user", "seed", "fold"]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise VatrackError(f"{what} lack column(s) {', '.join(missing)}; out-of-fold predictions come from "
                           "`vatrack cv` with `out` or from `vatrack compare`")
    if len(predictions) == 0:
        raise VatrackError(f"{what} have no rows")
    for column in ("is_words", "collection_phase", "text"):
        if column not in diary.columns:
            raise VatrackError(f"the diary frame lacks column '{column}'; read it with vatrack.load_diary")
    preds = predictions.copy()
    for key in KEYS:
        preds[key] = preds[key].astype(str)
    extra = diary[[*KEYS, "is_words", "collection_phase", "text"]].copy()
    for key in KEYS:
        extra[key] = extra[key].astype(str)
    if extra.duplicated(list(KEYS)).any():
        row = extra[extra.duplicated(list(KEYS))].iloc[0]
        raise VatrackError(f"the diary has (user_id, text_id) ({row['user_id']!r}, {row['text_id']!r}) twice")
    joined = preds.drop(columns=[c for c in ("is_words", "collection_phase", "text") if c in preds.columns])
    joined = joined.merge(extra, on=list(KEYS), how="left", indicator=True)
    lost = joined["_merge"] != "both"
    if lost.any():
        row = joined[lost].iloc[0]
        raise VatrackError(f"{what}: {int(lost.sum())} row(s) have keys the diary lacks, first (user_id, text_id) = "
                           f"({row['user_id']!r}, {row['text_id']!r}); give the data file the predictions were made on")
    return joined.drop(columns="_merge")


def breakdown_per_fold(predictions: pd.DataFrame, diary: pd.DataFrame, what: str = "predictions") -> pd.DataFrame:
    """One row per (seed, fold, group, dim): official figures of that subgroup's held-out rows.

    Columns: seed, fold, group, dim (valence, arousal, avg), the :data:`BREAKDOWN_METRICS`
    (avg: r_composite only), n_rows, n_users, n_users_within. Length terciles are cut on the
    whole ``diary``.
    """
    joined = join_diary(predictions, diary, what)
    edges = length_edges(diary["text"])
    rows = []
    for (seed, fold), part in joined.groupby(["seed", "fold"], sort=True):
        part = part.reset_index(drop=True)
        for group, mask in subgroup_masks(part, edges).items():
            scores = subtask1_metrics(part.loc[mask, ["user_id", *LABELS, *(f"pred_{d}" for d in LABELS)]])
            base = {"seed": int(seed), "fold": int(fold), "group": group,
                    "n_rows": scores["n_rows"], "n_users": scores["n_users"]}
            for dim in LABELS:
                rows.append({**base, "dim": dim, **{m: float(scores[dim][m]) for m in BREAKDOWN_METRICS},
                             "n_users_within": int(scores[dim]["n_users_within"])})
            rows.append({**base, "dim": "avg", "r_composite": float(scores["avg"]["r_composite"])})
    return pd.DataFrame(rows)


def group_order(group: str) -> tuple:
    """Sort key of subgroup names: all, seen, unseen, essays, feeling words, phases by number, lengths."""
    fixed = ["all", "seen", "unseen", "essays", "feeling words"]
    if group in fixed:
        return (0, fixed.index(group))
    if group.startswith("phase "):
        return (1, int(group.split()[1]))
    lengths = [f"length {b}" for b in LENGTH_BINS]
    return (2, lengths.index(group)) if group in lengths else (3, group)


def summarise_breakdown(per_fold: pd.DataFrame) -> pd.DataFrame:
    """mean, std (ddof=1) and runs of every figure per (group, dim), groups in :func:`group_order`.

    Columns: group, dim, runs, n_rows / n_users (mean per run), and ``<metric>_mean`` /
    ``<metric>_std`` for each metric. A run whose figure is NaN (no user left within) is
    left out of that figure's mean.
    """
    order = sorted(dict.fromkeys(per_fold["group"]), key=group_order)
    rows = []
    for (group, dim), part in per_fold.groupby(["group", "dim"], sort=False):
        row = {"group": group, "dim": dim, "runs": len(part),
               "n_rows": float(part["n_rows"].mean()), "n_users": float(part["n_users"].mean())}
        for metric in BREAKDOWN_METRICS:
            values = part[metric].dropna() if metric in part else pd.Series(dtype=float)
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    table["_g"] = table["group"].map({g: i for i, g in enumerate(order)})
    table["_d"] = table["dim"].map({d: i for i, d in enumerate((*LABELS, "avg"))})
    return table.sort_values(["_g", "_d"], kind="stable").drop(columns=["_g", "_d"]).reset_index(drop=True)


def _tied_pairs(part: pd.DataFrame, dim: str) -> float:
    shares = []
    for _, values in part.groupby("user_id")[dim]:
        n = len(values)
        if n >= 2:
            counts = values.value_counts().to_numpy()
            shares.append(float((counts * (counts - 1)).sum() / (n * (n - 1))))
    return float(np.mean(shares)) if shares else math.nan


def label_structure(diary: pd.DataFrame) -> pd.DataFrame:
    """Gold-label structure per dimension, over all texts and per text type (essays / feeling words).

    Columns: dim, texts, rows, distinct (values), mean, sd, within_share (share of the variance
    that lies within users: mean squared deviation from the user's mean / total variance),
    users, constant_users (users whose gold never changes: the official within-user r skips
    them), mode_share (share of the commonest value), tied_pairs (over users with 2+ texts, the
    mean share of a user's pairs of texts with equal gold: pairs within-user r cannot order).
    """
    words = diary["is_words"].to_numpy(dtype=bool)
    rows = []
    for dim in LABELS:
        for texts, mask in (("all", np.ones(len(diary), dtype=bool)), ("essays", ~words), ("feeling words", words)):
            part = diary.loc[mask, ["user_id", dim]].dropna()
            if part.empty:
                continue
            values = part[dim].to_numpy(dtype=float)
            user_mean = part.groupby("user_id")[dim].transform("mean").to_numpy(dtype=float)
            total = float(values.var())
            per_user = part.groupby("user_id")[dim]
            rows.append({
                "dim": dim, "texts": texts, "rows": len(part), "distinct": int(part[dim].nunique()),
                "mean": float(values.mean()), "sd": float(values.std()),
                "within_share": float(np.mean((values - user_mean) ** 2) / total) if total > 0 else math.nan,
                "users": int(part["user_id"].nunique()),
                "constant_users": int((per_user.nunique() == 1).sum()),
                "mode_share": float(part[dim].value_counts(normalize=True).iloc[0]),
                "tied_pairs": _tied_pairs(part, dim),
            })
    return pd.DataFrame(rows)


def user_level_stability(predictions: pd.DataFrame, diary: pd.DataFrame) -> pd.DataFrame:
    """How well a seen user's earlier level predicts the level of their held-out texts, per run.

    For each (seed, fold) and dimension: Pearson r, over the seen users of that run's held-out
    rows, between each user's mean gold in the *other* rows of ``diary`` (what a model may have
    learned about them) and their mean gold in the held-out rows. It is the between-user r a
    per-user mean of the training labels would reach on seen users: low r means a user's level
    drifts and a per-user offset has little to carry over. Columns: seed, fold, dim, r, n_users.
    """
    joined = join_diary(predictions, diary)
    labels = diary[[*KEYS, *LABELS]].astype({k: str for k in KEYS})
    rows = []
    for (seed, fold), part in joined.groupby(["seed", "fold"], sort=True):
        seen = part[seen_mask(part["is_seen_user"])]
        held = set(zip(part["user_id"], part["text_id"]))
        other = labels[[key not in held for key in zip(labels["user_id"], labels["text_id"])]]
        other = other[other["user_id"].isin(set(seen["user_id"]))]
        if seen.empty or other.empty:
            continue
        means = seen.groupby("user_id")[list(LABELS)].mean().join(
            other.groupby("user_id")[list(LABELS)].mean().add_suffix("_before"), how="inner")
        for dim in LABELS:
            rows.append({"seed": int(seed), "fold": int(fold), "dim": dim,
                         "r": pearson(means[f"{dim}_before"], means[dim]), "n_users": len(means)})
    return pd.DataFrame(rows, columns=["seed", "fold", "dim", "r", "n_users"])
