"""Forecasting defaults under forecasting CV: user_weight_power and ridge's TEXT_WEIGHT.

Reproduce:  .venv/bin/python benchmarks/forecast_variants.py --task subtask2a --data MARKER.csv [--confirm]

The defaults of vatrack.models.forecasters (instance weights 1 / m_u ** 0.5, ridge text
weight 0.1) were chosen on development seeds; this measures each alternative against
linear(prev) on the same folds, by default on the confirmation seeds (--confirm), which no
choice may use. Prints a markdown table (the same as `vatrack forecast-cv`).
"""

from __future__ import annotations

import argparse
import time

from vatrack.data import load_diary
from vatrack.experiments.forecasting import forecast_table, run_forecast_cv, to_markdown
from vatrack.protocols import cv_seeds, seed_set

VARIANTS = [
    ("linear-prev", "linear-prev", {}),
    *[(f"mean-reversion uwp={p}", "mean-reversion", {"user_weight_power": p}) for p in (0.0, 0.5, 1.0)],
    *[(f"ridge-notext uwp={p}", "ridge-notext", {"user_weight_power": p}) for p in (0.0, 0.5, 1.0)],
    *[(f"ridge text_weight={w}", "ridge", {"text_weight": w}) for w in (0.03, 0.1, 0.3)],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=["subtask2a", "subtask2b"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--confirm", action="store_true", help="confirmation seeds 1000.. (else development 0..N-1)")
    args = parser.parse_args()
    seeds = cv_seeds(args.seeds, args.confirm)
    started = time.perf_counter()
    result = run_forecast_cv(load_diary(args.data, require_labels=True), args.task, methods=VARIANTS,
                             n_folds=args.folds, seeds=seeds)
    print(f"{args.task}: {args.folds} folds x {seed_set(seeds)} seeds {list(seeds)}, {time.perf_counter() - started:.0f} s")
    print(to_markdown(forecast_table(result)))
    print(f"\ncommand: python benchmarks/forecast_variants.py --task {args.task} --data {args.data} --folds {args.folds} "
          f"--seeds {args.seeds}{' --confirm' if args.confirm else ''}")


if __name__ == "__main__":
    main()
