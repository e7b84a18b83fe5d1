"""Models: baselines, the seed sequence model, forecasters — all behind one contract."""

from vatrack.data import clip_to_scale
from vatrack.errors import VatrackError
from vatrack.models.baselines import BASELINES, prediction_frame
from vatrack.models.bundle import read_meta
from vatrack.models.finetune import FineTunedRegressor, FineTunedRidge
from vatrack.models.forecasters import FORECASTERS, load_forecaster, make_forecaster
from vatrack.models.sequence import SequenceRegressor

MODELS = dict(BASELINES)
MODELS[SequenceRegressor.kind] = SequenceRegressor  # make_model("sequence", config="v3.3", seed=0)
MODELS[FineTunedRegressor.kind] = FineTunedRegressor  # make_model("finetune", encoder="minilm", epochs=3)
MODELS[FineTunedRidge.kind] = FineTunedRidge  # ridge+user on the fine-tuned vectors


def make_model(method: str, **params):
    """A fresh, unfitted subtask-1 estimator by name (see MODELS).

    ``params`` go to the estimator's constructor: ``encoder``, ``seed``, ``max_length`` for
    the baselines; ``config`` (preset name, YAML path, dict or SequenceConfig), ``encoder``,
    ``seed``, ``mode``, ``val``, ``overrides``... for ``"sequence"``.
    """
    if method not in MODELS:
        raise VatrackError(f"unknown method '{method}'; choose one of: {', '.join(MODELS)}")
    return MODELS[method](**params)


def load_model(folder):
    """Load any fitted model from its bundle folder: a subtask-1 estimator or a forecaster."""
    kind = str(read_meta(folder).get("kind", ""))
    if kind.startswith("forecast:"):
        return load_forecaster(folder)
    if kind not in MODELS:
        raise VatrackError(f"{folder}: bundle of unknown model kind '{kind}'; was it written by another vatrack version?")
    try:
        return MODELS[kind].from_bundle(folder)
    except VatrackError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as err:
        # e.g. a state.pkl of another model kind copied into the folder
        raise VatrackError(f"{folder}: the bundle's state does not fit a '{kind}' model ({type(err).__name__}); "
                           "its files do not belong together, retrain the model") from None


__all__ = ["BASELINES", "FORECASTERS", "MODELS", "FineTunedRegressor", "FineTunedRidge", "SequenceRegressor", "clip_to_scale", "load_forecaster", "load_model",
           "make_forecaster", "make_model", "prediction_frame"]
