"""Which model should `vatrack track` use by default? Its own protocol, on a labelled diary.

Reproduce (prints the exact command at the end):
    .venv/bin/python benchmarks/track_methods.py --data ../shared/data/semeval2026-task2/train_subtask1.csv \
        --methods user-mean,ridge,ridge+user --seeds 0,1,2            # development seeds: choose
    .venv/bin/python benchmarks/track_methods.py ... --seeds 1000,1001,1002,1003,1004   # confirmation: report

For each seed, ``--hide`` (default 25 %) of the entries lose their ratings, as in an EMA diary
with unrated entries; ``vatrack.experiments.track.run_track`` then fits on the rest exactly as
the command does (5 out-of-fold groups + one fit on all ratings). Two figures per method and
dimension, mean ± std over seeds:

    oof r / MAE       the rated entries, predicted out of fold (what quality.csv reports)
    hidden r / MAE    the hidden entries, predicted by the model fitted on all ratings, scored
                      against the ratings we hid (a true hold-out: no model saw them)

r is Pearson over entries, r_within the official within-person mean r. Development seeds pick
the default; confirmation seeds, which no choice used, give the figures to report.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import numpy as np
import pandas as pd


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a labelled diary (e.g. train_subtask1.csv)")
    p.add_argument("--methods", default="user-mean,ridge,ridge+user", help="comma list of baselines")
    p.add_argument("--encoder", default="minilm", help="encoder of the text methods (e.g. minilm, minilm+mpnet)")
    p.add_argument("--seeds", default="0,1,2", help="comma list of seeds (hidden entries and folds)")
    p.add_argument("--hide", type=float, default=0.25, help="share of entries whose ratings are hidden")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from vatrack.data import LABELS, load_diary
    from vatrack.evaluation import subtask1_metrics
    from vatrack.experiments.track import run_track

    full = load_diary(args.data, require_labels=True)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        hidden = np.random.default_rng(seed).random(len(full)) < args.hide
        diary = full.copy()
        diary.loc[hidden, list(LABELS)] = np.nan
        diary["timestamp"] = diary["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
        for method in args.methods.split(","):
            start = time.perf_counter()
            result = run_track(diary, method=method, encoder=args.encoder, seed=seed)
            took = time.perf_counter() - start
            # diary.frame is sorted like `full` (same keys, same order): compare row by row.
            assert (result.diary.frame["text_id"].to_numpy() == full["text_id"].to_numpy()).all()
            pred = result.predictions
            for part, mask in (("oof", ~hidden), ("hidden", hidden)):
                scored = full.loc[mask, ["user_id", *LABELS]].assign(
                    pred_valence=pred[mask, 0], pred_arousal=pred[mask, 1])
                figures = subtask1_metrics(scored)
                for label in LABELS:
                    rows.append({"seed": seed, "method": method, "part": part, "dim": label,
                                 "r": figures[label]["pearson"], "r_within": figures[label]["r_within"],
                                 "mae": figures[label]["mae"], "seconds": took})
    table = pd.DataFrame(rows)
    summary = table.groupby(["part", "dim", "method"], sort=False).agg(
        r=("r", "mean"), r_sd=("r", "std"), r_within=("r_within", "mean"), mae=("mae", "mean"),
        seconds=("seconds", "mean"), seeds=("seed", "nunique"))
    print(f"{args.data}: {len(full)} entries, {full.user_id.nunique()} people; {args.hide:.0%} hidden per seed; "
          f"encoder {args.encoder}; seeds {args.seeds}")
    print(summary.round(3).to_string())
    print("reproduce: .venv/bin/python benchmarks/track_methods.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])))


if __name__ == "__main__":
    main()
