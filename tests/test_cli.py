"""The CLI end to end on synthetic files: baseline -> evaluate, cv, demo."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import run_cli


def test_baseline_then_evaluate(task_files, tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "pred_subtask1.csv"
    code, stdout, stderr = run_cli(["baseline", "--method", "ridge+user", "--encoder", tiny_bert_dir,
                                    "--train", task_files["train"], "--data", task_files["test"], "--out", out], capsys)
    assert code == 0, stderr
    pred = pd.read_csv(out, dtype={"user_id": str, "text_id": str})
    inputs = pd.read_csv(task_files["test"], dtype={"user_id": str, "text_id": str})
    assert len(pred) == len(inputs) and set(pred.text_id) == set(inputs.text_id)
    code, stdout, _ = run_cli(["evaluate", "--task", "subtask1", "--pred", out, "--gold", task_files["gold"], "--json"], capsys)
    assert code == 0
    result = json.loads(stdout)
    assert -1 <= result["valence"]["r_composite"] <= 1 and "seen" in result and "unseen" in result
    code, stdout, _ = run_cli(["evaluate", "--task", "subtask1", "--pred", out, "--gold", task_files["gold"]], capsys)
    assert code == 0 and "r_composite" in stdout


def test_baseline_rejects_subtask2_and_unknown_method(task_files, tmp_path, capsys):
    args = ["--train", task_files["train"], "--data", task_files["test"], "--out", tmp_path / "p.csv"]
    code, _, stderr = run_cli(["baseline", "--task", "subtask2a", *args], capsys)
    assert code == 2 and "vatrack forecast" in stderr
    code, _, stderr = run_cli(["baseline", "--method", "forest", *args], capsys)
    assert code == 2 and "unknown method" in stderr
    assert not (tmp_path / "p.csv").exists()


def test_cv_prints_mean_std_and_writes_folder(task_files, tmp_path, capsys):
    out = tmp_path / "cv"
    code, stdout, stderr = run_cli(["cv", "--method", "user-mean", "--data", task_files["train"],
                                    "--folds", "3", "--seeds", "2", "--out", out], capsys)
    assert code == 0, stderr
    assert "±" in stdout and "unseen" in stdout
    per_fold = pd.read_csv(out / "per_fold.csv")
    assert len(per_fold) == 6
    # run folders are never overwritten without --force
    code, _, stderr = run_cli(["cv", "--method", "user-mean", "--data", task_files["train"], "--folds", "3",
                               "--seeds", "1", "--out", out], capsys)
    assert code == 2 and "--force" in stderr


def test_cv_confirm_runs_the_confirmation_seeds(task_files, tmp_path, capsys):
    import json

    out = tmp_path / "cv"
    code, stdout, stderr = run_cli(["cv", "--method", "user-mean", "--data", task_files["train"], "--folds", "2",
                                    "--seeds", "2", "--confirm", "--out", out], capsys)
    assert code == 0, stderr
    assert "confirmation seeds [1000, 1001]" in stdout
    assert sorted(pd.read_csv(out / "per_fold.csv")["seed"].unique()) == [1000, 1001]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["seed_set"] == "confirmation" and plan["seeds"] == [1000, 1001] and "--confirm" in plan["command"]
    code, _, stderr = run_cli(["cv", "--method", "user-mean", "--data", task_files["train"], "--seeds", "6", "--confirm"],
                              capsys)
    assert code == 2 and "--confirm has 5 seeds" in stderr


def test_cv_needs_exactly_one_of_method_or_preset(task_files, capsys):
    code, _, stderr = run_cli(["cv", "--data", task_files["train"]], capsys)
    assert code == 2 and "exactly one" in stderr


def test_unknown_option_is_exit_2_without_traceback(capsys):
    code, stdout, stderr = run_cli(["evaluate", "--bogus"], capsys)
    assert code == 2 and "Traceback" not in stdout + stderr


def test_console_script_entry_point(tmp_path):
    """The installed `vatrack` script itself: a bad file is exit 2 and one stderr line."""
    bad = tmp_path / "bad.csv"
    bad.write_text("")
    done = subprocess.run([sys.executable, "-m", "vatrack", "evaluate", "--task", "subtask1", "--pred", str(bad),
                           "--gold", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end_offline(tmp_path, capsys):
    code, stdout, stderr = run_cli(["demo", "--out", tmp_path / "demo"], capsys)
    assert code == 0, stderr
    assert "r_composite" in stdout and (tmp_path / "demo" / "pred_subtask1.csv").exists()


def test_jobs_default_is_two_workers_for_presets_on_two_cores(monkeypatch):
    from vatrack import cli
    from vatrack.errors import VatrackError

    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    assert cli._jobs(None, has_presets=True) == 2 and cli._jobs(None, has_presets=False) == 1
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 1)
    assert cli._jobs(None, has_presets=True) == 1 and cli._jobs(3, has_presets=False) == 3
    with pytest.raises(VatrackError, match="--jobs must be at least 1"):
        cli._jobs(0, has_presets=True)
