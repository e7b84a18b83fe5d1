"""vatrack.experiments.sweep: search spaces, the study, the best preset (accepted by `vatrack
train`), and two worker processes adding trials to one SQLite study."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pytest
import yaml

from vatrack.errors import VatrackError
from vatrack.models.presets import load_preset
from vatrack.experiments.sweep import DEFAULT_SPACE, check_space, mask_url, open_study, suggest

from conftest import run_cli

TINY = ["--set", "epochs=1", "--set", "lstm_hidden=8", "--set", "lstm_layers=1", "--set", "fusion=[16]",
        "--set", "user_emb=4", "--set", "batch_size=32", "--set", "val_folds=2"]
SPACE = ("lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}\n"
         "fusion: [[16], [8, 8]]\n"
         "lstm_hidden: {type: categorical, choices: [8, 12]}\n")




@pytest.fixture
def sweep_files(tmp_path, task_files):
    (tmp_path / "space.yaml").write_text(SPACE)
    return {**task_files, "space": tmp_path / "space.yaml", "db": f"sqlite:///{tmp_path / 'sweep.db'}"}


def test_default_space_is_valid_for_every_seed_preset():
    for name in ("v3.0", "v3.2", "v3.3", "v3.4"):
        assert set(check_space(DEFAULT_SPACE, load_preset(name))) == set(DEFAULT_SPACE)


@pytest.mark.parametrize("space,message", [
    ({"learning_rate": {"type": "float", "low": 0.1, "high": 1}}, "unknown key .learning_rate."),
    ({"lr": {"type": "float", "low": 0.1, "high": 0.01}}, "low < high"),
    ({"lr": {"type": "float", "low": 0.0, "high": 0.01, "log": True}}, "log scale"),
    ({"dropout": [0.1, 1.5]}, "dropout"),
    ({"lr": {"type": "uniform", "low": 0.1, "high": 1}}, "type"),
    ({"lr": {"type": "float", "low": 1e-4, "high": 1e-3, "steps": 3}}, "unknown field"),
])
def test_bad_search_spaces_are_one_clear_error(space, message):
    with pytest.raises(VatrackError, match=message):
        check_space(space, load_preset("v3.3"))


def test_suggest_decodes_list_choices_and_types():
    space = check_space(yaml.safe_load(SPACE), load_preset("v3.3"))
    trial = optuna.trial.FixedTrial({"lr": 0.002, "fusion": "[8, 8]", "lstm_hidden": 12})
    assert suggest(trial, space) == {"lr": 0.002, "fusion": [8, 8], "lstm_hidden": 12}


def test_storage_password_never_shown():
    assert mask_url("postgresql+psycopg2://me:secret@db/vatrack") == "postgresql+psycopg2://me:***@db/vatrack"
    with pytest.raises(VatrackError, match="cannot open|driver"):
        open_study("postgresql+psycopg2://me:secret@127.0.0.1:1/none", "s", {"x": 1})


def test_a_study_refuses_a_worker_with_other_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    open_study(url, "s", {"folds": 3})
    open_study(url, "s", {"folds": 3})  # the same settings join
    with pytest.raises(VatrackError, match="another folds"):
        open_study(url, "s", {"folds": 5})


@pytest.mark.slow
def test_sweep_writes_a_preset_that_train_accepts(sweep_files, tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(["sweep", "--data", sweep_files["train"], "--preset", "v3.3", "--trials", "3",
                                 "--storage", sweep_files["db"], "--study", "t", "--space", sweep_files["space"],
                                 "--folds", "2", "--encoder", tiny_bert_dir, "--sampler-seed", "0", "--out", out,
                                 "--confirm-folds", "2", "--confirm-seeds", "1", *TINY],
                                capsys)
    assert code == 0, err
    # The chosen configuration is re-evaluated on confirmation seeds no trial used; both figures are shown.
    header = (out / "best.yaml").read_text()
    assert "Selected on (optimistic" in header and "Confirmed (honest estimate)" in header and "[1000]" in header
    assert "Confirmed (honest estimate)" in (out / "report.md").read_text()
    assert "confirmed on seeds [1000] × 2 folds" in stdout
    for name in ("best.yaml", "trials.csv", "report.md", "report.html", "plots/optimisation_history.png"):
        assert (out / name).exists(), name
    best = load_preset(out / "best.yaml")
    assert best.name == "t-best" and best.net.lstm_hidden in (8, 12) and best.net.fusion in ([16], [8, 8]) and best.trainer.epochs == 1
    study = optuna.load_study(study_name="t", storage=sweep_files["db"])
    assert len(study.trials) == 3 and study.best_value == pytest.approx(float(stdout.split("CV composite r ")[1].split()[0]), abs=1e-4)
    assert any(k.startswith(f"confirmed:{study.best_trial.number}:2x1000") for k in study.user_attrs)
    code, _, err = run_cli(["train", "--data", sweep_files["train"], "--preset", out / "best.yaml", "--out", tmp_path / "run",
                            "--val", "none"], capsys)
    assert code == 0, err
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["name"] == "t-best"


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(sweep_files, tiny_bert_dir, tmp_path):
    vatrack = os.path.join(os.path.dirname(sys.executable), "vatrack")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([vatrack, "sweep", "--data", str(sweep_files["train"]), "--preset", "v3.3", "--trials", "1",
                                 "--storage", sweep_files["db"], "--study", "shared", "--space", str(sweep_files["space"]),
                                 "--folds", "2", "--encoder", str(tiny_bert_dir), "--sampler-seed", str(k),
                                 "--out", str(tmp_path / f"worker{k}"), "--no-confirm", *TINY],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for k in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for w, (_, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-2000:]
    study = optuna.load_study(study_name="shared", storage=sweep_files["db"])
    assert len(study.trials) == 2
    by_worker = {t.user_attrs["worker"] for t in study.trials}
    assert by_worker == {f"{os.uname().nodename}:{w.pid}" for w in workers}
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)


def test_a_sweep_never_selects_on_confirmation_seeds(task_files, tmp_path):
    from vatrack.data import load_diary
    from vatrack.experiments.sweep import run_sweep

    frame = load_diary(task_files["train"], require_labels=True)
    with pytest.raises(VatrackError, match="may not use confirmation seeds"):
        run_sweep(frame, "v3.3", 1, tmp_path, storage=f"sqlite:///{tmp_path / 's.db'}", seeds=(0, 1000))
    with pytest.raises(VatrackError, match="`confirm=True` has 5 seeds"):
        run_sweep(frame, "v3.3", 1, tmp_path, storage=f"sqlite:///{tmp_path / 's.db'}", confirm_seeds=6)


def test_trials_are_pruned_per_epoch_inside_a_fold(task_files, tiny_bert_dir):
    """The pruning callback reports each epoch's inner-validation score at fold*1000+epoch and
    stops training there when the pruner says so (here: a pruner that prunes from step 2003)."""
    from vatrack.data import load_diary
    from vatrack.experiments.sweep import EPOCH_STEPS, epoch_pruning
    from vatrack.models.sequence import SequenceRegressor

    class PruneFromEpochThree(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.last_step is not None and trial.last_step % EPOCH_STEPS >= 3

    study = optuna.create_study(direction="maximize", pruner=PruneFromEpochThree())
    trial = study.ask()
    overrides = {"epochs": 6, "patience": 6, "lstm_hidden": 8, "lstm_layers": 1, "fusion": [16], "user_emb": 4,
                 "batch_size": 32, "val_folds": 2}
    model = SequenceRegressor("v3.3", encoder=str(tiny_bert_dir), overrides=overrides,
                              trainer={"callbacks": [epoch_pruning(trial, fold=2)]})
    with pytest.raises(optuna.TrialPruned, match="fold 3, epoch 3"):
        model.fit(load_diary(task_files["train"], require_labels=True))
    reported = study.trials[0].intermediate_values
    assert sorted(reported) == [2 * EPOCH_STEPS + 1, 2 * EPOCH_STEPS + 2, 2 * EPOCH_STEPS + 3]
    assert all(-1.0 <= v <= 1.0 for v in reported.values())


def test_a_key_fixed_with_set_is_not_searched():
    """`sweep --set lstm_hidden=8` used to be overwritten by every trial's sampled value, silently."""
    from vatrack.experiments.sweep import DEFAULT_SPACE, without_fixed_keys

    space, fixed = without_fixed_keys(DEFAULT_SPACE, ["lstm_hidden=8", "net.fusion=[8]", "epochs=1"])
    assert fixed == ["lstm_hidden", "fusion"] and "lstm_hidden" not in space and "lr" in space
    with pytest.raises(VatrackError, match="nothing to search"):
        without_fixed_keys({"lr": DEFAULT_SPACE["lr"]}, ["lr=1e-3"])


def test_too_many_confirmation_seeds_names_the_right_option():
    """It said `n_seeds` (--seeds), an option the sweep's confirmation count is not."""
    import pandas as pd

    from vatrack.experiments.sweep import run_sweep

    with pytest.raises(VatrackError, match="`confirm_seeds=5` or fewer"):
        run_sweep(pd.DataFrame(), "v3.3", 1, None, confirm_seeds=9)


def test_too_few_users_for_the_inner_validation_is_one_line_before_the_study(tmp_path, capsys):
    """Trial 0 used to fail inside Optuna: a 15-line traceback, then a hint naming --val, which
    sweep does not have."""
    from conftest import run_cli
    from vatrack.data import make_official_like, write_csv_like_official

    train, _ = make_official_like(n_users=14, seed=3)
    write_csv_like_official(train, tmp_path / "train.csv")
    code, out, err = run_cli(["sweep", "--data", tmp_path / "train.csv", "--preset", "v3.3", "--trials", "1",
                              "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", tmp_path / "sw"], capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "Traceback" not in err + out
    assert "--set: val_folds=2" in err and "--val" not in err
