"""vatrack: track emotional valence and arousal over time from diary texts.

The library in one screen (docs/api.md walks through it)::

    import vatrack

    train = vatrack.load_diary("train_subtask1.csv", require_labels=True)
    model = vatrack.make_model("ridge+user")              # or make_model("sequence", config="v3.3")
    pred = model.fit(train).predict(test_inputs)           # user_id, text_id, pred_valence, pred_arousal
    model.save("bundle"); model = vatrack.load_model("bundle")
    cv = vatrack.run_cv(train, lambda seed: vatrack.make_model("ridge", seed=seed), n_folds=5, seeds=(0,))
    fc = vatrack.make_forecaster("ridge-notext", task="subtask2a").fit(history)

Names are imported on first use, so ``import vatrack`` (and the CLI's start) stays light.
"""

import importlib as _importlib
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("vatrack")
except _metadata.PackageNotFoundError:  # a source tree on sys.path without an installed distribution
    __version__ = "0+unknown"

# public name -> module that defines it
_EXPORTS = {
    "load_diary": "vatrack.data",
    "make_model": "vatrack.models",
    "load_model": "vatrack.models",
    "make_forecaster": "vatrack.models",
    "load_preset": "vatrack.models.presets",
    "run_cv": "vatrack.experiments.cv",
    "subtask1_metrics": "vatrack.evaluation.metrics",
    "VatrackError": "vatrack.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'vatrack' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*(n for n in globals() if not n.startswith("_")), *__all__})
