"""The sequence model: estimator contract, leakage, users, determinism, fine-tuning, bundles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vatrack.data import SCALES, make_official_like
from vatrack.errors import VatrackError
from vatrack.models import load_model, make_model
from vatrack.models.sequence import SequenceRegressor
from vatrack.protocols import official_style_folds, strip_labels

from conftest import run_cli

TINY = dict(name="tiny", lstm_hidden=8, lstm_layers=1, fusion=[16], user_emb=4, epochs=2, patience=2,
            batch_size=32, val_folds=3, lr=3e-3, eval_batch_size=64)




@pytest.fixture(scope="module")
def split():
    return make_official_like(n_users=30, seed=11)


@pytest.fixture(scope="module")
def fitted(split, tiny_bert_dir):
    train, _ = split
    return SequenceRegressor(TINY, encoder=str(tiny_bert_dir), seed=0).fit(train)


def test_predict_follows_the_estimator_contract(fitted, split):
    _, test = split
    inputs = strip_labels(test).sample(frac=1.0, random_state=0)  # any row order
    pred = fitted.predict(inputs)
    assert list(pred.columns) == ["user_id", "text_id", "pred_valence", "pred_arousal"]
    assert pred["text_id"].tolist() == inputs["text_id"].tolist()
    for dim in ("valence", "arousal"):
        values = pred[f"pred_{dim}"].to_numpy()
        assert np.isfinite(values).all()
        assert values.min() >= SCALES[dim][0] and values.max() <= SCALES[dim][1]
    assert fitted.predict(inputs.iloc[:0]).shape == (0, 4)


def test_predict_never_reads_labels_of_the_rows_it_predicts(fitted, split):
    _, test = split
    stripped = fitted.predict(strip_labels(test))
    scrambled = test.assign(valence=-test["valence"], arousal=2.0 - test["arousal"])
    pd.testing.assert_frame_equal(fitted.predict(scrambled), stripped)


@pytest.mark.parametrize("text_ridge", [False, True])
def test_leakage_held_out_labels_change_nothing_for_held_out_rows(tiny_bert_dir, text_ridge):
    """Official-style fold: change every held-out label, refit -> identical held-out predictions."""
    train, test = make_official_like(n_users=24, seed=12)
    frame = pd.concat([train, test.drop(columns="is_seen_user")]).pipe(lambda f: f.sort_values(["user_id", "timestamp"]))
    frame = frame.reset_index(drop=True)
    fold = official_style_folds(frame, n_folds=3, seed=0)[0]
    changed = frame.copy()
    held = fold.test_index
    changed.loc[held, "valence"] = np.clip(-changed.loc[held, "valence"] + 1, -2, 2)
    changed.loc[held, "arousal"] = 2.0 - changed.loc[held, "arousal"]
    predictions = []
    for data in (frame, changed):
        tr, te = fold.split(data)
        model = SequenceRegressor({**TINY, "use_text_ridge": text_ridge}, encoder=str(tiny_bert_dir), seed=3).fit(tr)
        examples, _ = model.query_examples(strip_labels(te))
        predictions.append((examples.batch(torch.arange(len(examples)))["num"], model.predict(strip_labels(te))))
    torch.testing.assert_close(predictions[0][0], predictions[1][0])
    pd.testing.assert_frame_equal(predictions[0][1], predictions[1][1])


def test_labels_after_a_predicted_row_change_nothing(fitted, split):
    """A query row placed inside a user's history: later history labels are not inputs."""
    train, _ = split
    history = fitted.state["history"]
    user = history["user_id"].value_counts().index[0]
    rows = history[history["user_id"] == user]
    middle = rows.iloc[len(rows) // 2]
    query = pd.DataFrame([{**middle.to_dict(), "text_id": "q1", "timestamp": middle["timestamp"] + pd.Timedelta(seconds=1)}])
    query = strip_labels(query)
    later = (history["user_id"] == user) & (history["timestamp"] > query["timestamp"].iat[0])
    assert later.sum() >= 2
    altered = history.copy()
    altered.loc[later, "valence"] = -altered.loc[later, "valence"]
    altered.loc[later, "arousal"] = 2.0 - altered.loc[later, "arousal"]
    a, _ = fitted.query_examples(query, history=history)
    b, _ = fitted.query_examples(query, history=altered)
    idx = torch.arange(1)
    torch.testing.assert_close(a.batch(idx)["num"], b.batch(idx)["num"])
    np.testing.assert_array_equal(fitted.predict_examples(a), fitted.predict_examples(b))


def test_unseen_users_use_the_unknown_slot_and_seen_users_their_own(fitted, split):
    _, test = split
    vocab = fitted.state["vocab"]
    assert 0 not in vocab.values() and sorted(vocab.values()) == list(range(1, len(vocab) + 1))
    examples, _ = fitted.query_examples(strip_labels(test))
    users = examples.user.numpy()
    unseen = ~test["is_seen_user"].to_numpy()
    assert (users[unseen] == 0).all()
    in_vocab = test["user_id"].isin(vocab).to_numpy()
    assert (users[in_vocab] > 0).all()
    # the embedding table has the unknown row 0 plus one row per user
    assert fitted.net.user.num_embeddings == len(vocab) + 1


def test_bundle_round_trip_gives_identical_predictions(fitted, split, tmp_path):
    _, test = split
    fitted.save(tmp_path / "bundle")
    loaded = load_model(tmp_path / "bundle")
    assert isinstance(loaded, SequenceRegressor)
    assert loaded.state["vocab"] == fitted.state["vocab"]
    pd.testing.assert_frame_equal(loaded.predict(strip_labels(test)), fitted.predict(strip_labels(test)))


def test_corrupted_weights_are_one_clear_error(fitted, tmp_path):
    fitted.save(tmp_path / "bundle")
    (tmp_path / "bundle" / "weights.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(VatrackError, match="corrupted model weights"):
        load_model(tmp_path / "bundle")


def test_predictions_are_clipped_to_the_label_scale(fitted, split):
    _, test = split
    net = fitted.net
    original = net.label_mean.clone()
    try:
        net.label_mean.copy_(torch.tensor([50.0, -50.0]))
        pred = fitted.predict(strip_labels(test))
    finally:
        net.label_mean.copy_(original)
    assert (pred["pred_valence"] == 2.0).all() and (pred["pred_arousal"] == 0.0).all()


def test_registry_builds_the_sequence_model(tiny_bert_dir):
    model = make_model("sequence", config="v3.3", encoder=str(tiny_bert_dir), seed=4, overrides={"epochs": 1})
    assert model.config.name == "v3.3" and model.config.trainer.epochs == 1 and model.seed == 4


def test_same_seed_gives_identical_prediction_files(tmp_path, tiny_bert_dir, capsys):
    train, test = make_official_like(n_users=24, seed=13)
    from vatrack.data import write_csv_like_official

    write_csv_like_official(train, tmp_path / "train.csv")
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), tmp_path / "test.csv")
    args = ["--preset", "v3.3", "--encoder", tiny_bert_dir, "--set", "epochs=2", "--set", "lstm_hidden=8",
            "--set", "lstm_layers=1", "--set", "fusion=16", "--set", "batch_size=32", "--set", "val_folds=3"]
    files = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        code, _, err = run_cli(["train", "--data", tmp_path / "train.csv", "--out", tmp_path / name,
                                "--seed", seed, *args], capsys)
        assert code == 0, err
        code, _, err = run_cli(["predict", "--run", tmp_path / name, "--data", tmp_path / "test.csv",
                                "--out", tmp_path / f"{name}.csv"], capsys)
        assert code == 0, err
        files.append((tmp_path / f"{name}.csv").read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_fine_tune_mode_encodes_each_distinct_text_once_per_step(split, tiny_bert_dir, tmp_path):
    train, test = split
    model = SequenceRegressor({**TINY, "epochs": 1, "batch_size": 16}, encoder=str(tiny_bert_dir), mode="finetune",
                              seed=0).fit(train)
    info = model.fit_info
    assert info["encoder_passes"] > 0
    assert info["encoder_naive_passes"] / info["encoder_passes"] > 2.0  # windows share texts
    assert model.net.encoder is not None
    pred = model.predict(strip_labels(test))
    assert np.isfinite(pred[["pred_valence", "pred_arousal"]].to_numpy()).all()
    model.save(tmp_path / "ft")
    assert (tmp_path / "ft" / "encoder" / "config.json").exists()
    pd.testing.assert_frame_equal(load_model(tmp_path / "ft").predict(strip_labels(test)), pred)
    # cv/compare --jobs workers send fitted models back by pickle
    import pickle

    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(model)).predict(strip_labels(test)), pred)


