"""Crash safety: `vatrack train` killed with SIGKILL mid-run, then `--resume`, finishes the run
from its last finished epoch and ends exactly where an uninterrupted run ends: the same
history (every figure but the wall time), the same final metrics and byte-identical predictions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from vatrack.data import make_official_like, write_csv_like_official

OVERRIDES = ["epochs=6", "lstm_hidden=16", "lstm_layers=1", "fusion=[16]", "user_emb=4", "seq_length=4", "val_folds=2"]


def train_command(data, out, encoder, *extra):
    args = [sys.executable, "-m", "vatrack", "train", "--data", str(data), "--out", str(out), "--encoder", str(encoder),
            "--seed", "3", "--val", "cv"]
    for item in OVERRIDES:
        args += ["--set", item]
    return args + list(extra)


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(tmp_path, tiny_bert_dir):
    train, test = make_official_like(n_users=24, seed=9)
    write_csv_like_official(train, tmp_path / "train.csv")
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), tmp_path / "test.csv")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    whole = tmp_path / "whole"
    subprocess.run(train_command(tmp_path / "train.csv", whole, tiny_bert_dir), check=True, env=env,
                   capture_output=True, timeout=600)

    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(train_command(tmp_path / "train.csv", crashed, tiny_bert_dir), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = crashed / "history.csv"
    deadline = time.monotonic() + 300
    # Kill once two epochs are on disk: the third is then under way.
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(pd.read_csv(history)) >= 2 and (crashed / "checkpoints" / "resume.ckpt").exists():
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (crashed / "metrics.json").exists()
    assert len(pd.read_csv(history)) < 6

    done = subprocess.run(train_command(tmp_path / "train.csv", crashed, tiny_bert_dir, "--resume"), env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]

    a, b = pd.read_csv(whole / "history.csv"), pd.read_csv(crashed / "history.csv")
    assert b["epoch"].tolist() == a["epoch"].tolist() == list(range(1, 7))
    figures = [c for c in a.columns if c != "epoch_time_s"]
    pd.testing.assert_frame_equal(a[figures], b[figures], check_exact=True)
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (whole, crashed)]
    assert metrics[0]["val_metrics"] == metrics[1]["val_metrics"]
    assert metrics[0]["best_epoch"] == metrics[1]["best_epoch"]
    for run in (whole, crashed):
        done = subprocess.run([sys.executable, "-m", "vatrack", "predict", "--run", str(run), "--data",
                               str(tmp_path / "test.csv"), "--out", str(run / "pred.csv")], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(crashed / "pred.csv")) == len(test)
    assert (whole / "pred.csv").read_bytes() == (crashed / "pred.csv").read_bytes()


# Killed right after Lightning saved epoch 2's resume checkpoint, before it logged that epoch's
# train figures (it saves checkpoints in on_train_epoch_end, logs train metrics after).
_KILL_AFTER_SECOND_RESUME_SAVE = """
import os, signal, sys
from vatrack.training import trainer
original = trainer.AtomicCheckpointIO.save_checkpoint
saves = []
def save_then_die(self, checkpoint, path, storage_options=None):
    original(self, checkpoint, path, storage_options)
    if str(path).endswith("resume.ckpt"):
        saves.append(path)
        if len(saves) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
trainer.AtomicCheckpointIO.save_checkpoint = save_then_die
from vatrack.cli import main
sys.argv = ["vatrack", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_kill_between_checkpoint_and_train_figures_leaves_no_hole_in_the_history(tmp_path, tiny_bert_dir):
    train, _ = make_official_like(n_users=24, seed=9)
    write_csv_like_official(train, tmp_path / "train.csv")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    subprocess.run(train_command(tmp_path / "train.csv", whole, tiny_bert_dir), check=True, env=env,
                   capture_output=True, timeout=600)
    killed = subprocess.run([sys.executable, "-c", _KILL_AFTER_SECOND_RESUME_SAVE,
                             *train_command(tmp_path / "train.csv", crashed, tiny_bert_dir)[3:]],
                            env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    done = subprocess.run(train_command(tmp_path / "train.csv", crashed, tiny_bert_dir, "--resume"), env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = pd.read_csv(whole / "history.csv"), pd.read_csv(crashed / "history.csv")
    figures = [c for c in a.columns if c != "epoch_time_s"]
    assert not b[figures].isna().any().any()
    pd.testing.assert_frame_equal(a[figures], b[figures], check_exact=True)


def test_resume_refuses_a_changed_config_and_a_foreign_folder(tmp_path, capsys):
    from conftest import run_cli

    data = tmp_path / "train.csv"
    write_csv_like_official(make_official_like(n_users=12, seed=1)[0], data)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("name: something else\n")
    (run / "checkpoints" / "resume.ckpt").write_bytes(b"x")
    code, _, stderr = run_cli(["train", "--data", data, "--out", run, "--resume"], capsys)
    assert code == 2 and "--resume needs the same --preset, --set and --encoder" in stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code, _, stderr = run_cli(["train", "--data", data, "--out", other, "--resume"], capsys)
    assert code == 2 and "nothing to resume" in stderr and (other / "notes.txt").exists()


@pytest.mark.slow
def test_sigterm_is_a_failure_with_one_line_then_resume_finishes(tmp_path):
    """A scheduler's SIGTERM: Lightning stops cleanly, vatrack exits 143 (not 0) with one line
    saying how to continue, and `--resume` then finishes the run."""
    train, _ = make_official_like(n_users=24, seed=9)
    write_csv_like_official(train, tmp_path / "train.csv")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    command = train_command(tmp_path / "train.csv", run, "minilm", "--set", "epochs=40", "--set", "patience=40")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "history.csv").exists() and (run / "checkpoints" / "resume.ckpt").exists():
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be stopped; make it longer"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and lines[-1].startswith("error: training stopped by SIGTERM")
    assert "--resume" in lines[-1]
    assert not (run / "metrics.json").exists()

    done = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(run / "history.csv")) == 40 and (run / "model" / "model.json").exists()
