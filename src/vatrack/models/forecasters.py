"""Forecasters for subtask 2A (state change) and 2B (disposition change).

Contract (every method below)::

    fc = make_forecaster("ridge", task="subtask2a", encoder="minilm", seed=0)
    fc.fit(history)              # labelled diary rows of any users; instances built inside
    pred = fc.predict(history)   # one row per user: forecast after the user's whole history
    fc.save(folder); fc = load_forecaster(folder)   # identical predictions

``history`` is a diary frame with valence and arousal on every row (they are the observed
inputs here). Only the columns of :data:`vatrack.protocols.forecasting.HISTORY_COLUMNS`
are read, so a file's own state_change_* / disposition_change_* / group columns — derived
from later rows — can never leak in. ``predict`` returns ``user_id`` and the task's
official ``pred_`` columns. A prediction is clipped so that the implied future value
stays on the label scale (2A: last + change, 2B: observed mean + change).

Methods:

* ``zero`` — no change.
* ``linear-prev`` — the organisers' baseline as they define it: −last value (2A),
  −observed mean (2B). Its r is what the leaderboard quotes; its MAE is poor by design
  (it forecasts a future value of 0).
* ``linear-prev-fit`` — the same single predictor with slope and intercept fitted by least
  squares on the training instances: identical r (up to sign), calibrated MAE.
* ``mean-reversion`` — β·(shrunk user mean − reference), the reference being the last value
  (2A) or the observed mean (2B); the user mean is shrunk toward the population mean with
  ``k`` pseudo-texts; β and k fitted per dimension on the training instances.
* ``ridge`` — ridge regression on the history features below plus the text vectors of the
  last entries; alpha per dimension by cross-validation with whole users held out.
* ``ridge-notext`` — the same without text vectors.
* ``gbm`` — gradient-boosted trees on the history features and a PCA of the text vectors.
* ``sequence`` — the seed's architecture with a forecasting head: the last entries of the
  prefix (text vector, V/A, time) through a BiLSTM and self-attention, fused with the
  history features, trained on the change itself with the weighted CCC+MSE loss via
  Lightning (see the section at the end).

Training instances come from vatrack.protocols.forecasting (2A: every prefix; 2B: every
prefix with an equally long next segment). Long diaries give many more instances than short
ones while the official score counts each user once, so instances are weighted
``1 / m_u ** user_weight_power`` (m_u = the user's instance count; power 0.5 by default, a
compromise between "every instance" and "every user" chosen under forecasting CV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vatrack.data.schema import LABELS, SCALES
from vatrack.errors import VatrackError
from vatrack.models.baselines import shrinkage_k
from vatrack.models.bundle import load_state, read_meta, save_bundle
from vatrack.protocols.forecasting import (
    PREDICTION_COLUMNS,
    check_forecast_task,
    forecast_queries,
    history_view,
    training_instances,
    user_blocks,
)

# --- history features ----------------------------------------------------------------------

_PER_DIM = ("last", "lag2", "lag3", "mean", "std", "recent3", "ewm", "slope7", "rev_last", "rev_mean")
NUMERIC_FEATURES = (
    *[f"{name}_{dim}" for dim in LABELS for name in _PER_DIM],
    "log_n", "inv_n", "log_last_gap_h", "log_mean_gap_h", "log_span_days",
    "phase_last", "phase_known", "words_last", "words_share",
)
TEXT_LAST = 3  # text features: the last entry's vector and the mean over the last 3 entries
_SLOPE_WINDOW = 7
_EWM_DECAY = 0.5


@dataclass(frozen=True)
class FeatureContext:
    """Population figures fitted on training rows: prior mean (V, A) and shrinkage pseudo-count k."""

    prior_mean: np.ndarray
    prior_k: np.ndarray


def fit_context(history: pd.DataFrame) -> FeatureContext:
    """Prior mean = mean of user means (each user counts once, like the official score);
    k = within / between user variance, as the subtask-1 user-mean baseline uses."""
    values = history[list(LABELS)].to_numpy(dtype=float)
    user_means = pd.DataFrame(values, columns=list(LABELS)).groupby(history["user_id"].to_numpy()).mean()
    return FeatureContext(prior_mean=user_means.to_numpy().mean(axis=0), prior_k=shrinkage_k(history["user_id"], values))


def _prefix_features(y: np.ndarray, hours: np.ndarray, phase: np.ndarray, words: np.ndarray, ctx: FeatureContext) -> list[float]:
    """NUMERIC_FEATURES of one observed prefix (arrays hold the prefix rows only)."""
    t = len(y)
    mean = y.mean(axis=0)
    last = y[-1]
    lag2 = y[-2] if t >= 2 else mean
    lag3 = y[-3] if t >= 3 else mean
    weights = _EWM_DECAY ** np.arange(t - 1, -1, -1)
    ewm = weights @ y / weights.sum()
    window = y[-_SLOPE_WINDOW:]
    if len(window) >= 2:
        x = np.arange(len(window)) - (len(window) - 1) / 2
        slope = x @ (window - window.mean(axis=0)) / (x @ x)
    else:
        slope = np.zeros(2)
    shrunk = (t * mean + ctx.prior_k * ctx.prior_mean) / (t + ctx.prior_k)
    per_dim = np.stack([last, lag2, lag3, mean, y.std(axis=0), y[-3:].mean(axis=0), ewm, slope,
                        shrunk - last, shrunk - mean])  # (len(_PER_DIM), 2)
    gaps = np.diff(hours)
    known_phase = phase[~np.isnan(phase)]
    return [
        *per_dim[:, 0], *per_dim[:, 1],
        math.log1p(t), 1.0 / t,
        math.log1p(max(gaps[-1], 0.0)) if t >= 2 else 0.0,
        math.log1p(max(gaps.mean(), 0.0)) if t >= 2 else 0.0,
        math.log1p(max(hours[-1] - hours[0], 0.0) / 24.0),
        0.0 if np.isnan(phase[-1]) else phase[-1],
        1.0 if len(known_phase) else 0.0,
        float(words[-1]), float(words.mean()),
    ]


def _row_arrays(history: pd.DataFrame):
    hours = history["timestamp"].astype("int64").to_numpy() / 3.6e12
    phase = pd.to_numeric(history["collection_phase"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    words = history["is_words"].fillna(False).to_numpy(dtype=float)
    return history[list(LABELS)].to_numpy(dtype=float), hours, phase, words


def history_features(history: pd.DataFrame, instances: pd.DataFrame, ctx: FeatureContext) -> np.ndarray:
    """(n_instances, len(NUMERIC_FEATURES)); instance i reads rows start .. start+prefix_len−1 only."""
    y, hours, phase, words = _row_arrays(history)
    out = np.empty((len(instances), len(NUMERIC_FEATURES)))
    for i, (start, t) in enumerate(zip(instances["start"].to_numpy(), instances["prefix_len"].to_numpy())):
        rows = slice(start, start + t)
        out[i] = _prefix_features(y[rows], hours[rows], phase[rows], words[rows], ctx)
    return out


def text_features(vectors: np.ndarray, instances: pd.DataFrame) -> np.ndarray:
    """[vector of the last observed entry, mean vector of the last TEXT_LAST entries]."""
    start, t = instances["start"].to_numpy(), instances["prefix_len"].to_numpy()
    end = start + t
    last = vectors[end - 1]
    recent = np.stack([vectors[max(s, e - TEXT_LAST):e].mean(axis=0) for s, e in zip(start, end)]) if len(end) else last
    return np.hstack([last, recent]).astype(np.float64)


def reference_values(history: pd.DataFrame, instances: pd.DataFrame, task: str) -> np.ndarray:
    """The value the change is measured from: last observed (2A) or observed mean (2B)."""
    y = history[list(LABELS)].to_numpy(dtype=float)
    start, t = instances["start"].to_numpy(), instances["prefix_len"].to_numpy()
    if task == "subtask2a":
        return y[start + t - 1]
    return np.stack([y[s:s + n].mean(axis=0) for s, n in zip(start, t)]) if len(t) else np.zeros((0, 2))


def clip_change(change: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Finite changes whose implied future value (reference + change) lies on the label scale."""
    out = np.nan_to_num(np.asarray(change, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    for j, label in enumerate(LABELS):
        low, high = SCALES[label]
        out[:, j] = np.clip(out[:, j], low - reference[:, j], high - reference[:, j])
    return out


def instance_weights(instances: pd.DataFrame, power: float) -> np.ndarray:
    """1 / m_u ** power, normalised to mean 1 (m_u = instances of the instance's user)."""
    counts = instances.groupby("user_id")["user_id"].transform("size").to_numpy(dtype=float)
    w = counts ** -float(power)
    return w / w.mean()


# --- the shared base class ------------------------------------------------------------------


class Forecaster:
    """fit / predict / save for one task; subclasses implement ``_fit`` and ``_predict``."""

    kind = "base"
    uses_text = False

    def __init__(self, task: str, encoder: str = "minilm", seed: int = 0, max_length: int = 128,
                 user_weight_power: float = 0.5, **options):
        self.task = check_forecast_task(task)
        self.encoder, self.seed, self.max_length = encoder, int(seed), int(max_length)
        self.user_weight_power = float(user_weight_power)
        self.options = dict(options)
        self.state: dict = {}

    def params(self) -> dict:
        return {"task": self.task, "encoder": self.encoder, "seed": self.seed, "max_length": self.max_length,
                "user_weight_power": self.user_weight_power, **self.options}

    # text vectors come from the cached encoder; only methods that read text ask for them
    def _vectors(self, history: pd.DataFrame) -> np.ndarray | None:
        if not self.uses_text:
            return None
        from vatrack.encoders import get_encoder

        return get_encoder(self.encoder, max_length=self.max_length).encode(history["text"].tolist())

    def fit(self, history: pd.DataFrame) -> Forecaster:
        history = history_view(history, "training history")
        instances = training_instances(history, self.task)
        if len(instances) < 2:
            raise VatrackError(f"{self.task}: the training history yields {len(instances)} forecasting instance(s); "
                               "it needs users with at least 2 texts (2B: 2 texts per user give one instance)")
        self.state = {"context": fit_context(history)}
        y = instances[["target_valence", "target_arousal"]].to_numpy(dtype=float)
        self._fit(history, instances, y, instance_weights(instances, self.user_weight_power), self._vectors(history))
        return self

    def predict_instances(self, history: pd.DataFrame, instances: pd.DataFrame) -> np.ndarray:
        """Clipped changes (n, 2) for instances over ``history`` (a :func:`history_view` frame)."""
        if not self.state:
            raise VatrackError(f"forecaster '{self.kind}' is not fitted; call fit() or load a saved one")
        raw = self._predict(history, instances, self._vectors(history))
        return clip_change(raw, reference_values(history, instances, self.task))

    def predict(self, history: pd.DataFrame) -> pd.DataFrame:
        history = history_view(history, "history to forecast from")
        queries = forecast_queries(history)
        change = self.predict_instances(history, queries)
        cols = PREDICTION_COLUMNS[self.task]
        return pd.DataFrame({"user_id": queries["user_id"].to_numpy(), cols[0]: change[:, 0], cols[1]: change[:, 1]})

    def _fit(self, history, instances, y, w, vectors) -> None:
        raise NotImplementedError

    def _predict(self, history, instances, vectors) -> np.ndarray:
        raise NotImplementedError

    def save(self, folder) -> None:
        save_bundle(folder, f"forecast:{self.kind}", {"params": self.params(), "state": self._state_to_save()},
                    meta={"task": self.task, "method": self.kind})

    def _state_to_save(self) -> dict:
        return self.state

    @classmethod
    def from_bundle(cls, folder) -> Forecaster:
        saved = load_state(folder)
        model = cls(**saved["params"])
        model._load_state(saved["state"])
        return model

    def _load_state(self, state: dict) -> None:
        self.state = state


def _features(model: Forecaster, history, instances) -> np.ndarray:
    return history_features(history, instances, model.state["context"])


# --- baselines ------------------------------------------------------------------------------


class ZeroForecaster(Forecaster):
    kind = "zero"

    def _fit(self, history, instances, y, w, vectors):
        pass

    def _predict(self, history, instances, vectors):
        return np.zeros((len(instances), 2))


class LinearPrevForecaster(Forecaster):
    """−reference: the organisers' linear(prev), no parameters."""

    kind = "linear-prev"

    def _fit(self, history, instances, y, w, vectors):
        pass

    def _predict(self, history, instances, vectors):
        return -reference_values(history, instances, self.task)


class LinearPrevFitForecaster(Forecaster):
    """a + b · reference per dimension, weighted least squares on the training instances."""

    kind = "linear-prev-fit"

    def _fit(self, history, instances, y, w, vectors):
        ref = reference_values(history, instances, self.task)
        coef = []
        for j in range(2):
            design = np.column_stack([np.ones(len(ref)), ref[:, j]]) * np.sqrt(w)[:, None]
            coef.append(np.linalg.lstsq(design, y[:, j] * np.sqrt(w), rcond=None)[0])
        self.state["coef"] = np.array(coef)  # (2 dims, [intercept, slope])

    def _predict(self, history, instances, vectors):
        ref = reference_values(history, instances, self.task)
        coef = self.state["coef"]
        return coef[:, 0] + coef[:, 1] * ref


class MeanReversionForecaster(Forecaster):
    """β · (shrunk user mean − reference); k (pseudo-texts of the prior) and β fitted per dimension."""

    kind = "mean-reversion"
    K_GRID = np.geomspace(0.25, 200, 28)

    def _gap(self, history, instances, k: np.ndarray) -> np.ndarray:
        y = history[list(LABELS)].to_numpy(dtype=float)
        start, t = instances["start"].to_numpy(), instances["prefix_len"].to_numpy()
        means = np.stack([y[s:s + n].mean(axis=0) for s, n in zip(start, t)])
        prior = self.state["context"].prior_mean
        shrunk = (t[:, None] * means + k * prior) / (t[:, None] + k)
        return shrunk - reference_values(history, instances, self.task)

    def _fit(self, history, instances, y, w, vectors):
        best = [(np.inf, 1.0, 0.0)] * 2
        for k in self.K_GRID:
            gap = self._gap(history, instances, np.full(2, k))
            for j in range(2):
                denom = np.sum(w * gap[:, j] ** 2)
                beta = float(np.sum(w * gap[:, j] * y[:, j]) / denom) if denom > 0 else 0.0
                loss = float(np.sum(w * (y[:, j] - beta * gap[:, j]) ** 2))
                if loss < best[j][0]:
                    best[j] = (loss, k, beta)
        self.state["k"] = np.array([b[1] for b in best])
        self.state["beta"] = np.array([b[2] for b in best])

    def _predict(self, history, instances, vectors):
        return self.state["beta"] * self._gap(history, instances, self.state["k"])


# --- learned models on history features -----------------------------------------------------

RIDGE_ALPHAS = np.logspace(-1, 5, 13)


def _user_folds(instances: pd.DataFrame, n_splits: int = 5):
    from sklearn.model_selection import GroupKFold

    groups = instances["user_id"].to_numpy()
    n_splits = min(n_splits, len(np.unique(groups)))
    return list(GroupKFold(n_splits=n_splits).split(np.zeros(len(groups)), groups=groups))


def _ridge_alpha_by_user_cv(x: np.ndarray, y: np.ndarray, w: np.ndarray, folds) -> np.ndarray:
    """Per-target alpha minimising weighted out-of-fold MSE with whole users held out.

    Instances of one user overlap heavily (nested prefixes), so the usual leave-one-out CV
    would see near-copies of each held-out instance and pick far too little regularisation.
    """
    from sklearn.linear_model import Ridge

    errors = np.zeros((len(RIDGE_ALPHAS), y.shape[1]))
    for fit_idx, held_idx in folds:
        for a, alpha in enumerate(RIDGE_ALPHAS):
            pred = Ridge(alpha=alpha).fit(x[fit_idx], y[fit_idx], sample_weight=w[fit_idx]).predict(x[held_idx])
            errors[a] += (w[held_idx, None] * (y[held_idx] - pred) ** 2).sum(axis=0)
    return RIDGE_ALPHAS[errors.argmin(axis=0)]


class RidgeForecaster(Forecaster):
    """Standardised history features (+ text vectors scaled by ``text_weight``) -> ridge per dimension."""

    kind = "ridge"
    uses_text = True

    def _design(self, history, instances, vectors, fit: bool = False) -> np.ndarray:
        from sklearn.preprocessing import StandardScaler

        numeric = _features(self, history, instances)
        if fit:
            self.state["scaler"] = StandardScaler().fit(numeric)
        blocks = [self.state["scaler"].transform(numeric)]
        if self.uses_text:
            text = text_features(vectors, instances)
            if fit:
                self.state["text_mean"] = text.mean(axis=0)
                self.state["text_scale"] = float(self.options.get("text_weight", 1.0)) / max(float(text.std(axis=0).mean()), 1e-8)
            blocks.append((text - self.state["text_mean"]) * self.state["text_scale"])
        return np.hstack(blocks)

    def _fit(self, history, instances, y, w, vectors):
        from sklearn.linear_model import Ridge

        x = self._design(history, instances, vectors, fit=True)
        alpha = _ridge_alpha_by_user_cv(x, y, w, _user_folds(instances))
        self.state["alpha"] = alpha
        self.state["ridge"] = Ridge(alpha=alpha).fit(x, y, sample_weight=w)

    def _predict(self, history, instances, vectors):
        return self.state["ridge"].predict(self._design(history, instances, vectors))


class RidgeNoTextForecaster(RidgeForecaster):
    kind = "ridge-notext"
    uses_text = False


class GBMForecaster(Forecaster):
    """Histogram gradient boosting per dimension on history features + a PCA of the text block."""

    kind = "gbm"
    uses_text = True
    N_COMPONENTS = 16

    def _design(self, history, instances, vectors, fit: bool = False) -> np.ndarray:
        from sklearn.decomposition import PCA

        text = text_features(vectors, instances)
        if fit:
            self.state["pca"] = PCA(n_components=min(self.N_COMPONENTS, *text.shape), random_state=self.seed).fit(text)
        return np.hstack([_features(self, history, instances), self.state["pca"].transform(text)])

    def _fit(self, history, instances, y, w, vectors):
        from sklearn.ensemble import HistGradientBoostingRegressor

        x = self._design(history, instances, vectors, fit=True)
        # Shallow, slow and strongly regularised: a few thousand correlated instances.
        self.state["trees"] = [
            HistGradientBoostingRegressor(learning_rate=0.03, max_iter=250, max_leaf_nodes=8, min_samples_leaf=40,
                                          l2_regularization=1.0, random_state=self.seed).fit(x, y[:, j], sample_weight=w)
            for j in range(2)
        ]

    def _predict(self, history, instances, vectors):
        x = self._design(history, instances, vectors)
        return np.column_stack([tree.predict(x) for tree in self.state["trees"]])


# --- registry -------------------------------------------------------------------------------

FORECASTERS = {cls.kind: cls for cls in (ZeroForecaster, LinearPrevForecaster, LinearPrevFitForecaster,
                                          MeanReversionForecaster, RidgeNoTextForecaster, RidgeForecaster, GBMForecaster)}


def make_forecaster(method: str, task: str, **params) -> Forecaster:
    """A fresh, unfitted forecaster by name (see FORECASTERS)."""
    if method not in FORECASTERS:
        raise VatrackError(f"unknown forecasting method '{method}'; choose one of: {', '.join(FORECASTERS)}")
    return FORECASTERS[method](task=task, **params)


def load_forecaster(folder) -> Forecaster:
    """Load a fitted forecaster from the bundle folder ``save`` wrote."""
    kind = str(read_meta(folder).get("kind", ""))
    method = kind.removeprefix("forecast:")
    if not kind.startswith("forecast:") or method not in FORECASTERS:
        raise VatrackError(f"{folder}: not a forecaster bundle (kind '{kind}'); pass a folder written by a forecaster's save()")
    return FORECASTERS[method].from_bundle(folder)