def test_fine_tuning_changes_the_encoder_and_v32_freezes_it_first(split, tiny_bert_dir):
    train, _ = split
    from vatrack.encoders import load_torch_model

    _, original = load_torch_model(str(tiny_bert_dir), device="cpu")
    start = {k: v.clone() for k, v in original.state_dict().items()}
    moved = SequenceRegressor({**TINY, "epochs": 1, "lr_encoder": 1e-2}, encoder=str(tiny_bert_dir),
                              mode="finetune", seed=0, val="none").fit(train)
    frozen = SequenceRegressor({**TINY, "epochs": 1, "lr_encoder": 1e-2, "freeze_encoder_epochs": 1},
                               encoder=str(tiny_bert_dir), mode="finetune", seed=0, val="none").fit(train)

    def changed(model):
        return any(not torch.equal(start[k], v) for k, v in model.net.encoder.state_dict().items() if k in start)

    assert changed(moved)
    assert not changed(frozen)


def test_refit_trains_again_on_every_row(split, tiny_bert_dir):
    train, _ = split
    model = SequenceRegressor({**TINY, "refit": True}, encoder=str(tiny_bert_dir), seed=0).fit(train)
    assert model.fit_info["refit_epochs"] == model.fit_info["best_epoch"]
    assert set(model.state["vocab"]) == set(train["user_id"])  # every user now has an embedding
    assert "before refit" in model.fit_info["val_metrics_of"]   # metrics.json says whose figures these are


