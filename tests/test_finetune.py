"""The fine-tuned encoder's fit cache and its two uses (finetune, finetune+ridge)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vatrack.data import make_diaries
from vatrack.models import FineTunedRegressor, FineTunedRidge, load_model
from vatrack.protocols import strip_labels


@pytest.fixture(scope="module")
def rows():
    frame = make_diaries(n_users=6, seed=5)
    return frame.iloc[:60].reset_index(drop=True), frame.iloc[60:].reset_index(drop=True)


def _trainings(monkeypatch) -> list:
    """Count real fine-tunes (cache hits do not train)."""
    calls = []
    original = FineTunedRegressor._fine_tune

    def counted(self, train):
        calls.append(len(train))
        return original(self, train)

    monkeypatch.setattr(FineTunedRegressor, "_fine_tune", counted)
    return calls


def test_a_second_fit_of_the_same_rows_loads_the_cached_fit(rows, tiny_bert_dir, monkeypatch):
    train, test = rows
    calls = _trainings(monkeypatch)
    params = dict(encoder=str(tiny_bert_dir), seed=3, epochs=1, batch_size=8)
    first = FineTunedRegressor(**params).fit(train)
    second = FineTunedRegressor(**params).fit(train)
    assert calls == [len(train)]
    assert "cached_fit" in second.fit_info and second.fit_info["train_time_s"] == first.fit_info["train_time_s"]
    pd.testing.assert_frame_equal(first.predict(strip_labels(test)), second.predict(strip_labels(test)))
    # finetune+ridge with the same parameters shares the fine-tune
    FineTunedRidge(**params).fit(train)
    assert calls == [len(train)]


@pytest.mark.parametrize("change", ["label", "order", "param", "no-cache"])
def test_anything_that_changes_the_fit_misses_the_cache(change, rows, tiny_bert_dir, monkeypatch):
    train, _ = rows
    calls = _trainings(monkeypatch)
    params = dict(encoder=str(tiny_bert_dir), seed=4, epochs=1, batch_size=8)
    FineTunedRegressor(**params).fit(train)  # trained, or cached by an earlier case
    before = len(calls)
    other = train.copy()
    if change == "label":  # one training label: a cache keyed on texts alone would leak here
        other.loc[0, "arousal"] = other.loc[0, "arousal"] + 1
    elif change == "order":
        other = other.iloc[::-1].reset_index(drop=True)
    elif change == "param":
        params["lr_head"] = 2e-3
    else:
        params["cache"] = False
    FineTunedRegressor(**params).fit(other)
    assert len(calls) == before + 1


def test_finetune_ridge_uses_the_fine_tuned_vectors(rows, tiny_bert_dir, tmp_path):
    train, test = rows
    model = FineTunedRidge(encoder=str(tiny_bert_dir), seed=1, epochs=1, batch_size=8, cache=False).fit(train)
    vectors = model.transform(strip_labels(test))
    assert vectors.shape == (len(test), model.state["dim"]) and np.isfinite(vectors).all()
    pred = model.predict(strip_labels(test))
    # the ridge reads the fine-tuned vectors: other vectors give other predictions
    model.net.encoder.embeddings.word_embeddings.weight.data.mul_(0.5)
    assert not np.allclose(model.predict(strip_labels(test)).pred_valence, pred.pred_valence)
    model.net.encoder.embeddings.word_embeddings.weight.data.mul_(2.0)
    model.save(tmp_path / "bundle")
    loaded = load_model(tmp_path / "bundle")
    assert isinstance(loaded, FineTunedRidge)
    pd.testing.assert_frame_equal(loaded.predict(strip_labels(test)), pred)


def test_a_declared_blend_is_the_weighted_sum_of_its_members(rows, tiny_bert_dir):
    from vatrack.models import make_model

    train, test = rows
    params = dict(encoder=str(tiny_bert_dir), seed=2, epochs=1, batch_size=8)
    alone = FineTunedRegressor(**params).fit(train).predict(strip_labels(test))
    member = make_model("ridge+user", encoder=str(tiny_bert_dir)).fit(train).predict(strip_labels(test))
    blended = FineTunedRegressor(**params, blend={"ridge+user": 0.3}, blend_encoder=str(tiny_bert_dir)).fit(train)
    got = blended.predict(strip_labels(test))
    cols = ["pred_valence", "pred_arousal"]
    np.testing.assert_allclose(got[cols].to_numpy(), 0.7 * alone[cols].to_numpy() + 0.3 * member[cols].to_numpy(),
                               atol=1e-9)


@pytest.mark.parametrize("blend", [{"ridge+usr": 0.5}, {"ridge+user": 1.5}, "ridge+user"])
def test_a_bad_blend_names_the_parameter(blend, rows, tiny_bert_dir):
    from vatrack.errors import VatrackError

    with pytest.raises(VatrackError, match="`blend`"):
        FineTunedRegressor(encoder=str(tiny_bert_dir), blend=blend).fit(rows[0])


def test_the_exported_encoder_gives_the_fine_tuned_vectors(rows, tiny_bert_dir, tmp_path):
    from vatrack.encoders import get_encoder

    train, test = rows
    model = FineTunedRegressor(encoder=str(tiny_bert_dir), seed=6, epochs=1, batch_size=8, cache=False).fit(train)
    folder = model.export_encoder(tmp_path / "encoder")
    frozen = get_encoder(str(folder)).encode(test["text"].tolist(), progress=False)
    np.testing.assert_allclose(frozen, model.transform(strip_labels(test)), atol=1e-5)


def _tiny_preset(tmp_path, tiny_bert_dir, extra=""):
    path = tmp_path / "ft.yaml"
    path.write_text(f"name: ft-tiny\nmethod: finetune\nparams: {{encoder: {tiny_bert_dir}, epochs: 1, batch_size: 8{extra}}}\n")
    return path


def test_train_predict_and_cv_take_a_method_preset(task_files, tiny_bert_dir, tmp_path, capsys):
    from conftest import run_cli

    preset = _tiny_preset(tmp_path, tiny_bert_dir)
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--data", task_files["train"], "--preset", preset, "--out", run, "--quiet"], capsys)
    assert code == 0, err
    assert "trained ft-tiny" in out
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "scales.json", "model", "metrics.json"}
    assert isinstance(load_model(run / "model"), FineTunedRegressor)
    # the run's config.yaml is itself a preset that rebuilds the same estimator
    from vatrack.models import model_from_preset

    assert model_from_preset(run / "config.yaml").get_params() == model_from_preset(preset).get_params()
    code, out, err = run_cli(["predict", "--run", run, "--data", task_files["test"], "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(pd.read_csv(task_files["test"]))
    code, out, err = run_cli(["cv", "--data", task_files["train"], "--preset", preset, "--folds", "2", "--seeds", "1",
                              "--jobs", "1", "--quiet"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["train", "--data", task_files["train"], "--preset", preset, "--out", run, "--resume"], capsys)
    assert code == 2 and "--resume" in err and "sequence-model runs" in err


@pytest.mark.parametrize("flags", [["--val", "none"], ["--val", "cv", "--mode", "finetune"], ["--accelerator", "cpu"],
                                   ["--logger", "tensorboard"]])
def test_a_method_preset_refuses_the_sequence_models_settings(task_files, tiny_bert_dir, tmp_path, capsys, flags):
    """They used to be accepted and ignored: a user asking for --val none got a run that never read it."""
    from conftest import run_cli

    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--data", task_files["train"], "--preset", _tiny_preset(tmp_path, tiny_bert_dir),
                              "--out", run, *flags], capsys)
    assert code == 2 and err.count("\n") <= 1 and "sequence-model runs only" in err
    assert all(flag in err for flag in flags if flag.startswith("--")) and not run.exists()


def test_a_failed_method_run_leaves_no_folder(task_files, tiny_bert_dir, tmp_path, monkeypatch):
    from vatrack.experiments.runs import train_run

    def boom(self, train):
        raise KeyboardInterrupt

    monkeypatch.setattr(FineTunedRegressor, "_fine_tune", boom)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(task_files["train"], str(_tiny_preset(tmp_path, tiny_bert_dir, ", cache: false")), out, progress=False)
    assert not out.exists()


def test_a_failed_forced_rerun_gives_the_earlier_run_back(task_files, tiny_bert_dir, tmp_path, monkeypatch):
    """--force used to empty the run folder first: a rerun stopped mid-fit lost the trained model."""
    from vatrack.experiments.runs import train_run

    preset = str(_tiny_preset(tmp_path, tiny_bert_dir, ", cache: false"))
    out = tmp_path / "run"
    train_run(task_files["train"], preset, out, progress=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(self, train):
        raise KeyboardInterrupt

    monkeypatch.setattr(FineTunedRegressor, "_fine_tune", boom)
    with pytest.raises(KeyboardInterrupt):
        train_run(task_files["train"], preset, out, progress=False, force=True)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(("settings", "param"), [
    (["encoder=5"], "encoder"), (["encoder=true"], "encoder"), (["epochs=true"], "epochs"),
    (["weight_decay=-3"], "weight_decay"), (["lr_encoder=-1"], "lr_encoder"), (["lr_head=-5"], "lr_head"),
    (["warmup=5"], "warmup"), (["ccc_weight=high"], "ccc_weight"), (["user_offsets=maybe"], "user_offsets"),
    (["cache=maybe"], "cache"), (["blend={ridge+user: 0.5}", "blend_encoder=nope"], "blend_encoder"),
])
def test_a_bad_parameter_is_one_line_before_any_work(settings, param, task_files, tiny_bert_dir, tmp_path, capsys,
                                                     monkeypatch):
    """They used to crash (encoder=5, weight_decay=-3), train silently (lr_head=-5, epochs=true) or,
    for the blend's encoder, fail only once the fine-tune had run."""
    from conftest import run_cli
    from vatrack.cli import FLAGS

    calls = _trainings(monkeypatch)
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--data", task_files["train"], "--preset", _tiny_preset(tmp_path, tiny_bert_dir),
                              "--out", run, *(arg for setting in settings for arg in ("--set", setting))], capsys)
    assert code == 2 and err.count("\n") <= 1 and "Traceback" not in err, err
    assert calls == [] and not run.exists()
    assert FLAGS[param].rstrip("=") in err


@pytest.mark.parametrize("method", ["ridge+user", "finetune"])
def test_an_encoder_that_is_not_a_name_is_one_line(method, rows):
    from vatrack.errors import VatrackError
    from vatrack.models import make_model

    with pytest.raises(VatrackError) as caught:
        make_model(method, encoder=5).fit(rows[0])
    assert caught.value.params == ("encoder",)


def test_a_method_without_epochs_trains_without_an_epoch_count(task_files, tiny_bert_dir, tmp_path, capsys):
    from conftest import run_cli

    preset = tmp_path / "ridge.yaml"
    preset.write_text(f"method: ridge+user\nparams: {{encoder: {tiny_bert_dir}}}\n")
    code, out, err = run_cli(["train", "--data", task_files["train"], "--preset", preset, "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert "trained ridge in" in out and " epochs)" not in out and "None" not in out
