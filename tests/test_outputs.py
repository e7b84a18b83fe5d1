"""Outputs never replace the command's inputs, saved models keep the user's scale, and every
flagged user is forecast or named: the defects a researcher's review found, one test each."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import run_cli
from vatrack.data import make_diaries, write_csv_like_official


@pytest.fixture
def rescaled(task_files, tmp_path):
    """The training file with ratings on 1..9 (valence x2+5, arousal x4+1)."""
    frame = pd.read_csv(task_files["train"])
    frame["valence"], frame["arousal"] = frame["valence"] * 2 + 5, frame["arousal"] * 4 + 1
    path = tmp_path / "train19.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["baseline-train", "baseline-data", "predict", "forecast"])
def test_out_naming_an_input_file_is_refused_and_the_input_kept(command, task_files, tmp_path, capsys):
    """It used to overwrite the user's training file or diary with predictions, exit 0."""
    train, test = task_files["train"], task_files["test"]
    run = tmp_path / "bundle"
    assert run_cli(["baseline", "--method", "user-mean", "--train", train, "--data", test, "--out", tmp_path / "p.csv",
                    "--save", run], capsys)[0] == 0
    marker = tmp_path / "marker.csv"
    write_csv_like_official(make_diaries(n_users=6, seed=6).assign(is_forecasting_user=True), marker)
    args, victim = {
        "baseline-train": (["baseline", "--method", "user-mean", "--train", train, "--data", test, "--out", train], train),
        "baseline-data": (["baseline", "--method", "user-mean", "--train", train, "--data", test, "--out", test], test),
        "predict": (["predict", "--run", run, "--data", test, "--out", test], test),
        "forecast": (["forecast", "--task", "subtask2a", "--data", marker, "--out", marker, "--method", "mean-reversion"],
                     marker)}[command]
    before = victim.read_bytes()
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "would replace your input" in err and victim.read_bytes() == before


def test_a_saved_baseline_predicts_on_the_scale_it_was_trained_on(rescaled, task_files, tmp_path, capsys):
    """--save wrote no scales.json, so `predict --run` of the same model wrote the model's -2..2."""
    scales = ["--scale", "valence=1:9", "--scale", "arousal=1:9"]
    code, _, err = run_cli(["baseline", "--method", "user-mean", "--train", rescaled, "--data", task_files["test"],
                            "--out", tmp_path / "direct.csv", "--save", tmp_path / "saved", *scales], capsys)
    assert code == 0, err
    code, _, err = run_cli(["predict", "--run", tmp_path / "saved", "--data", task_files["test"],
                            "--out", tmp_path / "again.csv"], capsys)
    assert code == 0, err
    direct, again = pd.read_csv(tmp_path / "direct.csv"), pd.read_csv(tmp_path / "again.csv")
    pd.testing.assert_frame_equal(direct, again)
    assert direct["pred_valence"].max() > 2.5


@pytest.mark.parametrize("existing", ["file", "folder"])
def test_save_never_lands_on_something_that_exists(existing, task_files, tmp_path, capsys):
    """An existing file was a FileExistsError traceback after the predictions were written; an
    existing folder (a training run) got the bundle's files mixed into it."""
    target = tmp_path / "taken"
    if existing == "file":
        target.write_text("mine")
    else:
        target.mkdir()
        (target / "metrics.json").write_text("{}")
    out = tmp_path / "p.csv"
    code, _, err = run_cli(["baseline", "--method", "user-mean", "--train", task_files["train"], "--data",
                            task_files["test"], "--out", out, "--save", target], capsys)
    assert code == 2 and "--save" in err and "Traceback" not in err and not out.exists()


