"""Arousal study (issue #13): cheap ridge+user variants screened on the same folds, and the label ceiling.

Reproduce:  .venv/bin/python benchmarks/arousal_variants.py --data TRAIN.csv [--encoder minilm+mpnet] [--seeds 3] [--confirm]

Per (seed, fold) of official-style CV the ridge is fitted once and its user offsets varied,
so every variant is paired with plain ridge+user on identical folds (and, with the default
encoder and seeds 0..2, plain reproduces `vatrack cv --method ridge+user --encoder
minilm+mpnet`): ridge without offsets, arousal offsets scaled by 0.5 / 0, recency-weighted
offsets (half-life h texts), and one ridge per text type (what `ridge+user+types` does).
Choose on development seeds (default); --confirm measures on the confirmation seeds.

First it prints the label ceiling: the Pearson r a perfect latent score keeps against gold
cut into the observed levels with the observed shares (a standard-normal latent). Output:
aggregate figures only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge, RidgeCV

from vatrack.data import load_diary
from vatrack.data.schema import LABELS, clip_to_scale
from vatrack.evaluation.fold_stats import paired_test
from vatrack.evaluation.metrics import subtask1_metrics
from vatrack.models.baselines import RIDGE_ALPHAS, RidgeUserBaseline, shrinkage_k, shrunk_user_offsets
from vatrack.protocols import cv_plan, cv_seeds, grouped_oof, seed_set


def label_ceiling(frame: pd.DataFrame) -> dict[str, float]:
    from scipy.stats import norm

    z = np.random.default_rng(0).normal(size=1_000_000)
    out = {}
    for dim in LABELS:
        shares = frame[dim].value_counts(normalize=True).sort_index().to_numpy()
        gold = np.searchsorted(norm.ppf(np.cumsum(shares)[:-1]), z)
        out[dim] = float(np.corrcoef(z, gold)[0, 1])
    return out


def recency_offsets(users: pd.Series, residuals: np.ndarray, halflife: float) -> dict:
    """A user's residual mean weighted 0.5 ** (age / halflife) (age in texts, newest 0), shrunk with the effective n."""
    k = shrinkage_k(users, residuals)
    frame = pd.DataFrame(residuals, columns=list(LABELS)).assign(user=users.to_numpy())
    out = {}
    for user, g in frame.groupby("user", sort=False):
        n = len(g)
        w = 0.5 ** ((n - 1 - np.arange(n)) / halflife)
        mean = (g[list(LABELS)].to_numpy() * w[:, None]).sum(0) / w.sum()
        n_eff = w.sum() ** 2 / (w ** 2).sum()
        out[user] = mean * n_eff / (n_eff + k)
    return out


def fold_variants(x_train, x_test, train, test) -> dict[str, np.ndarray]:
    y = train[list(LABELS)].to_numpy(float)
    users = train["user_id"]
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(x_train, y)
    base = ridge.predict(x_test)
    residuals = y - grouped_oof(Ridge(alpha=ridge.alpha_), x_train, y, groups=users.to_numpy())
    words_train, words_test = train["is_words"].to_numpy(bool), test["is_words"].to_numpy(bool)
    base_types, oof_types = base.copy(), np.zeros_like(y)
    for mask_train, mask_test in ((words_train, words_test), (~words_train, ~words_test)):
        typed = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(x_train[mask_train], y[mask_train])
        if mask_test.any():
            base_types[mask_test] = typed.predict(x_test[mask_test])
        oof_types[mask_train] = grouped_oof(Ridge(alpha=typed.alpha_), x_train[mask_train], y[mask_train],
                                            groups=users.to_numpy()[mask_train])

    def offset(offsets: dict, scale=(1.0, 1.0)) -> np.ndarray:
        zero = np.zeros(len(LABELS))
        return np.stack([offsets.get(u, zero) for u in test["user_id"]]) * np.asarray(scale)

    plain = shrunk_user_offsets(users, residuals)
    out = {"ridge+user": base + offset(plain), "ridge (no offsets)": base,
           "arousal offsets x0.5": base + offset(plain, (1.0, 0.5)), "arousal offsets x0": base + offset(plain, (1.0, 0.0))}
    for h in (5, 10, 20):
        out[f"recency offsets h={h}"] = base + offset(recency_offsets(users, residuals, h))
    out["one ridge per text type"] = base_types + offset(shrunk_user_offsets(users, y - oof_types))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--encoder", default="minilm+mpnet")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--confirm", action="store_true")
    args = parser.parse_args()
    frame = load_diary(args.data, require_labels=True)
    ceiling = label_ceiling(frame)
    print("label ceiling, r(latent, gold cut into the observed levels): "
          + ", ".join(f"{d} {frame[d].nunique()} levels {r:.3f}" for d, r in ceiling.items()))
    seeds = cv_seeds(args.seeds, args.confirm)
    vectors = RidgeUserBaseline(encoder=args.encoder)._features(frame)
    row_of = {key: i for i, key in enumerate(zip(frame["user_id"], frame["text_id"]))}
    per_fold: dict[str, list] = {}
    start = time.time()
    for fold in cv_plan(frame, n_folds=args.folds, seeds=seeds):
        train, test = fold.split(frame)
        rows = lambda f: np.array([row_of[k] for k in zip(f["user_id"], f["text_id"])])  # noqa: E731
        for name, pred in fold_variants(vectors[rows(train)], vectors[rows(test)], train, test).items():
            pred = clip_to_scale(pred)
            scored = test[["user_id", *LABELS, "is_seen_user"]].assign(pred_valence=pred[:, 0], pred_arousal=pred[:, 1])
            s = subtask1_metrics(scored)
            per_fold.setdefault(name, []).append({
                "seed": fold.seed, "fold": fold.fold, "all.avg.r_composite": s["avg"]["r_composite"],
                **{f"all.{d}.{m}": s[d][m] for d in LABELS for m in ("r_composite", "r_within", "r_between")},
                **{f"{g}.arousal.r_composite": s[g]["arousal"]["r_composite"] for g in ("seen", "unseen") if g in s}})
    print(f"{args.encoder}, {args.folds} folds x seeds {list(seeds)} ({seed_set(seeds)}), {time.time() - start:.0f} s")
    reference = pd.DataFrame(per_fold["ridge+user"])
    metrics = ["all.avg.r_composite", "all.valence.r_composite", "all.arousal.r_composite", "all.arousal.r_within",
               "all.arousal.r_between", "seen.arousal.r_composite", "unseen.arousal.r_composite"]
    print("| variant | " + " | ".join(metrics) + " | Δ arousal vs ridge+user [95% CI] | folds better |")
    print("|---|" + "---|" * (len(metrics) + 2))
    for name, rows_ in per_fold.items():
        table = pd.DataFrame(rows_)
        test = paired_test(table, reference, "all.arousal.r_composite")
        better = int((table["all.arousal.r_composite"] > reference["all.arousal.r_composite"]).sum())
        print(f"| {name} | " + " | ".join(f"{table[m].mean():.3f}" for m in metrics)
              + f" | {test['delta']:+.3f} [{test['ci_low']:+.3f}, {test['ci_high']:+.3f}] | {better}/{len(table)} |")
    print("reproduce: .venv/bin/python benchmarks/arousal_variants.py --data " + args.data + f" --encoder {args.encoder}"
          + f" --folds {args.folds} --seeds {args.seeds}" + (" --confirm" if args.confirm else ""))


if __name__ == "__main__":
    main()
