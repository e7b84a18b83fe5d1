"""Models: baselines, the seed sequence model, forecasters — all behind one contract."""

from vatrack.data import clip_to_scale
from vatrack.errors import VatrackError
from vatrack.models.baselines import BASELINES, prediction_frame
from vatrack.models.bundle import read_meta
from vatrack.models.sequence import SequenceRegressor

MODELS = dict(BASELINES)
MODELS[SequenceRegressor.kind] = SequenceRegressor  # make_model("sequence", config="v3.3", seed=0)


def make_model(method: str, **params):
    """A fresh, unfitted estimator by name (see MODELS)."""
    if method not in MODELS:
        raise VatrackError(f"unknown method '{method}'; choose one of: {', '.join(MODELS)}")
    return MODELS[method](**params)


def load_model(folder):
    """Load any fitted estimator from its bundle folder."""
    kind = read_meta(folder)["kind"]
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


__all__ = ["BASELINES", "MODELS", "SequenceRegressor", "clip_to_scale", "load_model", "make_model", "prediction_frame"]