def test_ensemble_writes_on_the_runs_scale_and_refuses_mixed_scales(rescaled, task_files, tmp_path, capsys):
    """ensemble ignored scales.json: a run trained on 1..9 came out on -2..2."""
    scales = ["--scale", "valence=1:9", "--scale", "arousal=1:9"]
    runs = []
    for method, train, extra in (("user-mean", rescaled, scales), ("mean", rescaled, scales),
                                 ("mean", task_files["train"], [])):
        run = tmp_path / f"{method}-{len(runs)}"
        assert run_cli(["baseline", "--method", method, "--train", train, "--data", task_files["test"],
                        "--out", tmp_path / f"{run.name}.csv", "--save", run, *extra], capsys)[0] == 0
        runs.append(run)
    code, _, err = run_cli(["ensemble", "--runs", runs[0], runs[1], "--weights", "equal", "--data", task_files["test"],
                            "--out", tmp_path / "e.csv"], capsys)
    assert code == 0, err
    assert pd.read_csv(tmp_path / "e.csv")["pred_valence"].between(1, 9).all()
    assert pd.read_csv(tmp_path / "e.csv")["pred_valence"].max() > 2.5
    code, _, err = run_cli(["ensemble", "--runs", runs[0], runs[2], "--weights", "equal", "--data", task_files["test"],
                            "--out", tmp_path / "mixed.csv"], capsys)
    assert code == 2 and "different rating scales" in err and not (tmp_path / "mixed.csv").exists()


def test_a_flagged_user_without_a_rated_history_is_named_not_dropped(tmp_path, capsys):
    """The official file silently lacked the flagged user whose rows were all unrated."""
    frame = make_diaries(n_users=8, seed=6)
    frame["is_forecasting_user"] = frame.user_id.isin({"2", "5"})
    frame.loc[frame.user_id == "2", "valence"] = None
    path = tmp_path / "marker.csv"
    write_csv_like_official(frame, path)
    out = tmp_path / "f.csv"
    code, _, err = run_cli(["forecast", "--task", "subtask2a", "--data", path, "--out", out, "--method", "mean-reversion"],
                           capsys)
    assert code == 2 and "flagged user(s) 2 have no row with both ratings" in err and not out.exists()


def test_compare_set_without_a_preset_and_forecast_cv_methods_twice_are_refused(task_files, tmp_path, capsys):
    code, _, err = run_cli(["compare", "--data", task_files["train"], "--methods", "user-mean", "--set", "lstm_hidden=8",
                            "--seeds", "1", "--folds", "2", "--out", tmp_path / "c"], capsys)
    assert code == 2 and "--set" in err and "no preset" in err
    marker = tmp_path / "marker.csv"
    write_csv_like_official(make_diaries(n_users=8, seed=6).assign(is_forecasting_user=True), marker)
    for methods, says in (("zero,zero", "given twice: zero"), ("", "no method named")):
        code, _, err = run_cli(["forecast-cv", "--task", "subtask2b", "--data", marker, "--folds", "2", "--seeds", "1",
                                "--methods", methods], capsys)
        assert code == 2 and says in err, err



def test_evaluate_says_when_prediction_rows_are_not_in_the_gold_file(task_files, tmp_path, capsys):
    """Only --json showed them; the table looked exactly like a clean file's."""
    out = tmp_path / "p.csv"
    assert run_cli(["baseline", "--method", "user-mean", "--train", task_files["train"], "--data", task_files["test"],
                    "--out", out], capsys)[0] == 0
    pred = pd.read_csv(out, dtype=str)
    extra = pred.head(2).assign(user_id="999")
    pd.concat([pred, extra]).to_csv(tmp_path / "extra.csv", index=False)
    code, _, err = run_cli(["evaluate", "--task", "subtask1", "--pred", tmp_path / "extra.csv", "--gold",
                            task_files["gold"]], capsys)
    assert code == 0 and "2 prediction row(s) have keys that are not in" in err


def test_predict_ignores_the_labels_of_its_inputs_even_out_of_range(task_files, tmp_path, capsys):
    """Its help says labels in --data are ignored, yet an out-of-range one failed the command."""
    run = tmp_path / "bundle"
    assert run_cli(["baseline", "--method", "user-mean", "--train", task_files["train"], "--data", task_files["test"],
                    "--out", tmp_path / "p.csv", "--save", run], capsys)[0] == 0
    labelled = pd.read_csv(task_files["train"]).assign(valence=7.0)
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    code, _, err = run_cli(["predict", "--run", run, "--data", tmp_path / "labelled.csv", "--out", tmp_path / "q.csv"], capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "q.csv")) == len(labelled)
