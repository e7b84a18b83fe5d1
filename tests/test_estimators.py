"""Common tests run against every subtask-1 estimator (the scikit-learn idea).

Each estimator is built small (tiny local BERT encoder) so the whole matrix stays fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vatrack.data import LABELS, make_official_like
from vatrack.errors import VatrackError
from vatrack.models import MODELS, load_model, make_model
from vatrack.protocols import official_style_folds, strip_labels

BASELINE_METHODS = ["mean", "user-mean", "ridge", "ridge+user", "ridge+user+types"]


TINY_SEQUENCE = ["epochs=2", "val_folds=2", "lstm_hidden=16", "lstm_layers=1", "fusion=[16,8]", "user_emb=4", "seq_length=3"]


def factories():
    """Every subtask-1 estimator at toy size. An import error fails collection loudly: no model
    may drop out of the common tests unnoticed."""
    out = {m: (lambda m: lambda encoder, seed: make_model(m, encoder=encoder, seed=seed))(m) for m in BASELINE_METHODS}
    out["sequence"] = lambda encoder, seed: make_model("sequence", config="v3.3", encoder=encoder, seed=seed,
                                                       overrides=TINY_SEQUENCE)
    # cache=False: a cached fit would make the leakage and label tests pass without training.
    for m in ("finetune", "finetune+ridge"):
        out[m] = (lambda m: lambda encoder, seed: make_model(m, encoder=encoder, seed=seed, epochs=1, batch_size=8,
                                                             cache=False))(m)
    return out


FACTORIES = factories()

# best's network at toy size; its refit-on-all-rows and ridge+user blend stay on.
TINY_BEST = ["epochs=3", "patience=2", "val_folds=2", "lstm_hidden=8", "fusion=[8]", "user_emb=4", "seq_length=3",
             "batch_size=32"]


def best_factory(encoder, seed):
    return make_model("sequence", config="best", encoder=encoder, seed=seed, overrides=TINY_BEST)


def ensemble_factory(encoder, seed):
    """A nested-weights ensemble (weights from an inner CV inside the training rows)."""
    from vatrack.experiments.ensemble import EnsembleRegressor

    members = {m: (lambda m: lambda s: make_model(m, encoder=encoder, seed=s))(m) for m in ("user-mean", "ridge")}
    return EnsembleRegressor(members, seed=seed, mode="cv", inner_folds=2)


def finetune_blend_factory(encoder, seed):
    """The fine-tuned model averaged with ridge+user (a declared blend)."""
    return make_model("finetune", encoder=encoder, seed=seed, epochs=1, batch_size=8, cache=False,
                      blend={"ridge+user": 0.5}, blend_encoder=encoder)


# Every shipped path: the contract's estimators plus best (refit + blend), the fine-tuned
# model's blend and ensembles.
SHIPPED = {**FACTORIES, "best": best_factory, "finetune+blend": finetune_blend_factory, "ensemble": ensemble_factory}


def test_every_registered_model_is_in_the_common_tests():
    assert set(FACTORIES) == set(MODELS)


@pytest.fixture(scope="module")
def small_split():
    return make_official_like(n_users=16, seed=7)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_fit_predict_contract(name, small_split, tiny_bert_dir, tmp_path):
    train, test = small_split
    model = FACTORIES[name](str(tiny_bert_dir), 0).fit(train)
    inputs = strip_labels(test)
    pred = model.predict(inputs)
    assert list(pred.columns) == ["user_id", "text_id", "pred_valence", "pred_arousal"]
    assert pred[["user_id", "text_id"]].equals(inputs[["user_id", "text_id"]].reset_index(drop=True))
    values = pred[["pred_valence", "pred_arousal"]].to_numpy()
    assert np.isfinite(values).all()
    assert values[:, 0].min() >= -2 and values[:, 0].max() <= 2 and values[:, 1].min() >= 0 and values[:, 1].max() <= 2
    model.save(tmp_path / "bundle")
    again = load_model(tmp_path / "bundle").predict(inputs)
    pd.testing.assert_frame_equal(pred, again)


@pytest.mark.parametrize("name", list(SHIPPED))
def test_same_seed_same_predictions(name, small_split, tiny_bert_dir):
    train, test = small_split
    a = SHIPPED[name](str(tiny_bert_dir), 1).fit(train).predict(strip_labels(test))
    b = SHIPPED[name](str(tiny_bert_dir), 1).fit(train).predict(strip_labels(test))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("name", list(SHIPPED))
def test_leakage_held_out_labels_never_matter(name, tiny_bert_dir):
    """Scramble the labels of held-out rows in the full table: held-out predictions must not move.

    This is the CV protocol end to end: if the split, a feature or a statistic used any
    held-out label (target rows, later texts of seen users, unseen users), predictions change.
    """
    from vatrack.data import make_diaries

    frame = make_diaries(n_users=12, seed=11)
    fold = official_style_folds(frame, n_folds=2, seed=0)[0]
    scrambled = frame.copy()
    rng = np.random.default_rng(0)
    scrambled.loc[fold.test_index, "valence"] = rng.integers(-2, 3, len(fold.test_index)).astype(float)
    scrambled.loc[fold.test_index, "arousal"] = rng.integers(0, 3, len(fold.test_index)).astype(float)
    assert not scrambled[list(LABELS)].equals(frame[list(LABELS)])
    preds = []
    for table in (frame, scrambled):
        train, test = fold.split(table)
        preds.append(SHIPPED[name](str(tiny_bert_dir), 0).fit(train).predict(strip_labels(test)))
    pd.testing.assert_frame_equal(preds[0], preds[1])


@pytest.mark.parametrize("name", list(SHIPPED))
def test_training_labels_do_matter(name, small_split, tiny_bert_dir):
    """The converse, so the leakage test cannot pass vacuously: training labels move predictions."""
    if name == "mean":
        pytest.skip("the mean baseline is the degenerate case: only the overall mean matters")
    train, test = small_split
    shifted = train.copy()
    shifted["valence"] = np.clip(-shifted["valence"], -2, 2)
    a = SHIPPED[name](str(tiny_bert_dir), 0).fit(train).predict(strip_labels(test))
    b = SHIPPED[name](str(tiny_bert_dir), 0).fit(shifted).predict(strip_labels(test))
    assert not np.allclose(a.pred_valence, b.pred_valence)


def test_the_best_factory_exercises_refit_and_blend(tiny_bert_dir):
    config = best_factory(str(tiny_bert_dir), 0).config
    assert config.trainer.refit and config.blend.get("ridge+user", 0) > 0 and config.name == "best"


def test_unknown_method_is_clear():
    with pytest.raises(VatrackError, match="unknown method"):
        make_model("forest")


def test_user_offsets_shrink_with_few_texts():
    from vatrack.models.baselines import shrunk_user_offsets

    users = pd.Series(["a"] * 2 + ["b"] * 40 + ["c"] * 20)
    rng = np.random.default_rng(0)
    residuals = np.vstack([np.full((2, 2), 1.0), np.full((40, 2), 1.0), rng.normal(0, 1, (20, 2))])
    offsets = shrunk_user_offsets(users, residuals)
    assert 0 < offsets["a"][0] < offsets["b"][0] < 1.0


# --- the scikit-learn side of the contract ------------------------------------------------------


def _every_estimator(tiny_bert_dir):
    from vatrack.models import FORECASTERS, make_forecaster

    encoder = str(tiny_bert_dir)
    models = {name: factory(encoder, 3) for name, factory in FACTORIES.items()}
    models.update({f"forecast:{m}": make_forecaster(m, "subtask2a", encoder=encoder, seed=3) for m in FORECASTERS})
    return models


def test_get_params_set_params_and_clone(tiny_bert_dir):
    from sklearn.base import clone

    for name, model in _every_estimator(tiny_bert_dir).items():
        params = model.get_params()
        assert params["seed"] == 3, name
        twin = clone(model)
        assert twin is not model and type(twin) is type(model), name
        assert twin.get_params().keys() == params.keys(), name
        assert repr(twin) == repr(model), name
        assert twin.set_params(seed=11) is twin and twin.get_params()["seed"] == 11 and twin.seed == 11, name
        assert model.get_params()["seed"] == 3, name  # the original is untouched


def test_clone_is_unfitted_and_set_params_reconfigures_the_sequence_model(small_split, tiny_bert_dir):
    from sklearn.base import clone

    from vatrack.models.forecasters import make_forecaster

    model = FACTORIES["sequence"](str(tiny_bert_dir), 0)
    assert model.config.trainer.epochs == 2 and model.config.net.lstm_hidden == 16
    model.set_params(overrides=[*TINY_SEQUENCE, "epochs=1"])
    assert model.config.trainer.epochs == 1 and model.get_params()["overrides"][-1] == "epochs=1"
    with pytest.raises(VatrackError, match="no parameter 'epochs'"):
        model.set_params(epochs=3)
    baseline = make_model("user-mean").fit(small_split[0])
    assert baseline.state and not clone(baseline).state
    forecaster = make_forecaster("sequence", "subtask2b", epochs=3, fusion=[8])
    assert clone(forecaster).settings["epochs"] == 3 and clone(forecaster).settings["fusion"] == [8]
    with pytest.raises(VatrackError, match="unknown option"):
        forecaster.set_params(text_weight=1.0)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A hand-made frame: integer user ids, text timestamps, no is_words or collection_phase."""
    out = frame[["user_id", "text_id", "text", "timestamp", *[c for c in LABELS if c in frame]]].copy()
    out["user_id"] = out["user_id"].astype(int)
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return out


