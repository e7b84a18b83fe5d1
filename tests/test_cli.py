"""The CLI end to end on synthetic files: baseline -> evaluate, cv, demo."""

from __future__ import annotations

import json
import re
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
    """Sequence model vs baseline on SemEval-shaped data, then `track` on an EMA export; the default
    MiniLM path (offline), as `make demo` runs it."""
    out = tmp_path / "demo"
    code, stdout, stderr = run_cli(["demo", "--out", out], capsys)
    assert code == 0, stderr
    assert "ridge+user" in stdout and "sequence (v3.3, demo size)" in stdout and "composite r V" in stdout
    assert (out / "ridge+user" / "pred_subtask1.csv").exists() and (out / "sequence" / "pred_subtask1.csv").exists()
    assert (out / "sequence" / "metrics.json").exists()
    assert (out / "track" / "report.html").exists() and (out / "track" / "people.csv").exists()
    lines = stdout.strip().splitlines()
    assert "report:" in stdout and lines[-1].startswith("next, your own diary: vatrack track --data")


def test_demo_never_empties_a_folder_it_did_not_make(tmp_path, capsys, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    code, _, stderr = run_cli(["demo", "--out", mine], capsys)
    assert code == 2 and "--force" in stderr and (mine / "notes.txt").read_text() == "keep"
    monkeypatch.chdir(mine)
    code, _, stderr = run_cli(["demo", "--out", ".", "--force"], capsys)
    assert code == 2 and "current" in stderr and (mine / "notes.txt").exists()
    code, _, stderr = run_cli(["demo", "--out", mine / "notes.txt"], capsys)
    assert code == 2 and "is a file" in stderr


def test_demo_regenerates_its_own_folder(tmp_path):
    from vatrack.experiments.demo import MARKER, prepare_demo_dir

    out = prepare_demo_dir(tmp_path / "demo")
    (out / "old.csv").write_text("x")
    prepare_demo_dir(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER]


def test_jobs_default_is_two_workers_for_presets_on_two_cores(monkeypatch, task_files, capsys):
    from vatrack import cli

    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    assert cli._jobs(None, has_presets=True) == 2 and cli._jobs(None, has_presets=False) == 1
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 1)
    assert cli._jobs(None, has_presets=True) == 1 and cli._jobs(3, has_presets=False) == 3
    code, _, stderr = run_cli(["cv", "--method", "mean", "--data", task_files["train"], "--jobs", "0"], capsys)
    assert code == 2 and "Invalid value for '--jobs'" in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,option", [
    (["evaluate", "--task", "subtask9", "--pred", "p.csv", "--gold", "g.csv"], "--task"),
    (["forecast", "--task", "subtask1", "--data", "d.csv", "--out", "o.csv"], "--task"),
    (["train", "--data", "d.csv", "--out", "r", "--val", "holdout"], "--val"),
    (["ensemble", "--data", "d.csv", "--out", "o.csv", "--runs", "a", "b", "--weights", "best"], "--weights"),
    (["cv", "--method", "mean", "--data", "d.csv", "--seeds", "0"], "--seeds"),
])
def test_choices_and_bounds_are_option_types(args, option, capsys):
    """One declaration per choice or bound: a bad value is one usage line naming the option, exit 2."""
    code, stdout, stderr = run_cli(args, capsys)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and f"Invalid value for '{option}'" in lines[0], stderr
    assert "Traceback" not in stderr


def test_version_option_prints_the_installed_version(capsys):
    import importlib.metadata

    import vatrack

    code, stdout, _ = run_cli(["--version"], capsys)
    assert code == 0 and stdout.strip() == f"vatrack {vatrack.__version__}"
    assert vatrack.__version__ == importlib.metadata.version("vatrack")


def test_library_errors_name_parameters_and_the_cli_names_flags(task_files, tmp_path, capsys):
    from vatrack.data import make_diaries
    from vatrack.errors import VatrackError
    from vatrack.models.presets import parse_overrides
    from vatrack.protocols import official_style_folds
    from vatrack.training.loggers import check_logger

    with pytest.raises(VatrackError, match=r"^`n_folds` must be at least 2 \(got 1\)$"):
        official_style_folds(make_diaries(n_users=6, seed=0), n_folds=1)
    with pytest.raises(VatrackError, match="^logger must be one of"):
        check_logger("paper")
    with pytest.raises(VatrackError, match="^override 'epochs': expected key=value") as err:
        parse_overrides(["epochs"])
    assert "--" not in str(err.value)
    for command in (["cv", "--method", "mean"], ["compare", "--methods", "mean", "--out", tmp_path / "c"]):
        code, _, stderr = run_cli([*command, "--data", task_files["train"], "--folds", "1"], capsys)
        assert code == 2 and "Invalid value for '--folds'" in stderr and "2" in stderr, stderr
    code, _, stderr = run_cli(["train", "--data", task_files["train"], "--out", tmp_path / "r", "--logger", "paper"], capsys)
    assert code == 2 and "--logger must be one of" in stderr


def test_the_method_help_names_every_method():
    """The help is written by hand (the CLI does not import the models to start): it must not fall behind."""
    from vatrack.cli import METHODS_HELP
    from vatrack.models import MODELS

    named = {part.split(" (")[0].strip() for part in re.split(r",\s*(?![^()]*\))", METHODS_HELP)}
    assert named == set(MODELS) - {"sequence"}
