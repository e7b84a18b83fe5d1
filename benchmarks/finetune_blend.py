"""Choose the weight of a declared blend (finetune + ridge+user) on development seeds, then
report it on confirmation seeds — from the out-of-fold predictions of `vatrack compare` runs.

    vatrack compare --data $D/train_subtask1.csv --methods finetune --seeds 1 --folds 3 --out cv/ft-dev --cache cv/cache
    vatrack compare --data $D/train_subtask1.csv --methods ridge+user --encoder minilm+mpnet --seeds 1 --folds 3 --out cv/ru-dev --cache cv/cache
    (the same two with --seeds 2 --confirm, and best with --presets best --seeds 2 --folds 3 --confirm)
    .venv/bin/python benchmarks/finetune_blend.py cv/cache [--first finetune:minilm] [--second ridge+user:minilm+mpnet] [--reference best]

A blend fitted inside each fold (FineTunedRegressor(blend={"ridge+user": w})) predicts
exactly (1 - w) * finetune + w * ridge+user of the two models fitted on the same rows
(tests/test_finetune.py checks it), so blending the runs' out-of-fold predictions scores
the declared blend without fitting it again. The weight is the grid point with the highest
mean composite r (average of valence and arousal) over the development runs only; the
confirmation runs are read after it is fixed, and are then scored once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from vatrack.data import LABELS
from vatrack.evaluation.metrics import subtask1_metrics
from vatrack.evaluation.stats import paired_bootstrap
from vatrack.experiments.cv import flatten_metrics
from vatrack.experiments.ensemble import align_members, blend

CONFIRM_FROM = 1000  # confirmation seeds are 1000 and up (vatrack.protocols)
GRID = np.round(np.linspace(0.0, 1.0, 11), 2)
METRICS = ["all.valence.r_composite", "all.arousal.r_composite"]


def find(cache: Path, name: str, encoder: str | None, folds: int) -> pd.DataFrame:
    """Out-of-fold predictions of the cached version ``name`` (a method or a preset)."""
    for version in sorted(cache.glob("*/version.json")):
        info = json.loads(version.read_text())
        config = info.get("config", {})
        matches = (config.get("method") == name and config.get("encoder") == encoder) if encoder else info.get("name") == name
        if matches and info.get("folds") == folds:
            return pd.read_csv(version.parent / "oof_predictions.csv", dtype={"user_id": str, "text_id": str})
    raise SystemExit(f"no cached {name} ({encoder or 'preset'}) run with {folds} folds in {cache}")


def per_fold(aligned: pd.DataFrame, w: float) -> pd.DataFrame:
    """Official figures of (1 - w) * first + w * second for every (seed, fold)."""
    weights = {d: np.array([1.0 - w, w]) for d in LABELS}
    rows = []
    for (seed, fold), held in aligned.groupby(["seed", "fold"], sort=True):
        scores = flatten_metrics(subtask1_metrics(blend(held, weights)))
        rows.append({"seed": seed, "fold": fold, **{m: scores[m] for m in METRICS}})
    out = pd.DataFrame(rows)
    out["avg"] = out[METRICS].mean(axis=1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path, help="the --cache folder of the compare runs")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--first", default="finetune:minilm", help="method:encoder weighted 1 - w")
    parser.add_argument("--second", default="ridge+user:minilm+mpnet", help="method:encoder weighted w")
    parser.add_argument("--reference", default="best", help="a cached preset to compare against")
    args = parser.parse_args()
    (first, first_enc), (second, second_enc) = (m.split(":", 1) for m in (args.first, args.second))
    one = find(args.cache, first, first_enc, args.folds)
    two = find(args.cache, second, second_enc, args.folds)
    best = find(args.cache, args.reference, None, args.folds)
    # Only the (seed, fold) runs every member has (a cache may hold more seeds of one of them).
    runs_of = lambda frame: set(map(tuple, frame[["seed", "fold"]].drop_duplicates().to_numpy()))  # noqa: E731
    shared = runs_of(one) & runs_of(two)
    keep = lambda frame: frame[[tuple(k) in shared for k in frame[["seed", "fold"]].to_numpy()]]  # noqa: E731
    one, two, best = keep(one), keep(two), keep(best)
    aligned = align_members([one, two], [first, second])
    dev = aligned[aligned["seed"] < CONFIRM_FROM]
    conf = aligned[aligned["seed"] >= CONFIRM_FROM]
    runs = lambda frame: sorted({(int(s), int(f)) for s, f in frame[["seed", "fold"]].itertuples(index=False)})  # noqa: E731
    print(f"development runs (seed, fold): {runs(dev)}")
    curve = pd.DataFrame([{"w": w, **per_fold(dev, w)[["avg", *METRICS]].mean().to_dict()} for w in GRID])
    print(f"weight of {args.second} vs mean composite r on development seeds:")
    print(curve.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    chosen = float(curve.loc[curve["avg"].idxmax(), "w"])
    print(f"chosen on development seeds: w = {chosen}")

    print(f"\nconfirmation runs (seed, fold): {runs(conf)}")
    table = {"blend": per_fold(conf, chosen), args.first: per_fold(conf, 0.0), args.second: per_fold(conf, 1.0)}
    reference = align_members([best, best], [args.reference, "copy"])
    table[args.reference] = per_fold(reference[reference["seed"] >= CONFIRM_FROM], 0.0)
    keys = table["blend"][["seed", "fold"]]
    for name, frame in table.items():
        frame = keys.merge(frame, on=["seed", "fold"], how="left")
        table[name] = frame
        v, a = (frame[m] for m in METRICS)
        print(f"{name:<27} V {v.mean():.3f}  A {a.mean():.3f}  avg {frame['avg'].mean():.3f} ± {frame['avg'].std(ddof=1):.3f}")
    for ref in (args.reference, args.first, args.second):
        for metric, label in ((METRICS[1], "A"), ("avg", "avg")):
            res = paired_bootstrap(table["blend"][metric], table[ref][metric])
            print(f"blend − {ref} ({label}): {res['delta']:+.3f} [{res['ci_low']:+.3f}, {res['ci_high']:+.3f}]")
    print(f"reproduce: .venv/bin/python benchmarks/finetune_blend.py {args.cache} --folds {args.folds} "
          f"--first {args.first} --second {args.second} --reference {args.reference}")


if __name__ == "__main__":
    main()
