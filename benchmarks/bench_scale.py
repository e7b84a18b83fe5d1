"""How frozen-mode training cost grows with the data: train time and peak RSS at 1x, 10x, 100x.

Reproduce (2 cores; prints the exact command at the end):
    .venv/bin/python benchmarks/bench_scale.py --sizes 1,10,100 --epochs 2 --preset v3.3 --threads 2
Quick run:
    .venv/bin/python benchmarks/bench_scale.py --sizes 1,10

1x is the official training size, 137 users / 2,764 texts; size S has 137*S users with the
same texts per user (vatrack.data.make_diaries, texts_per_user 5..35, ~20 per user on
average; synthetic, no row of the real data). Each size runs in its own Python process so its
peak RSS (getrusage(RUSAGE_SELF).ru_maxrss of that process, which includes the ~0.5 GB of
Python + torch + Lightning) is its own.

Text vectors: by default random unit vectors of MiniLM's width (384), one per distinct text,
so the network, the features and the memory are those of a real frozen run while the 100x case
does not spend an hour in MiniLM (encoding is a one-off, cached cost: see bench_cache.py).
``--vectors minilm`` (or any encoder name / local model folder) uses a real encoder instead;
its encoding time is reported separately, never inside the train time. The model trains a
fixed number of epochs (``--epochs``, patience = epochs, so no early stop) with the default
``--val cv`` inner validation fold, as ``vatrack train`` does.

Columns: data s (generating the diaries), vectors s, train s (SequenceRegressor.fit: inner
split, features, Lightning loop, validation + official metrics each epoch), of which loop s
(inside the epochs: training steps and the validation pass) and other s (the once-per-fit
work: split, features of every row, validation examples, final metrics), s/epoch, loop
ms/step, RSS before fit (data + vectors held), peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BASE_USERS, BASE_TEXTS = 137, 2764


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,10,100", help="comma-separated multiples of the official size (default 1,10,100)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--preset", default="v3.3")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--vectors", default="random", help="random (default; dim 384) or an encoder name / folder")
    p.add_argument("--val", default="cv", choices=["cv", "none"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=0, help="give up on a size after this many seconds (0: never)")
    p.add_argument("--child", type=float, help=argparse.SUPPRESS)
    return p.parse_args(argv)


class RandomVectors:
    """Stands in for a frozen encoder: a fixed random unit vector per distinct text."""

    def __init__(self, dim: int = 384, seed: int = 0):
        self.dim, self.identity, self.name = dim, f"random-{dim}", "random"
        self._rng = np.random.default_rng(seed)
        self._table: dict[str, np.ndarray] = {}

    def encode(self, texts, progress: bool = True) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._table]
        if new:
            block = self._rng.standard_normal((len(new), self.dim)).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            self._table.update(zip(new, block))
        return np.stack([self._table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> None:
    """One size, this process: print one JSON line of figures."""
    import torch

    torch.set_num_threads(args.threads)
    from vatrack.data import make_diaries
    from vatrack.models.presets import resolve_config
    from vatrack.models.sequence import SequenceRegressor

    scale = args.child
    started = time.perf_counter()
    train = make_diaries(n_users=max(2, round(BASE_USERS * scale)), texts_per_user=(5, 35), seed=args.seed)
    data_s = time.perf_counter() - started

    config = resolve_config(args.preset, overrides=[f"epochs={args.epochs}", f"patience={args.epochs}"])
    started = time.perf_counter()
    texts = train["text"].tolist()
    if args.vectors == "random":
        import vatrack.encoders

        vectors = RandomVectors(384, args.seed)
        vatrack.encoders.get_encoder = lambda *a, **k: vectors  # what SequenceRegressor asks for its vectors
        vectors.encode(texts)
    else:
        from vatrack.encoders import get_encoder

        config = resolve_config(config, encoder=args.vectors)
        get_encoder(args.vectors, max_length=config.encoder.max_length).encode(texts, progress=False)
    vectors_s = time.perf_counter() - started
    rss_before = rss_mb()

    import vatrack.training  # noqa: F401  Lightning's import (seconds) is not training time

    model = SequenceRegressor(config, seed=args.seed, val=args.val)
    started = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - started
    info = model.fit_info
    net_rows = info["train_rows"]
    # Time inside the epochs (training steps + the validation pass) vs the once-per-fit work
    # (inner split, features of every row, validation examples, final validation metrics).
    loop_s = float(sum(row.get("epoch_time_s", 0.0) for row in info.get("history", [])))
    steps = math.ceil(net_rows / config.trainer.batch_size) * info["epochs_run"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"scale": scale, "users": int(train["user_id"].nunique()), "texts": len(train),
                      "unique_texts": len(set(texts)), "train_rows": net_rows, "val_rows": info["val_rows"],
                      "epochs": info["epochs_run"], "steps": steps, "data_s": data_s, "vectors_s": vectors_s,
                      "fit_s": fit_s, "loop_s": loop_s, "rss_before_mb": rss_before, "peak_rss_mb": peak,
                      "batch_size": config.trainer.batch_size, "preset": config.name, "threads": torch.get_num_threads()}))


def run_size(args, scale: float) -> dict:
    cmd = [sys.executable, __file__, "--child", str(scale), "--epochs", str(args.epochs), "--preset", args.preset,
           "--threads", str(args.threads), "--vectors", args.vectors, "--val", args.val, "--seed", str(args.seed)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout or None)
    except subprocess.TimeoutExpired:
        return {"scale": scale, "error": f"stopped after {args.timeout:.0f} s (--timeout)"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("{"):
        # (Lightning turns SIGTERM into a clean exit 0, hence the check of the output too)
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"scale": scale, "error": f"exit {done.returncode}: {tail[0][:200]}"}
    figures = json.loads(lines[-1])
    figures["process_s"] = time.perf_counter() - started
    return figures


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        return child(args)
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for scale in sizes:
        print(f"size {scale:g}x ...", file=sys.stderr, flush=True)
        results.append(run_size(args, scale))
        print(f"size {scale:g}x: {json.dumps(results[-1])}", file=sys.stderr, flush=True)  # kept if a later size is stopped

    ok = [r for r in results if "error" not in r]
    first = ok[0] if ok else None
    if first:
        print()
        print(f"preset {first['preset']} frozen, vectors {args.vectors}, {args.epochs} epochs, val {args.val}, "
              f"batch {first['batch_size']}, {first['threads']} threads; one process per size")
    header = (f"{'size':>6}{'users':>8}{'texts':>9}{'steps':>8}{'data s':>8}{'vectors s':>10}{'train s':>9}"
              f"{'loop s':>8}{'other s':>8}{'s/epoch':>9}{'loop ms/step':>13}{'RSS before MB':>15}{'peak RSS MB':>13}{'train x':>9}{'peak x':>8}")
    print(header)
    for r in results:
        if "error" in r:
            print(f"{r['scale']:>5g}x  not measured: {r['error']}")
            continue
        print(f"{r['scale']:>5g}x{r['users']:>8}{r['texts']:>9}{r['steps']:>8}{r['data_s']:>8.1f}{r['vectors_s']:>10.1f}"
              f"{r['fit_s']:>9.1f}{r['loop_s']:>8.1f}{r['fit_s'] - r['loop_s']:>8.1f}{r['fit_s'] / max(r['epochs'], 1):>9.1f}"
              f"{1000 * r['loop_s'] / max(r['steps'], 1):>13.1f}"
              f"{r['rss_before_mb']:>15.0f}{r['peak_rss_mb']:>13.0f}{r['fit_s'] / first['fit_s']:>9.1f}"
              f"{r['peak_rss_mb'] / first['peak_rss_mb']:>8.2f}")
    print()
    cmd = ["benchmarks/bench_scale.py", "--sizes", args.sizes, "--epochs", str(args.epochs), "--preset", args.preset,
           "--threads", str(args.threads), "--vectors", args.vectors, "--val", args.val, "--seed", str(args.seed)]
    if args.timeout:
        cmd += ["--timeout", f"{args.timeout:g}"]
    print("reproduce: .venv/bin/python " + " ".join(cmd))
    if len(ok) < len(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
