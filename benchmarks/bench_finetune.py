"""Fit time and peak memory of the `finetune` method (MiniLM fine-tuned per text).

    .venv/bin/python benchmarks/bench_finetune.py --data ../shared/data/semeval2026-task2/train_subtask1.csv --epochs 3 --threads 2

Without --data it trains on a synthetic SemEval-shaped diary (--users). Prints the wall time
of fit (loading the encoder included), seconds per epoch, the peak RSS of the process and
the command that reproduces the figures. Take timings on a quiet machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="labelled training CSV (default: synthetic)")
    p.add_argument("--users", type=int, default=40, help="synthetic users when no --data")
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="first N rows only")
    return p.parse_args()


def main():
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from vatrack.data import load_diary, make_official_like
    from vatrack.models import make_model

    if args.data:
        train = load_diary(args.data, require_labels=True)
    else:
        train, _ = make_official_like(n_users=args.users, seed=0)
    if args.limit:
        train = train.head(args.limit)
    model = make_model("finetune", encoder=args.encoder, epochs=args.epochs, batch_size=args.batch_size)
    started = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    epochs = model.fit_info["epochs_run"]
    print(f"finetune on {len(train)} texts ({train['user_id'].nunique()} users), encoder {args.encoder}, "
          f"{args.epochs} epochs, batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"{'fit s':>8}{'s/epoch':>10}{'peak RSS MB':>13}")
    print(f"{fit_s:>8.1f}{fit_s / max(epochs, 1):>10.1f}{peak_mb:>13.0f}")
    command = ["benchmarks/bench_finetune.py", *sys.argv[1:]]
    print("reproduce: .venv/bin/python " + " ".join(command))


if __name__ == "__main__":
    main()
