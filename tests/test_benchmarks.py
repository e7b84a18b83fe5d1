"""Smoke tests of the benchmark scripts: smallest settings, each in its own process.

They check that the scripts run end to end and print their table and the command that
reproduces it; the figures themselves are in docs/performance.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
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
    assert "out-of-fold quality" in out and "ridge+user;valence;1..9" in out   # the export is a semicolon file
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
    # The preset's blend member reads MiniLM+MPNet; CI has no MPNet pack, so both go tiny.
    out = run_script("bench_finetune.py", "--users", "6", "--encoder", str(tiny_bert_dir), "--epochs", "1", "--threads", "1",
                     "--set", f"blend_encoder={tiny_bert_dir}")
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0][0].isdigit()]
    assert "peak RSS MB" in out and rows and float(rows[-1][0]) > 0
    assert [line for line in out.splitlines() if line.startswith("reproduce: ") and "--epochs 1" in line]


def test_bench_finetune_bad_setting_is_one_line():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_finetune.py"), "--users", "4", "--set", "epochz=1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "epochz" in done.stderr


@pytest.mark.slow
def test_finetuned_vectors_pairs_the_frozen_and_the_fine_tuned_encoder(tiny_bert_dir, tmp_path):
    from vatrack.data import make_official_like, write_csv_like_official

    path = tmp_path / "train.csv"
    write_csv_like_official(make_official_like(n_users=12, seed=3)[0], path)
    tiny = str(tiny_bert_dir)
    sets = [a for o in ("epochs=1", "val_folds=2", "lstm_hidden=8", "lstm_layers=1", "fusion=[8]", "user_emb=4",
                        "seq_length=3") for a in ("--set", o)]
    out = run_script("finetuned_vectors.py", "--data", str(path), "--preset", "v3.3", "--folds", "2",
                     "--encoder", tiny, "--frozen", tiny, *sets)
    folds = [line for line in out.splitlines() if line.startswith("seed 0 fold ")]
    assert len(folds) == 2 and all("frozen V" in f and "fine-tuned V" in f for f in folds)
    assert "arousal: frozen" in out and "(development)" in out
    assert [line for line in out.splitlines() if line.startswith("reproduce: ") and "--set epochs=1" in line]


def _fake_run(cache, name, config, seeds, noise, gold):
    """A cached compare run of ``name``: out-of-fold predictions = gold + noise (seeds x 2 folds)."""
    import json

    rng = np.random.default_rng(len(name))
    rows = []
    for seed in seeds:
        for fold in (0, 1):
            part = gold.assign(seed=seed, fold=fold)
            for d in ("valence", "arousal"):
                part[f"pred_{d}"] = part[d] + rng.normal(0, noise(seed), len(part))
            rows.append(part)
    folder = cache / f"{name}-0"
    folder.mkdir()
    (folder / "version.json").write_text(json.dumps({"name": name, "folds": 2, "config": config}))
    pd.concat(rows).to_csv(folder / "oof_predictions.csv", index=False)


def test_finetune_blend_chooses_on_development_seeds_only(tmp_path):
    """The weight comes from the development runs: the confirmation runs cannot move it."""
    gold = pd.DataFrame({"user_id": np.repeat([f"u{i}" for i in range(8)], 6), "text_id": [str(i) for i in range(48)],
                         "valence": np.tile([-1.0, 0, 1, 2, -2, 0], 8), "arousal": np.tile([0.0, 1, 2, 1, 0, 2], 8),
                         "is_seen_user": np.tile([True, False], 24)})
    chosen = []
    for conf_noise in (0.1, 3.0):  # the first model great, then useless, on confirmation seeds only
        cache = tmp_path / f"cache{conf_noise}"
        cache.mkdir()
        _fake_run(cache, "first", {"method": "finetune", "encoder": "a"}, (0, 1000, 1001),
                  lambda s: 0.6 if s < 1000 else conf_noise, gold)
        _fake_run(cache, "second", {"method": "ridge+user", "encoder": "b"}, (0, 1000, 1001), lambda s: 0.6, gold)
        _fake_run(cache, "best", {"name": "best"}, (1000, 1001), lambda s: 0.8, gold)
        out = run_script("finetune_blend.py", str(cache), "--folds", "2", "--first", "finetune:a",
                         "--second", "ridge+user:b")
        chosen += [line for line in out.splitlines() if line.startswith("chosen on development seeds")]
        assert "blend − best (A)" in out and "reproduce: " in out
    assert len(chosen) == 2 and chosen[0] == chosen[1]
