"""Prediction throughput: `predict` from a trained run folder vs the raw encoder, same texts.

Reproduce (2 cores; prints the exact command at the end):
    .venv/bin/python benchmarks/bench_predict.py --n 1000 --encoder minilm --preset v3.3 --threads 2

What it does, on synthetic diaries shaped like the official task (vatrack.data.make_official_like:
unseen users plus the latest texts of seen users; no row of the real data):

1. trains a small run (``--epochs``, ``--val none``) into a temp run folder with
   ``vatrack.experiments.runs.train_run`` — the model quality is irrelevant here;
2. writes the texts to predict as a label-free CSV; every one is made distinct (an entry
   marker is appended) so none is found in the vector cache by accident;
3. times, on the same ~``--n`` texts:

   encoder.embed        the raw encoder (TextEncoder.embed: tokenise + transformer + pooling,
                        no cache), model already loaded — the floor any predict path pays
   predict (cold)       vatrack.experiments.runs.predict_run in this process: load the run
                        folder, read + validate the CSV, embed the new texts (the seen users'
                        history texts are cached from training, as on the machine that
                        trained), features, network, write pred_subtask1.csv
   predict (warm)       the same again, every vector now cached: the cost of everything but
                        the encoder
   vatrack predict CLI  the command in a new process (imports, model loads, cold vectors
                        for the new texts), what a user pays per call

The vector cache lives in a temp folder ($VATRACK_CACHE is redirected), so the user's cache is
neither read nor written.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="about this many texts to predict (default 1000)")
    p.add_argument("--encoder", default="minilm", help="encoder name or local model folder (default minilm)")
    p.add_argument("--preset", default="v3.3")
    p.add_argument("--epochs", type=int, default=1, help="epochs of the throw-away training run (default 1)")
    p.add_argument("--threads", type=int, default=2, help="torch threads, here and in the CLI process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cli", action="store_true", help="skip the new-process `vatrack predict` row")
    return p.parse_args(argv)


def make_data(n: int, seed: int):
    """(train, label-free inputs) with about ``n`` input rows; every input text distinct."""
    from vatrack.data import make_official_like
    from vatrack.protocols import strip_labels

    # make_official_like puts ~12 texts per user in the test part (25 % unseen users, 30 % tails).
    n_users = max(8, math.ceil(n / 12))
    train, test = make_official_like(n_users=n_users, seed=seed)
    inputs = strip_labels(test).drop(columns=["is_seen_user"])
    inputs = inputs.assign(text=[f"{t} (entry {k})" for k, t in zip(inputs["text_id"], inputs["text"])])
    return train, inputs


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vatrack-bench-predict-") as tmp:
        tmp = Path(tmp)
        os.environ["VATRACK_CACHE"] = str(tmp / "cache")
        import torch

        torch.set_num_threads(args.threads)
        from vatrack.data import write_csv_like_official
        from vatrack.encoders import get_encoder
        from vatrack.models.presets import resolve_config
        from vatrack.experiments.runs import predict_run, train_run

        config = resolve_config(args.preset, encoder=args.encoder, overrides=[f"epochs={args.epochs}"])
        train, inputs = make_data(args.n, args.seed)
        write_csv_like_official(train, tmp / "train.csv")
        write_csv_like_official(inputs, tmp / "inputs.csv")
        n = len(inputs)

        train_s, _ = timed(lambda: train_run(tmp / "train.csv", args.preset, tmp / "run", encoder=args.encoder,
                                             seed=args.seed, overrides=[f"epochs={args.epochs}"], val="none",
                                             progress=False))
        # The CLI row starts from the cache as training left it (history cached, new texts not).
        shutil.copytree(tmp / "cache", tmp / "cache_cli")

        encoder = get_encoder(config.encoder.name, max_length=config.encoder.max_length)
        texts = inputs["text"].tolist()
        encoder.embed(texts[:8])  # model loaded (training did that) and threads spun up
        rows = [("encoder.embed", *timed(lambda: encoder.embed(texts)))]
        rows.append(("predict (cold)", *timed(lambda: predict_run(tmp / "run", tmp / "inputs.csv", tmp / "pred_cold.csv"))))
        rows.append(("predict (warm)", *timed(lambda: predict_run(tmp / "run", tmp / "inputs.csv", tmp / "pred_warm.csv"))))
        assert (tmp / "pred_cold.csv").read_bytes() == (tmp / "pred_warm.csv").read_bytes()
        if not args.no_cli:
            vatrack = Path(sys.executable).with_name("vatrack")
            cmd = [str(vatrack), "predict", "--run", str(tmp / "run"), "--data", str(tmp / "inputs.csv"),
                   "--out", str(tmp / "pred_cli.csv")]
            env = {**os.environ, "VATRACK_CACHE": str(tmp / "cache_cli"), "OMP_NUM_THREADS": str(args.threads)}
            seconds, done = timed(lambda: subprocess.run(cmd, env=env, capture_output=True, text=True))
            if done.returncode != 0:
                raise SystemExit(f"vatrack predict failed:\n{done.stderr[-2000:]}")
            rows.append(("vatrack predict CLI", seconds, None))

    raw = rows[0][1]
    print()
    print(f"encoder {encoder.identity} (dim {encoder.dim}), preset {config.name} frozen, {n} texts to predict "
          f"({inputs['user_id'].nunique()} users), {len(train)} training rows ({args.epochs} epoch(s), {train_s:.1f} s), "
          f"{torch.get_num_threads()} threads")
    print(f"{'path':<22}{'seconds':>9}{'texts/s':>10}{'vs encoder':>12}")
    for name, seconds, _ in rows:
        print(f"{name:<22}{seconds:>9.2f}{n / seconds:>10.0f}{raw / seconds:>11.2f}x")
    print()
    cmd = ["benchmarks/bench_predict.py", "--n", str(args.n), "--encoder", args.encoder, "--preset", args.preset,
           "--epochs", str(args.epochs), "--threads", str(args.threads), "--seed", str(args.seed)]
    if args.no_cli:
        cmd.append("--no-cli")
    print("reproduce: .venv/bin/python " + " ".join(cmd))


if __name__ == "__main__":
    main()
