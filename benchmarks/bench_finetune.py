"""Fit time and peak memory of the `finetune` preset (MiniLM fine-tuned per text).

    .venv/bin/python benchmarks/bench_finetune.py --data ../shared/data/semeval2026-task2/train_subtask1.csv --threads 2

The model is the preset's (--preset, default finetune; --epochs/--batch-size/--encoder and
--set key=value override it), with the fit cache off so that every run trains. The preset's
blend member reads MiniLM+MPNet: without the MPNet pack (`make mpnet`) pass
--set blend_encoder=minilm.

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
    p.add_argument("--preset", default="finetune", help="a method preset (name or YAML path)")
    p.add_argument("--encoder", default=None, help="default: the preset's")
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="any other parameter of the preset's method (repeatable)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="first N rows only")
    return p.parse_args()


def main():
    args = parse_args()
    from vatrack.errors import VatrackError

    try:
        run(args)
    except VatrackError as err:  # one line, as the CLI prints it
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def run(args):
    import torch

    torch.set_num_threads(args.threads)
    from vatrack.data import load_diary, make_official_like
    from vatrack.models import model_from_preset

    if args.data:
        train = load_diary(args.data, require_labels=True)
    else:
        train, _ = make_official_like(n_users=args.users, seed=0)
    if args.limit:
        train = train.head(args.limit)
    overrides = [f"{k}={v}" for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size)) if v is not None]
    model = model_from_preset(args.preset, encoder=args.encoder, overrides=[*args.overrides, *overrides, "cache=false"])
    started = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    epochs = model.fit_info["epochs_run"]
    print(f"preset {args.preset} on {len(train)} texts ({train['user_id'].nunique()} users), encoder {model.encoder}, "
          f"{model.epochs} epochs, batch {model.batch_size}, blend {model.blend or 'none'}, {torch.get_num_threads()} threads")
    print(f"{'fit s':>8}{'s/epoch':>10}{'peak RSS MB':>13}")
    print(f"{fit_s:>8.1f}{fit_s / max(epochs, 1):>10.1f}{peak_mb:>13.0f}")
    command = ["benchmarks/bench_finetune.py", *sys.argv[1:]]
    print("reproduce: .venv/bin/python " + " ".join(command))


if __name__ == "__main__":
    main()
