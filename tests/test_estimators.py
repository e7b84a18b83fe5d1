"""Common tests run against every subtask-1 estimator (the scikit-learn idea).

Each estimator is built small (tiny local BERT encoder) so the whole matrix stays fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vatrack.data import LABELS, make_official_like
from vatrack.models import MODELS, load_model, make_model
from vatrack.protocols import official_style_folds, strip_labels

BASELINE_METHODS = ["mean", "user-mean", "ridge", "ridge+user"]


def sequence_factory():
    """The seed sequence model at toy size, when it is available."""
    try:
        from vatrack.models.presets import estimator_from_preset
    except ImportError:
        return None
    return lambda encoder, seed: estimator_from_preset(
        "v3.3", encoder=encoder, seed=seed,
        overrides=["epochs=2", "val_folds=2", "lstm_hidden=16", "lstm_layers=1", "fusion=[16,8]", "user_emb=4", "seq_length=3"])


def factories():
    out = {m: (lambda m: lambda encoder, seed: make_model(m, encoder=encoder, seed=seed))(m) for m in BASELINE_METHODS}
    seq = sequence_factory()
    if seq is not None:
        out["sequence"] = seq
    return out


FACTORIES = factories()

# best's network at toy size; its refit-on-all-rows and ridge+user blend stay on.
TINY_BEST = ["epochs=3", "patience=2", "val_folds=2", "lstm_hidden=8", "fusion=[8]", "user_emb=4", "seq_length=3",
             "batch_size=32"]


def best_factory(encoder, seed):
    from vatrack.models.presets import estimator_from_preset

    return estimator_from_preset("best", encoder=encoder, seed=seed, overrides=TINY_BEST)


def ensemble_factory(encoder, seed):
    """A nested-weights ensemble (weights from an inner CV inside the training rows)."""
    from vatrack.experiments.ensemble import EnsembleRegressor

    members = {m: (lambda m: lambda s: make_model(m, encoder=encoder, seed=s))(m) for m in ("user-mean", "ridge")}
    return EnsembleRegressor(members, seed=seed, mode="cv", inner_folds=2)


# Every shipped path: the contract's estimators plus best (refit + blend) and ensembles.
SHIPPED = {**FACTORIES, "best": best_factory, "ensemble": ensemble_factory}


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
    assert config.refit and config.blend_ridge_user > 0 and config.name == "best"


def test_unknown_method_is_clear():
    from vatrack.errors import VatrackError

    with pytest.raises(VatrackError, match="unknown method"):
        make_model("forest")


def test_user_offsets_shrink_with_few_texts():
    from vatrack.models.baselines import shrunk_user_offsets

    users = pd.Series(["a"] * 2 + ["b"] * 40 + ["c"] * 20)
    rng = np.random.default_rng(0)
    residuals = np.vstack([np.full((2, 2), 1.0), np.full((40, 2), 1.0), rng.normal(0, 1, (20, 2))])
    offsets = shrunk_user_offsets(users, residuals)
    assert 0 < offsets["a"][0] < offsets["b"][0] < 1.0
