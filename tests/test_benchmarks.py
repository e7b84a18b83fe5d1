"""Smoke tests of the benchmark scripts: smallest settings, each in its own process.

They check that the scripts run end to end and print their table and the command that
reproduces it; the figures themselves are in docs/performance.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_bench_predict_prints_table_and_command(tiny_bert_dir):
    out = run_script("bench_predict.py", "--n", "24", "--encoder", str(tiny_bert_dir), "--epochs", "1",
                     "--threads", "1", "--no-cli")
    assert "texts/s" in out and "vs encoder" in out
    for row in ("encoder.embed", "predict (cold)", "predict (warm)"):
        assert row in out
    command = [line for line in out.splitlines() if line.startswith("reproduce: ")]
    assert command and "benchmarks/bench_predict.py --n 24" in command[0] and "--no-cli" in command[0]


@pytest.mark.slow
def test_bench_scale_prints_table_and_command():
    out = run_script("bench_scale.py", "--sizes", "0.1", "--epochs", "1", "--threads", "1")
    assert "peak RSS MB" in out and "train s" in out
    rows = [line for line in out.splitlines() if line.strip().startswith("0.1x")]
    assert rows and "not measured" not in rows[0]
    command = [line for line in out.splitlines() if line.startswith("reproduce: ")]
    assert command and "benchmarks/bench_scale.py --sizes 0.1 --epochs 1" in command[0]


@pytest.mark.slow
def test_bench_train_prints_both_loops_ratio_and_peak_rss(tiny_bert_dir):
    out = run_script("bench_train.py", "--users", "12", "--epochs", "1", "--threads", "1", "--set", f"encoder={tiny_bert_dir}",
                     "--set", "lstm_hidden=8", "--set", "lstm_layers=1", "--set", "fusion=[16]", "--set", "val_folds=2")
    assert "peak RSS MB" in out and "epochs/s" in out and "ratio vatrack / bare:" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["bare"], ["vatrack"])}
    assert set(rows) == {"bare", "vatrack"} and all(float(r[1]) > 0 for r in rows.values())
    assert [line for line in out.splitlines() if line.startswith("command: ") and "--users 12" in line]


@pytest.mark.slow
def test_bench_track_prints_cold_and_warm_and_command(tiny_bert_dir):
    out = run_script("bench_track.py", "--people", "10", "--entries", "6:8", "--threads", "1",
                     "--encoder", str(tiny_bert_dir))
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["cold"], ["warm"])}
    assert set(rows) == {"cold", "warm"} and all(float(r[1]) > 0 for r in rows.values())
    assert "out-of-fold quality" in out and "ridge+user,valence,1..9" in out
    assert [line for line in out.splitlines() if line.startswith("reproduce: ") and "--people 10" in line]


@pytest.mark.slow
def test_bench_threads_prints_epoch_times_quiet_and_loaded():
    out = run_script("bench_threads.py", "--threads", "1", "--competitors", "0,1", "--epochs", "1", "--scale", "0.05",
                     "--set", "lstm_hidden=8", "--set", "lstm_layers=1", "--set", "fusion=[8]", "--set", "val_folds=2")
    assert "s/epoch" in out and "competitors" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["1"]]
    assert [r[1] for r in rows] == ["0", "1"] and all(float(r[3]) > 0 for r in rows)
    command = [line for line in out.splitlines() if line.startswith("reproduce: ")]
    assert command and "benchmarks/bench_threads.py --threads 1 --competitors 0,1 --epochs 1" in command[0]


@pytest.mark.slow
def test_bench_finetune_prints_time_memory_and_command(tiny_bert_dir):
    out = run_script("bench_finetune.py", "--users", "6", "--encoder", str(tiny_bert_dir), "--epochs", "1", "--threads", "1")
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0][0].isdigit()]
    assert "peak RSS MB" in out and rows and float(rows[-1][0]) > 0
    assert [line for line in out.splitlines() if line.startswith("reproduce: ") and "--epochs 1" in line]