@pytest.mark.parametrize("name", list(FACTORIES))
def test_fit_and_predict_take_a_plain_dataframe(name, small_split, tiny_bert_dir):
    train, test = small_split
    inputs = strip_labels(test)
    # what the plain frame means: is_words absent = False
    expected = FACTORIES[name](str(tiny_bert_dir), 0).fit(train.assign(is_words=False)).predict(inputs.assign(is_words=False))
    got = FACTORIES[name](str(tiny_bert_dir), 0).fit(_plain(train)).predict(_plain(inputs))
    assert got["user_id"].tolist() == _plain(inputs)["user_id"].tolist()  # the caller's keys and row order
    np.testing.assert_allclose(got[["pred_valence", "pred_arousal"]], expected[["pred_valence", "pred_arousal"]],
                               atol=1e-6)


def test_forecasters_take_a_plain_dataframe():
    from vatrack.data import make_diaries
    from vatrack.models.forecasters import make_forecaster

    history = make_diaries(n_users=8, seed=2)
    history = history.assign(is_words=False, collection_phase=pd.array([pd.NA] * len(history), dtype="Int64"))
    for method in ("linear-prev-fit", "ridge-notext"):
        a = make_forecaster(method, "subtask2a").fit(history).predict(history)
        b = make_forecaster(method, "subtask2a").fit(_plain(history)).predict(_plain(history))
        np.testing.assert_allclose(a.iloc[:, 1:].to_numpy(), b.iloc[:, 1:].to_numpy())


def test_bad_frames_name_the_argument_and_the_column():
    with pytest.raises(VatrackError, match="^train: missing column\\(s\\) 'timestamp'"):
        make_model("mean").fit(pd.DataFrame({"user_id": [1], "text_id": [1], "text": ["x"], "valence": [0.0],
                                             "arousal": [1.0]}))
    with pytest.raises(VatrackError, match="^train, column 'timestamp', row 2: 'soon' cannot be read as a date"):
        make_model("mean").fit(pd.DataFrame({"user_id": [1, 1], "text_id": [1, 2], "text": ["x", "y"],
                                             "timestamp": ["2021-01-01", "soon"], "valence": [0.0, 1.0],
                                             "arousal": [1.0, 1.0]}))
    with pytest.raises(VatrackError, match="must be a pandas DataFrame"):
        make_model("mean").fit([1, 2])
