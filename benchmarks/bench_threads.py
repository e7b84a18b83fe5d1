"""v3.3 epoch time at 1 and 2 torch threads, quiet and beside competing processes.

Reproduce (prints the exact command at the end):
    .venv/bin/python benchmarks/bench_threads.py --threads 1,2 --competitors 0,1 --epochs 3

Why: OpenMP threads of one torch operation wait for each other at the end of every parallel
region. When a competing process takes one of the two cores, one of our two threads is
descheduled and the other waits for it in every operation: the v3.3 step is hundreds of
small operations, so the whole epoch slows down many times (issue #14: 83 s an epoch with 2
threads under load, 9.4 s with 1). One thread never waits for another.

Each measurement runs in its own process (``OMP_NUM_THREADS`` and ``torch.set_num_threads``
both set to the thread count). A *competitor* is a Python process spinning on one core
(``while True: pass``), started before the measurement and stopped after it; the 1-minute
load average before each measurement is printed, since other work on the machine counts too.
Data: synthetic diaries of the official size (137 users, ~2,700 texts; ``--scale``), frozen
mode with random 384-dimensional vectors in place of MiniLM (the network, features and
batches of a real v3.3 run, without the encoding cost; see bench_scale.py). s/epoch is the
median of the per-epoch times Lightning's loop measured (training steps + validation pass).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_USERS = 137


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    p.add_argument("--competitors", default="0,1", help="comma-separated numbers of one-core busy processes (default 0,1)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--preset", default="v3.3")
    p.add_argument("--scale", type=float, default=1.0, help="data size as a multiple of the official 137 users")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="preset override key=value")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child(args) -> None:
    """One measurement in this process: print one JSON line."""
    import torch

    torch.set_num_threads(args.child)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_scale import RandomVectors

    import vatrack.encoders
    from vatrack.data import make_diaries
    from vatrack.models.presets import resolve_config
    from vatrack.models.sequence import SequenceRegressor

    train = make_diaries(n_users=max(4, round(BASE_USERS * args.scale)), texts_per_user=(5, 35), seed=args.seed)
    config = resolve_config(args.preset, overrides=[f"epochs={args.epochs}", f"patience={args.epochs}", *args.overrides])
    vectors = RandomVectors(384, args.seed)
    vatrack.encoders.get_encoder = lambda *a, **k: vectors  # what SequenceRegressor asks for its vectors
    import vatrack.training  # noqa: F401  Lightning's import is not training time

    model = SequenceRegressor(config, seed=args.seed, val="cv")
    started = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - started
    epochs = [float(row["epoch_time_s"]) for row in model.fit_info.get("history", []) if "epoch_time_s" in row]
    print(json.dumps({"threads": torch.get_num_threads(), "epochs": len(epochs), "epoch_s": statistics.median(epochs),
                      "fit_s": fit_s, "texts": len(train), "preset": config.name}))


def measure(args, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(threads), "--epochs", str(args.epochs), "--preset", args.preset,
           "--scale", str(args.scale), "--seed", str(args.seed)]
    for item in args.overrides:
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("{"):
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"threads": threads, "error": f"exit {done.returncode}: {tail[0][:200]}"}
    return json.loads(lines[-1])


def spin() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], env={**os.environ, "OMP_NUM_THREADS": "1"})


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        return child(args)
    thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    competitor_counts = [int(c) for c in args.competitors.split(",") if c.strip()]
    results = []
    for competitors in competitor_counts:
        busy = [spin() for _ in range(competitors)]
        try:
            time.sleep(1.0 if busy else 0.0)
            for threads in thread_counts:
                load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
                print(f"{threads} thread(s), {competitors} competitor(s) ...", file=sys.stderr, flush=True)
                results.append({**measure(args, threads), "competitors": competitors, "load": load})
        finally:
            for process in busy:
                process.kill()
                process.wait()

    ok = [r for r in results if "error" not in r]
    print()
    print(f"preset {args.preset} frozen (random vectors), {ok[0]['texts'] if ok else '?'} texts, {args.epochs} epochs, "
          f"{os.cpu_count()} cores; one process per measurement")
    print(f"{'threads':>8}{'competitors':>12}{'load before':>12}{'s/epoch':>9}{'fit s':>8}{'vs 1 thread':>12}")
    for r in results:
        if "error" in r:
            print(f"{r['threads']:>8}{r['competitors']:>12}{r['load']:>12.2f}  not measured: {r['error']}")
            continue
        base = next((b for b in ok if b["competitors"] == r["competitors"] and b["threads"] == 1), None)
        ratio = f"{r['epoch_s'] / base['epoch_s']:.2f}x" if base else "—"
        print(f"{r['threads']:>8}{r['competitors']:>12}{r['load']:>12.2f}{r['epoch_s']:>9.2f}{r['fit_s']:>8.1f}{ratio:>12}")
    print()
    cmd = ["benchmarks/bench_threads.py", "--threads", args.threads, "--competitors", args.competitors, "--epochs",
           str(args.epochs), "--preset", args.preset, "--scale", f"{args.scale:g}", "--seed", str(args.seed)]
    for item in args.overrides:
        cmd += ["--set", item]
    print("reproduce: .venv/bin/python " + " ".join(cmd))
    if len(ok) < len(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
