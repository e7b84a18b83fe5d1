"""Embedding cache benchmark: encode N synthetic diary texts cold, then warm.

Reproduce:  .venv/bin/python benchmarks/bench_cache.py [--n 4500] [--encoder minilm]

Runs in a throw-away cache folder ($VATRACK_CACHE is pointed at a temp dir), so the
user's cache is neither used nor touched. Rows:
  cold        model load + embedding every text + writing the cache
  warm-memory same process, vectors already in memory
  warm-disk   same process, in-memory cache cleared: every vector read from SQLite
  warm-fresh  a new Python process (imports included): what a second CLI run pays
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

SUBJECTS = ["I", "My partner", "My boss", "The weather", "Work", "My sister", "The commute", "Dinner", "My friend", "The meeting"]
VERBS = ["made me feel", "left me", "kept me", "got me feeling", "was", "seemed", "turned out"]
MOODS = ["happy", "anxious", "calm", "exhausted", "hopeful", "irritated", "content", "lonely", "excited", "sad", "relaxed", "stressed"]
TAILS = ["all day", "this morning", "after lunch", "for a while", "until late", "again", "more than usual", "for no clear reason"]


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """n distinct diary-like texts of one to four sentences."""
    rng = random.Random(seed)
    texts = []
    for day in range(n):
        sentences = [f"On day {day} I wrote this."]
        for _ in range(rng.randint(1, 4)):
            sentences.append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(MOODS)} {rng.choice(TAILS)}.")
        texts.append(" ".join(sentences))
    return texts


def warm_only(args) -> None:
    """Child process: time imports + one fully cached encode, print the seconds."""
    start = time.perf_counter()
    from vatrack.encoders import get_encoder

    vectors = get_encoder(args.encoder, max_length=args.max_length).encode(synthetic_texts(args.n), progress=False)
    assert vectors.shape[0] == args.n
    print(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4500)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warm-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warm_only:
        return warm_only(args)

    texts = synthetic_texts(args.n)
    with tempfile.TemporaryDirectory(prefix="vatrack-bench-") as tmp:
        os.environ["VATRACK_CACHE"] = tmp
        from vatrack.encoders import clear_memory_cache, get_encoder

        rows = []
        start = time.perf_counter()
        encoder = get_encoder(args.encoder, max_length=args.max_length, batch_size=args.batch_size)
        cold = encoder.encode(texts, progress=True)
        rows.append(("cold", time.perf_counter() - start))

        start = time.perf_counter()
        warm = encoder.encode(texts, progress=True)
        rows.append(("warm-memory", time.perf_counter() - start))

        clear_memory_cache()
        start = time.perf_counter()
        disk = encoder.encode(texts, progress=True)
        rows.append(("warm-disk", time.perf_counter() - start))
        assert (cold == warm).all() and (cold == disk).all()

        child = [sys.executable, __file__, "--warm-only", "--n", str(args.n), "--encoder", args.encoder, "--max-length", str(args.max_length)]
        out = subprocess.run(child, check=True, capture_output=True, text=True, env=os.environ.copy())
        rows.append(("warm-fresh", float(out.stdout.strip().splitlines()[-1])))
        size_mb = encoder.cache_path.stat().st_size / 1e6

    print(f"\nencoder {encoder.identity}, {args.n} texts, dim {encoder.dim}, cache file {size_mb:.1f} MB")
    print(f"{'step':<12} {'seconds':>9} {'texts/s':>10}")
    for step, seconds in rows:
        print(f"{step:<12} {seconds:>9.3f} {args.n / seconds:>10.0f}")
    print(f"\nreproduce: .venv/bin/python benchmarks/bench_cache.py --n {args.n} --encoder {args.encoder} --max-length {args.max_length} --batch-size {args.batch_size}")


if __name__ == "__main__":
    main()