def test_bad_training_frames_are_one_clear_error(tiny_bert_dir):
    model = SequenceRegressor(TINY, encoder=str(tiny_bert_dir))
    train, _ = make_official_like(n_users=4, seed=1)
    with pytest.raises(VatrackError, match="val='none'"):
        model.fit(train)  # too few users for the validation split
    with pytest.raises(VatrackError, match="missing label"):
        model.fit(train.assign(valence=np.nan))
    with pytest.raises(VatrackError, match="not fitted"):
        model.predict(strip_labels(train))


def test_frozen_mode_concatenates_several_encoders_and_keeps_thread_count(split, tiny_bert_dir):
    train, test = split
    torch.set_num_threads(1)
    model = SequenceRegressor({**TINY, "epochs": 1}, encoder=f"{tiny_bert_dir}+{tiny_bert_dir}", seed=0,
                              val="none").fit(train)
    assert model.state["text_dim"] == 64  # two 32-wide tiny BERTs side by side
    assert torch.get_num_threads() == 1   # Lightning leaves the caller's thread setting alone
    assert len(model.predict(strip_labels(test))) == len(test)
    with pytest.raises(VatrackError, match="fine-tune mode takes one encoder"):
        SequenceRegressor(TINY, encoder="minilm+mpnet", mode="finetune")


def test_text_ridge_feature_is_out_of_fold_for_training_rows(split, tiny_bert_dir, tmp_path):
    train, test = split
    model = SequenceRegressor({**TINY, "use_text_ridge": True, "epochs": 1}, encoder=str(tiny_bert_dir), seed=0).fit(train)
    feature = model.state["text_ridge"]
    stored = model.state["history"][["user_id", "text_id"]].merge(feature.stored, on=["user_id", "text_id"], how="left")
    assert stored[["ridge_v", "ridge_a"]].notna().all().all()  # every training row has its value
    from vatrack.features import RIDGE_COLUMNS, build_table
    from vatrack.features.text_ridge import ridge_inputs

    table = build_table(model.state["history"])
    stored = table.frame[["user_id", "text_id"]].merge(feature.stored, on=["user_id", "text_id"], how="left")
    in_sample = feature.ridge.predict(ridge_inputs(table, model._frozen_vectors(table)))
    assert not np.allclose(in_sample, stored[["ridge_v", "ridge_a"]].to_numpy())  # stored values are out-of-fold
    examples, _ = model.query_examples(strip_labels(test))
    ridge_query = examples.table.static[:, RIDGE_COLUMNS][~examples.table.known]
    assert np.isfinite(ridge_query).all() and np.abs(ridge_query).sum() > 0
    model.save(tmp_path / "b")
    pd.testing.assert_frame_equal(load_model(tmp_path / "b").predict(strip_labels(test)), model.predict(strip_labels(test)))


