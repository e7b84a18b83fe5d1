"""The fine-tuned encoder's vectors in place of frozen ones inside the sequence model (issue #13 (b)).

Reproduce:  .venv/bin/python benchmarks/finetuned_vectors.py --data TRAIN.csv [--preset best] [--seeds 1] [--folds 3] [--confirm]
            [--encoder minilm] [--frozen ENCODERS] [--set KEY=VALUE ...]

Per (seed, fold) of official-style CV: MiniLM is fine-tuned on the fold's training rows
exactly as `--method finetune` does (same parameters, so a fit cached by `vatrack compare
--methods finetune` is reused), written out as a model folder, and the preset's network is
trained twice on the same rows: once on its own frozen encoder, once with the fine-tuned
MiniLM in place of frozen MiniLM (other encoders of the preset, e.g. MPNet, stay frozen; the
preset's blend members then read the fine-tuned vectors too). Both predict the held-out rows;
the paired difference is printed. Choose on development seeds (default); --confirm measures
on confirmation seeds. Output: aggregate figures only.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd

from vatrack.data import load_diary
from vatrack.evaluation.fold_stats import paired_test
from vatrack.evaluation.metrics import subtask1_metrics
from vatrack.experiments.cv import flatten_metrics
from vatrack.models import make_model
from vatrack.models.presets import resolve_config
from vatrack.protocols import cv_plan, cv_seeds, seed_set, strip_labels

METRICS = ["all.valence.r_composite", "all.arousal.r_composite"]


def score(model, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    pred = model.fit(train).predict(strip_labels(test))
    scored = test[["user_id", "text_id", "valence", "arousal", "is_seen_user"]].merge(pred, on=["user_id", "text_id"])
    flat = flatten_metrics(subtask1_metrics(scored))
    return {m: flat[m] for m in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--preset", default="best")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--confirm", action="store_true")
    parser.add_argument("--encoder", default="minilm", help="the transformer fine-tuned (as --method finetune)")
    parser.add_argument("--frozen", default=None, help="the network's frozen encoders (default: the preset's own)")
    parser.add_argument("--set", action="append", default=[], help="preset override, e.g. epochs=2")
    args = parser.parse_args()
    frame = load_diary(args.data, require_labels=True)  # as `vatrack compare` reads it: cached fine-tunes match
    seeds = cv_seeds(args.seeds, args.confirm)
    frozen_name = args.frozen or resolve_config(args.preset).encoder.name
    rows, started = [], time.time()
    for fold in cv_plan(frame, n_folds=args.folds, seeds=seeds):
        train, test = fold.split(frame)
        tuned = make_model("finetune", encoder=args.encoder, seed=fold.seed).fit(train)
        with tempfile.TemporaryDirectory() as tmp:
            folder = str(tuned.export_encoder(tmp))
            swapped = "+".join(folder if part == args.encoder else part for part in frozen_name.split("+"))
            if swapped == frozen_name:
                raise SystemExit(f"the frozen encoders {frozen_name} do not include {args.encoder}")
            figures = {variant: score(make_model("sequence", config=args.preset, encoder=name, seed=fold.seed,
                                                 overrides=args.set), train, test)
                       for variant, name in (("frozen", frozen_name), ("fine-tuned", swapped))}
        row = {"seed": fold.seed, "fold": fold.fold}
        for variant, scores in figures.items():
            row.update({f"{variant}|{m}": v for m, v in scores.items()})
            row[f"{variant}|avg"] = (scores[METRICS[0]] + scores[METRICS[1]]) / 2
        rows.append(row)
        print(f"seed {fold.seed} fold {fold.fold}: " + "  ".join(
            f"{v} V {figures[v][METRICS[0]]:.3f} A {figures[v][METRICS[1]]:.3f}" for v in figures), flush=True)
    table = pd.DataFrame(rows)
    for metric, label in ((METRICS[0], "valence"), (METRICS[1], "arousal"), ("avg", "avg")):
        a = table[["seed", "fold", f"fine-tuned|{metric}"]].rename(columns={f"fine-tuned|{metric}": metric})
        b = table[["seed", "fold", f"frozen|{metric}"]].rename(columns={f"frozen|{metric}": metric})
        test = paired_test(a, b, metric)
        print(f"{label}: frozen {b[metric].mean():.3f}, fine-tuned MiniLM {a[metric].mean():.3f}, "
              f"delta {test['delta']:+.3f} [{test['ci_low']:+.3f}, {test['ci_high']:+.3f}]")
    print(f"{args.preset} ({frozen_name}), {args.folds} folds x seeds {list(seeds)} ({seed_set(seeds)}), "
          f"{time.time() - started:.0f} s")
    extra = "".join(f" --set {o}" for o in args.set) + (f" --frozen {args.frozen}" if args.frozen else "")
    print("reproduce: .venv/bin/python benchmarks/finetuned_vectors.py --data TRAIN.csv "
          f"--preset {args.preset} --seeds {args.seeds} --folds {args.folds} --encoder {args.encoder}{extra}"
          + (" --confirm" if args.confirm else ""))


if __name__ == "__main__":
    main()
