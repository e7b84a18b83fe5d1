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


def model_from_preset(preset, *, seed: int = 0, encoder: str | None = None, overrides=(), **params):
    """Any preset (name or YAML path) as a fresh estimator: a method preset (its file declares
    ``method``, e.g. ``finetune``) builds that method with the preset's params; any other is
    the sequence model. ``encoder`` and ``overrides`` ('key=value') change the preset's settings;
    ``params`` go to the sequence model's constructor (val, trainer, run_dir, progress)."""
    from vatrack.models.presets import method_preset

    spec = method_preset(preset, overrides, encoder=encoder)
    if spec is None:
        return make_model("sequence", config=preset, encoder=encoder, seed=seed, overrides=list(overrides), **params)
    return _from_spec(spec, seed, f"preset '{spec.name}'")


def model_from_method(method: str, *, seed: int = 0, encoder: str | None = None, overrides=()):
    """``method`` (e.g. ridge+user) as a fresh estimator with ``encoder`` and ``overrides``
    ('key=value') on its parameters, checked as a method preset's params are."""
    from vatrack.models.presets import MethodPreset, with_params

    spec = with_params(MethodPreset(name=str(method), method=str(method)), overrides, encoder=encoder)
    return _from_spec(spec, seed, f"method '{method}'")


def _from_spec(spec, seed: int, source: str):
    if spec.method not in MODELS or spec.method == "sequence":
        raise VatrackError(f"{source}: unknown method '{spec.method}'; choose one of: "
                           f"{', '.join(m for m in MODELS if m != 'sequence')}")
    if "seed" in spec.params:  # it would be recorded in the run's config.yaml, yet the seed argument wins
        raise VatrackError(f"{source}: the seed is not a preset parameter (got seed: "
                           f"{spec.params['seed']!r}); give it with `seed=N`")
    accepted = set(MODELS[spec.method]._get_param_names())
    unknown = sorted(set(spec.params) - accepted)
    if unknown:
        raise VatrackError(f"{source}: `{spec.method}` has no parameter {', '.join(unknown)}; "
                           f"its parameters: {', '.join(sorted(accepted - {'seed'}))}")
    model = make_model(spec.method, **{**_typed(MODELS[spec.method], spec.params, source), "seed": seed})
    try:
        model.check_params()  # before the caller loads any data
    except VatrackError as err:
        raise VatrackError(f"{source}: {err}") from None
    return model


def _typed(cls, params: dict, source: str) -> dict:
    """YAML 1.1 reads 3e-5 (no dot) as a string and 3 as an int: a float parameter takes both."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
    out = dict(params)
    for key, value in params.items():
        if isinstance(defaults.get(key), float) and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:
                out[key] = float(value)
            except ValueError:
                raise VatrackError(f"{source}: `{key}` must be a number (got {value!r})") from None
    return out


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


__all__ = ["BASELINES", "FORECASTERS", "MODELS", "FineTunedRegressor", "FineTunedRidge", "SequenceRegressor", "clip_to_scale", "load_forecaster", "load_model", "model_from_method",
           "make_forecaster", "make_model", "model_from_preset", "prediction_frame"]