def test_blend_with_ridge_user_is_saved_and_averages_the_two(split, tiny_bert_dir, tmp_path):
    train, test = split
    inputs = strip_labels(test)
    alone = SequenceRegressor({**TINY, "epochs": 1}, encoder=str(tiny_bert_dir), seed=0).fit(train)
    blended = SequenceRegressor({**TINY, "epochs": 1, "blend_ridge_user": 0.5}, encoder=str(tiny_bert_dir), seed=0).fit(train)
    other = make_model("ridge+user", encoder=str(tiny_bert_dir), seed=0).fit(train).predict(inputs)
    expected = 0.5 * alone.predict(inputs)[["pred_valence", "pred_arousal"]].to_numpy() + \
        0.5 * other[["pred_valence", "pred_arousal"]].to_numpy()
    got = blended.predict(inputs)
    np.testing.assert_allclose(got[["pred_valence", "pred_arousal"]].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    blended.save(tmp_path / "b")
    pd.testing.assert_frame_equal(load_model(tmp_path / "b").predict(inputs), got)


def test_blend_members_are_data_any_baseline_and_weights(split, tiny_bert_dir, tmp_path):
    """blend: {method: weight} with two baselines: the prediction is the declared weighted sum of
    the network and each member fitted alone on the same rows; the bundle keeps the members."""
    train, test = split
    inputs = strip_labels(test)
    cols = ["pred_valence", "pred_arousal"]
    alone = SequenceRegressor({**TINY, "epochs": 1}, encoder=str(tiny_bert_dir), seed=0).fit(train)
    blended = SequenceRegressor({**TINY, "epochs": 1, "blend": {"ridge": 0.2, "user-mean": 0.3}},
                                encoder=str(tiny_bert_dir), seed=0).fit(train)
    ridge = make_model("ridge", encoder=str(tiny_bert_dir), seed=0).fit(train).predict(inputs)[cols].to_numpy()
    user_mean = make_model("user-mean", seed=0).fit(train).predict(inputs)[cols].to_numpy()
    expected = 0.5 * alone.predict(inputs)[cols].to_numpy() + 0.2 * ridge + 0.3 * user_mean
    got = blended.predict(inputs)
    np.testing.assert_allclose(got[cols].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    blended.save(tmp_path / "b")
    pd.testing.assert_frame_equal(load_model(tmp_path / "b").predict(inputs), got)


def test_bundle_from_before_the_config_groups_still_loads(split, tiny_bert_dir, tmp_path):
    """A bundle written before the groups: flat config dict, the blend model and the text ridge
    under their old state keys. Rewrite a fresh bundle into that shape; it must load and predict
    the same."""
    import pickle

    train, test = split
    inputs = strip_labels(test)
    model = SequenceRegressor({**TINY, "epochs": 1, "blend_ridge_user": 0.5, "use_text_ridge": True},
                              encoder=str(tiny_bert_dir), seed=0).fit(train)
    model.save(tmp_path / "b")
    state_file = tmp_path / "b" / "state.pkl"
    with open(state_file, "rb") as fh:
        saved = pickle.load(fh)
    saved["config"] = model.config.flat()
    state = saved["state"]
    state["blend_model"] = state.pop("blend")["ridge+user"]
    feature = state["text_ridge"]  # then: the bare ridge, its stored values as history columns
    state["text_ridge"] = feature.ridge
    state["history"] = state["history"].merge(feature.stored, on=["user_id", "text_id"], how="left")
    with open(state_file, "wb") as fh:
        pickle.dump(saved, fh)
    old = load_model(tmp_path / "b")
    assert old.config == model.config
    pd.testing.assert_frame_equal(old.predict(inputs), model.predict(inputs))
