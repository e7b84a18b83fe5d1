"""`vatrack track` on an EMA-sized diary: wall time with a cold and a warm vector cache, peak memory.

Reproduce (2 cores; prints the exact command at the end):
    .venv/bin/python benchmarks/bench_track.py --people 30 --entries 12:18 --threads 2

The diary is the synthetic EMA export the demo uses (vatrack.data.synthetic.make_ema_export:
participant/entry/date/diary_text/sam_valence/sam_arousal, SAM 1..9, day-first dates, ~25 %
of entries unrated, ';'-separated, rows shuffled). Each row runs the real command in a new
process (imports and model loading included, as a user pays them):

    cold    an empty $VATRACK_CACHE: every text is embedded
    warm    the same command again: every vector is cached

``--method`` / ``--preset`` / ``--set`` pass through, so the sequence presets can be timed the
same way. The vector cache lives in a temp folder; the user's cache is neither read nor written.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ["user_id=participant", "text_id=entry", "timestamp=date", "text=diary_text",
           "valence=sam_valence", "arousal=sam_arousal"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=30)
    p.add_argument("--entries", default="12:18", help="entries per person, LO:HI (default 12:18, ~15 on average)")
    p.add_argument("--unrated", type=float, default=0.25, help="share of unrated entries (default 0.25)")
    p.add_argument("--threads", type=int, default=2, help="OMP/torch threads of the command (default 2)")
    p.add_argument("--encoder", default=None, help="encoder (default: the method's own, minilm)")
    p.add_argument("--method", default=None)
    p.add_argument("--preset", default=None)
    p.add_argument("--set", dest="overrides", action="append", default=[], help="preset override (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from vatrack.data.synthetic import make_ema_export

    low, high = (int(x) for x in args.entries.split(":"))
    with tempfile.TemporaryDirectory(prefix="bench-track-") as tmp:
        tmp = Path(tmp)
        export = make_ema_export(n_people=args.people, entries=(low, high), seed=args.seed, unrated_share=args.unrated)
        diary = tmp / "diary.csv"
        export.to_csv(diary, index=False, sep=";")
        env = {**os.environ, "VATRACK_CACHE": str(tmp / "cache"), "OMP_NUM_THREADS": str(args.threads)}
        command = [sys.executable, "-m", "vatrack", "track", "--data", str(diary), "--quiet", "--dayfirst",
                   "--scale", "valence=1:9", "--scale", "arousal=1:9", *(a for c in COLUMNS for a in ("--column", c))]
        for flag, value in (("--method", args.method), ("--preset", args.preset), ("--encoder", args.encoder)):
            if value:
                command += [flag, value]
        for item in args.overrides:
            command += ["--set", item]
        print(f"diary: {args.people} people, {len(export)} entries, {int(export.sam_valence.isna().sum())} unrated; "
              f"{args.threads} thread(s); model {args.preset or args.method or 'default (ridge+user)'}")
        print(f"{'run':<6} {'wall s':>8} {'peak RSS MB':>12}")
        for name in ("cold", "warm"):
            start = time.perf_counter()
            done = subprocess.run([*command, "--out", str(tmp / name)], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"vatrack track failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{name:<6} {wall:>8.1f} {peak:>12.0f}")
        quality = (tmp / "cold" / "quality.csv").read_text().strip().splitlines()
        print("out-of-fold quality (cold run):")
        for line in quality:
            print("  " + line)
    print("reproduce: .venv/bin/python benchmarks/bench_track.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])))


if __name__ == "__main__":
    main()
