"""The training loop's unification (issue #11) changed no number.

The figures below were recorded with the code before it (commit 8757db8: SequenceRegressor's
loop in training.trainer.fit_sequence, the sequence forecaster's own Lightning loop in
models/forecasters.py) on synthetic diaries and the tiny local BERT of conftest.py; on the
machine that recorded them the refactored code gave np.array_equal predictions. The
tolerance only absorbs float32 differences between machines: a changed random stream,
split, schedule or best-weight choice moves these sums by orders of magnitude more.
"""

from __future__ import annotations

import numpy as np
import pytest

from vatrack.data import make_official_like
from vatrack.models.forecasters import make_forecaster
from vatrack.models.sequence import SequenceRegressor
from vatrack.protocols import strip_labels

pytestmark = pytest.mark.slow

TINY = {"epochs": 3, "lstm_hidden": 16, "lstm_layers": 1, "fusion": [16], "user_emb": 4, "seq_length": 4, "val_folds": 2}

# name -> (column sums, column sums of squares, first three rows)
BEFORE = {
    "cv": ([58.666052147746086, 255.77422678470612], [27.55383889987285, 273.1921895677399],
           [[0.11349724233150482, 0.9641304016113281], [0.15802745521068573, 0.9155704975128174],
            [0.16945874691009521, 0.9690317511558533]]),
    "refit": ([48.98036287724972, 328.5773528814316], [19.95151043765944, 446.0008871760368],
              [[-0.026434093713760376, 1.4298121929168701], [0.2427147626876831, 1.377662181854248],
               [0.02189815044403076, 1.4139021635055542]]),
    "forecast": ([5.101826831698418, 2.914208121597767], [1.9940524828446613, 1.0542030497820691],
                 [[-0.046571165323257446, 0.25919613242149353], [0.25795555114746094, -0.018743272870779037],
                  [0.25834524631500244, 0.38803109526634216]]),
    # best validation epoch (9) before the last (11): the best weights are restored
    "forecast-best": ([-1.1872741356492043, 1.0849913265556097], [3.2105512207221687, 5.015191267983894],
                      [[-0.5236465334892273, -0.17519399523735046], [-0.38897866010665894, -0.024711910635232925],
                       [0.24899029731750488, 0.8903277516365051]]),
}


def _check(name: str, pred: np.ndarray) -> None:
    sums, squares, first = BEFORE[name]
    np.testing.assert_allclose(pred.sum(axis=0), sums, rtol=0, atol=1e-4)
    np.testing.assert_allclose((pred ** 2).sum(axis=0), squares, rtol=0, atol=1e-4)
    np.testing.assert_allclose(pred[:3], first, rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def split():
    return make_official_like(n_users=24, seed=0)


@pytest.mark.parametrize("name", ["cv", "refit"])
def test_sequence_model_predictions_are_those_of_the_old_loop(split, tiny_bert_dir, name):
    train, test = split
    model = SequenceRegressor(encoder=str(tiny_bert_dir), val="cv", seed=0,
                              overrides={**TINY, "refit": name == "refit"}).fit(train)
    assert model.fit_info["epochs_run"] == 3 and model.fit_info["best_epoch"] == 1
    assert model.fit_info.get("refit_epochs") == (1 if name == "refit" else None)
    _check(name, model.predict(strip_labels(test))[["pred_valence", "pred_arousal"]].to_numpy())


@pytest.mark.parametrize("name", ["forecast", "forecast-best"])
def test_sequence_forecaster_predictions_are_those_of_the_old_loop(split, tiny_bert_dir, name):
    train, _ = split
    options = {"seq_length": 4, "lstm_hidden": 16, "lstm_layers": 1, "fusion": [16], "epochs": 3}
    seed, expected = 0, {"epochs_run": 3, "best_epoch": 2, "best_val_loss": 0.7659707069396973}
    if name == "forecast-best":
        options.update(epochs=12, patience=2, lr=3e-3)
        seed, expected = 1, {"epochs_run": 12, "best_epoch": 9, "best_val_loss": 0.606277585029602}
    fc = make_forecaster("sequence", task="subtask2a", encoder=str(tiny_bert_dir), seed=seed, **options).fit(train)
    info = fc.state["fit_info"]
    assert (info["epochs_run"], info["best_epoch"]) == (expected["epochs_run"], expected["best_epoch"])
    assert info["best_val_loss"] == pytest.approx(expected["best_val_loss"], abs=1e-5)
    _check(name, fc.predict(train).iloc[:, 1:].to_numpy())
