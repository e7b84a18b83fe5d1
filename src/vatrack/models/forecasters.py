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
``1 / m_u ** user_weight_power`` (m_u = the user's instance count). The default 0.5 sits
between "every instance counts" (0) and "every user counts once" (1); chosen on development
seeds, and on the confirmation seeds 1000-1002 (benchmarks/forecast_variants.py --confirm,
docs/results.md) the choice moves the defaults' mean r by at most 0.003 (2A ridge-notext,
2B mean-reversion); only ridge on 2B is sensitive (0: +0.036, 0.5: +0.027, 1: +0.017 over
linear(prev), all within each other's intervals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
from sklearn.base import BaseEstimator

from vatrack.data.schema import LABELS, SCALES
from vatrack.errors import VatrackError
from vatrack.features import diary_frame
from vatrack.models.baselines import RIDGE_ALPHAS, shrinkage_k
from vatrack.models.bundle import load_state, read_meta, save_bundle
from vatrack.protocols import grouped_folds, grouped_oof
from vatrack.protocols.forecasting import (
    PREDICTION_COLUMNS,
    check_forecast_task,
    forecast_queries,
    history_view,
    training_instances,
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


class Forecaster(BaseEstimator):
    """fit / predict / save for one task; subclasses implement ``_fit`` and ``_predict``.

    Parameters (scikit-learn style: ``get_params`` / ``set_params``, ``sklearn.base.clone``):

    task : "subtask2a" or "subtask2b"
    encoder : str
        Text encoder for the methods that read text (ridge, gbm, sequence).
    seed : int
        Seed of the methods with randomness (gbm, sequence).
    max_length : int
        Token limit of the encoder.
    user_weight_power : float
        Instance weights ``1 / m_u ** power`` (module docstring).
    **options
        The method's own options (``option_defaults``), e.g. ``text_weight`` for ridge.

    ``fit(history)`` takes any DataFrame with user_id, timestamp, valence and arousal on
    every row (text_id, text, is_words, collection_phase optional); ``predict(history)``
    returns one row per user: user_id and the task's official ``pred_`` columns.
    """

    kind = "base"
    uses_text = False
    option_defaults: dict = {}  # method-specific options (keyword arguments) and their defaults

    def __init__(self, task: str, encoder: str = "minilm", seed: int = 0, max_length: int = 128,
                 user_weight_power: float = 0.5, **options):
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            known = ", ".join(self.option_defaults) or "none"
            raise VatrackError(f"forecasting method '{self.kind}': unknown option(s) {', '.join(unknown)}; its options: {known}")
        self.task = check_forecast_task(task)
        self.encoder, self.seed, self.max_length = encoder, int(seed), int(max_length)
        self.user_weight_power = float(user_weight_power)
        self.options = {**self.option_defaults, **options}
        self.state: dict = {}

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, the method's options included."""
        return {"task": self.task, "encoder": self.encoder, "seed": self.seed, "max_length": self.max_length,
                "user_weight_power": self.user_weight_power, **self.options}

    def set_params(self, **params) -> Forecaster:
        """Change constructor arguments (checked as the constructor checks them); returns self."""
        configured = type(self)(**{**self.get_params(), **params})
        self.__dict__.update({k: v for k, v in vars(configured).items() if k not in ("state", "net")})
        return self

    # text vectors come from the cached encoder; only methods that read text ask for them
    def _vectors(self, history: pd.DataFrame) -> np.ndarray | None:
        if not self.uses_text:
            return None
        from vatrack.encoders import get_encoder

        return get_encoder(self.encoder, max_length=self.max_length).encode(history["text"].tolist())

    def fit(self, history: pd.DataFrame) -> Forecaster:
        """Learn from labelled diary rows of any users (training instances are built inside)."""
        history = history_view(diary_frame(history, "history", required=()), "training history")
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
        """Per user of ``history``: the forecast change after the user's last row."""
        history = history_view(diary_frame(history, "history", required=()), "history to forecast from")
        queries = forecast_queries(history)
        change = self.predict_instances(history, queries)
        cols = PREDICTION_COLUMNS[self.task]
        return pd.DataFrame({"user_id": queries["user_id"].to_numpy(), cols[0]: change[:, 0], cols[1]: change[:, 1]})

    def _fit(self, history, instances, y, w, vectors) -> None:
        raise NotImplementedError

    def _predict(self, history, instances, vectors) -> np.ndarray:
        raise NotImplementedError

    def save(self, folder) -> None:
        """Write the fitted forecaster as a bundle folder (read back by ``vatrack.load_model``)."""
        save_bundle(folder, f"forecast:{self.kind}", {"params": self.get_params(), "state": self._state_to_save()},
                    meta={"task": self.task, "method": self.kind})

    def _state_to_save(self) -> dict:
        return self.state

    @classmethod
    def from_bundle(cls, folder) -> Forecaster:
        """The fitted forecaster saved in ``folder``."""
        saved = load_state(folder, keys=("params", "state"))
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

def single_threaded():
    """BLAS / OpenMP limited to one thread for these small problems.

    A few thousand rows give threads too little work: on a busy 2-core machine the
    gradient-boosting fit took 72 s with OpenMP threads and 5 s without, and a 800x800
    eigendecomposition 7 s instead of 0.5 s.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def ridge_path(x: np.ndarray, y: np.ndarray, w: np.ndarray, alphas) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ridge with an unpenalised intercept for every alpha from one SVD.

    Minimises sum_i w_i (y_i - b - x_i·beta)^2 + alpha·|beta|^2 (what sklearn's Ridge does
    with sample weights). Returns coefficients (n_alphas, p, k) and intercepts (n_alphas, k).
    One eigendecomposition of the weighted Gram matrix serves all alphas, which makes the
    user-grouped alpha search cheap.
    """
    share = w / w.sum()
    x_mean, y_mean = share @ x, share @ y
    xc = x - x_mean
    gram = xc.T @ (xc * w[:, None])
    eigval, eigvec = scipy.linalg.eigh(gram, driver="evd")
    projected = eigvec.T @ (xc.T @ ((y - y_mean) * w[:, None]))
    eigval = np.clip(eigval, 0.0, None)  # round-off can leave tiny negatives
    coefs = np.stack([eigvec @ (projected / (eigval + alpha)[:, None]) for alpha in alphas])
    return coefs, y_mean - np.einsum("p,apk->ak", x_mean, coefs)


class RidgePath(BaseEstimator):
    """Weighted ridge for every alpha of ``alphas`` at once (:func:`ridge_path`), as an estimator:
    ``predict`` gives (n, n_alphas, k), which the grouped out-of-fold helper fills per fold."""

    def __init__(self, alphas=RIDGE_ALPHAS):
        self.alphas = alphas

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray) -> "RidgePath":
        self.coefs_, self.intercepts_ = ridge_path(x, y, sample_weight, self.alphas)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        pred = np.einsum("np,apk->ank", x, self.coefs_) + self.intercepts_[:, None, :]
        return pred.transpose(1, 0, 2)


def ridge_alpha_by_user_cv(x: np.ndarray, y: np.ndarray, w: np.ndarray, groups, alphas=RIDGE_ALPHAS) -> np.ndarray:
    """Per-target alpha minimising weighted out-of-fold MSE with whole users held out.

    Instances of one user overlap heavily (nested prefixes), so the usual leave-one-out CV
    would see near-copies of each held-out instance and pick far too little regularisation.
    """
    oof = grouped_oof(RidgePath(alphas), x, y, groups, sample_weight=w)   # (n, n_alphas, k)
    errors = np.zeros((len(alphas), y.shape[1]))
    for _, held_idx in grouped_folds(groups):   # summed fold by fold, as the alpha search always did
        errors += (w[held_idx, None, None] * (y[held_idx, None, :] - oof[held_idx]) ** 2).sum(axis=0)
    return np.asarray(alphas)[errors.argmin(axis=0)]


# Each text dimension's spread relative to a standardised history feature. 768 text
# dimensions at full weight swamp the 29 history features (forecasting CV on the task data:
# r fell by 0.01-0.06); at 0.05-0.15 they add at most ~0.005 on 2A and cost a little on 2B
# (chosen on development seeds). On the confirmation seeds 1000-1002 (benchmarks/
# forecast_variants.py --confirm): 0.03 and 0.1 tie (2A +0.043 / +0.042, 2B +0.026 / +0.023
# over linear(prev)), 0.3 is worse (2A +0.032, 2B +0.002); ridge with text never beats
# ridge-notext, which is why neither forecast default reads text.
TEXT_WEIGHT = 0.1


class RidgeForecaster(Forecaster):
    """Standardised history features (+ text vectors scaled by ``text_weight``) -> ridge per dimension."""

    kind = "ridge"
    uses_text = True
    option_defaults = {"text_weight": TEXT_WEIGHT}

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
                self.state["text_scale"] = float(self.options["text_weight"]) / max(float(text.std(axis=0).mean()), 1e-8)
            blocks.append((text - self.state["text_mean"]) * self.state["text_scale"])
        return np.hstack(blocks)

    def _fit(self, history, instances, y, w, vectors):
        x = self._design(history, instances, vectors, fit=True)
        with single_threaded():
            alpha = ridge_alpha_by_user_cv(x, y, w, instances["user_id"].to_numpy())
            coef = np.empty((x.shape[1], 2))
            intercept = np.empty(2)
            for j in range(2):  # one alpha per dimension
                c, b = ridge_path(x, y[:, [j]], w, [alpha[j]])
                coef[:, j], intercept[j] = c[0, :, 0], b[0, 0]
        self.state.update(alpha=alpha, coef=coef, intercept=intercept)

    def _predict(self, history, instances, vectors):
        return self._design(history, instances, vectors) @ self.state["coef"] + self.state["intercept"]


class RidgeNoTextForecaster(RidgeForecaster):
    kind = "ridge-notext"
    uses_text = False
    option_defaults = {}


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
        with single_threaded():
            self.state["trees"] = [
                HistGradientBoostingRegressor(learning_rate=0.03, max_iter=250, max_leaf_nodes=8, min_samples_leaf=40,
                                              l2_regularization=1.0, random_state=self.seed).fit(x, y[:, j], sample_weight=w)
                for j in range(2)
            ]

    def _predict(self, history, instances, vectors):
        x = self._design(history, instances, vectors)
        with single_threaded():
            return np.column_stack([tree.predict(x) for tree in self.state["trees"]])


# --- the sequence forecaster ----------------------------------------------------------------
#
# The seed's network (vatrack.models.sequence.SeqNet: input projection -> BiLSTM ->
# multi-head self-attention -> last step -> fusion MLP -> valence and arousal heads) fed
# with a forecasting window: the last ``seq_length`` observed entries of the prefix, each
# step = [text vector, step features, the instance's history features repeated]. Its heads
# predict the change itself (standardised with the training targets' mean and std), trained
# with the seed's per-dimension weighted CCC + MSE loss (vatrack.training.module.RegressionModule)
# through the training layer's loop (vatrack.training.fit_module): AdamW, cosine schedule with
# warmup, gradient clipping, early stopping on the loss of held-out training users, best
# checkpoint kept. No user embedding: the history features carry the
# user, and a forecast user's vocabulary slot would only be trained on their own prefix.
# Sizes are smaller than the seed's subtask-1 presets because there are only a few thousand
# (heavily overlapping) instances; every size is an option.

STEP_FEATURES = ("valence", "arousal", "log_gap_h", "is_words", "phase", "steps_from_end")
SEQUENCE_DEFAULTS = {
    "seq_length": 7, "lstm_hidden": 64, "lstm_layers": 1, "attn_heads": 4, "fusion": [128, 64], "dropout": 0.3,
    "epochs": 40, "patience": 6, "batch_size": 32, "lr": 5e-4, "weight_decay": 0.01, "warmup": 0.1,
    "grad_clip": 1.0, "ccc_weight_valence": 0.65, "ccc_weight_arousal": 0.75, "val_share": 0.15,
}


def sequence_windows(history: pd.DataFrame, instances: pd.DataFrame, vectors: np.ndarray, seq_length: int,
                     label_mean: np.ndarray, label_std: np.ndarray):
    """(text (n, W, D), step features (n, W, len(STEP_FEATURES)), valid (n, W)); left-padded.

    Instance i reads its prefix rows only: the window ends at row start + prefix_len − 1.
    """
    y, hours, phase, words = _row_arrays(history)
    n, w = len(instances), seq_length
    text = np.zeros((n, w, vectors.shape[1]), dtype=np.float32)
    steps = np.zeros((n, w, len(STEP_FEATURES)), dtype=np.float32)
    valid = np.zeros((n, w), dtype=bool)
    for i, (start, t) in enumerate(zip(instances["start"].to_numpy(), instances["prefix_len"].to_numpy())):
        end = start + t
        rows = np.arange(max(start, end - w), end)
        k = len(rows)
        gap = np.zeros(k)
        previous = rows - 1
        has_previous = previous >= start
        gap[has_previous] = hours[rows[has_previous]] - hours[previous[has_previous]]
        text[i, w - k:] = vectors[rows]
        steps[i, w - k:] = np.column_stack([
            (y[rows] - label_mean) / label_std,
            np.log1p(np.clip(gap, 0.0, None)),
            words[rows],
            np.nan_to_num(phase[rows], nan=0.0),
            (k - 1 - np.arange(k)) / w,
        ])
        valid[i, w - k:] = True
    return text, steps, valid


class SequenceForecaster(Forecaster):
    kind = "sequence"
    uses_text = True
    option_defaults = SEQUENCE_DEFAULTS

    def __init__(self, task: str, **params):
        super().__init__(task, **params)
        self.settings = {**SEQUENCE_DEFAULTS, **self.options}
        self.net = None

    def _net_config(self):
        from pydantic import ValidationError

        from vatrack.models.presets import NetConfig, config_error

        s = self.settings
        try:
            return NetConfig(user_emb=0, lstm_hidden=int(s["lstm_hidden"]), lstm_layers=int(s["lstm_layers"]),
                             attn_heads=int(s["attn_heads"]), fusion=[int(v) for v in s["fusion"]],
                             dropout=float(s["dropout"]))
        except ValidationError as err:
            raise config_error(err, "sequence forecaster") from None

    def _build_net(self):
        from vatrack.models.sequence import SeqNet

        st = self.state
        return SeqNet(self._net_config(), text_dim=st["text_dim"], n_numeric=len(STEP_FEATURES) + len(NUMERIC_FEATURES),
                      n_users=0, label_mean=st["target_mean"], label_std=st["target_std"])

    def _batch(self, history, instances, vectors) -> dict:
        import torch

        st = self.state
        text, steps, valid = sequence_windows(history, instances, vectors, int(self.settings["seq_length"]),
                                              st["label_mean"], st["label_std"])
        numeric = st["scaler"].transform(_features(self, history, instances)).astype(np.float32)
        num = np.concatenate([steps, np.repeat(numeric[:, None, :], steps.shape[1], axis=1)], axis=2)
        num *= valid[:, :, None]  # padding steps stay exactly zero
        return {"text": torch.from_numpy(text), "num": torch.from_numpy(num), "valid": torch.from_numpy(valid)}

    def _fit(self, history, instances, y, w, vectors):
        import torch
        from sklearn.preprocessing import StandardScaler

        labels = history[list(LABELS)].to_numpy(dtype=float)
        self.state.update(
            text_dim=int(vectors.shape[1]),
            label_mean=labels.mean(axis=0), label_std=np.maximum(labels.std(axis=0), 1e-6),
            target_mean=y.mean(axis=0), target_std=np.maximum(y.std(axis=0), 1e-6),
            scaler=StandardScaler().fit(_features(self, history, instances)),
        )
        batch = self._batch(history, instances, vectors)
        batch["y"] = torch.as_tensor(y, dtype=torch.float32)
        torch.manual_seed(self.seed)
        self.net = self._build_net()
        val = _validation_users(instances, float(self.settings["val_share"]), self.seed)
        self.net, self.state["fit_info"] = _train_forecast_net(self.net, batch, w, val, self.settings, self.seed)

    def _predict(self, history, instances, vectors):
        import torch

        if len(instances) == 0:
            return np.zeros((0, 2))
        with torch.no_grad():
            return self.net(self._batch(history, instances, vectors)).double().numpy()

    def _state_to_save(self) -> dict:
        return {**self.state, "net": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}}

    def _load_state(self, state: dict) -> None:
        state = dict(state)
        weights = state.pop("net")
        self.state = state
        self.net = self._build_net()
        self.net.load_state_dict(weights)
        self.net.eval()


def _validation_users(instances: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """Mask of instances whose user is held out for early stopping (whole users, by seed)."""
    users = np.array(sorted(instances["user_id"].unique()))
    n_val = int(round(share * len(users)))
    if n_val < 2 or len(users) - n_val < 2:
        return np.zeros(len(instances), dtype=bool)  # too few users to spare: train on all, fixed epochs
    chosen = np.random.default_rng(seed).choice(users, size=n_val, replace=False)
    return instances["user_id"].isin(chosen).to_numpy()


class _Rows:
    """Collate: a list of instance indices -> the batch dict sliced at those rows."""

    def __init__(self, batch: dict):
        self.batch = batch

    def __call__(self, index):
        return {k: v[index] for k, v in self.batch.items()}


def _train_forecast_net(net, batch: dict, weights: np.ndarray, is_val: np.ndarray, s: dict, seed: int) -> tuple:
    """(fitted net, fit info): the forecasting instances as data loaders for the training
    layer's loop (vatrack.training.fit_module), which keeps the best validation epoch's weights.

    Training draws instances with probability proportional to their weight (the user
    balancing of the other forecasters); validation scores every held-out instance once.
    The training layer is imported here, not at module level, so that importing vatrack.models does not
    pull it in (seconds of start-up for commands that never train a network).
    """
    import torch
    from torch.utils.data import DataLoader, WeightedRandomSampler

    from vatrack.training import LoopSettings, fit_module, seed_run
    from vatrack.training.module import RegressionModule

    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    sampler = WeightedRandomSampler(torch.as_tensor(weights[train_idx], dtype=torch.double), num_samples=len(train_idx),
                                    replacement=True, generator=torch.Generator().manual_seed(seed))
    train_rows = {k: v[train_idx] for k, v in batch.items()}
    train_loader = DataLoader(np.arange(len(train_idx)), batch_size=int(s["batch_size"]), sampler=sampler,
                              collate_fn=_Rows(train_rows))
    val_loader = None
    if len(val_idx):
        val_rows = {k: v[val_idx] for k, v in batch.items()}
        val_loader = DataLoader(np.arange(len(val_idx)), batch_size=4096, shuffle=False, collate_fn=_Rows(val_rows))
    total_steps = max(len(train_loader) * int(s["epochs"]), 1)

    seed_run(seed)
    module = RegressionModule(net, (float(s["ccc_weight_valence"]), float(s["ccc_weight_arousal"])), lr=float(s["lr"]),
                            weight_decay=float(s["weight_decay"]), warmup=float(s["warmup"]), total_steps=total_steps)
    loop = LoopSettings(patience=int(s["patience"]), grad_clip=float(s["grad_clip"]), monitor="val_loss", mode="min",
                        check_finite=True)
    # One intra-op thread: this network is too small for torch's threads to pay, and on a
    # busy 2-core machine they cost 6x (an 8-epoch 2B fit: 13 s on one thread, 78 s on two).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = fit_module(module, train_loader, val_loader, loop, max_epochs=int(s["epochs"]),
                            options={"accelerator": "cpu", "devices": 1})
    finally:
        torch.set_num_threads(threads)
    history = result.history
    losses = history["val_loss"] if "val_loss" in history else pd.Series(dtype=float)
    best = losses.idxmin() if losses.notna().any() else None   # the first epoch with the lowest loss
    info = {"epochs_run": result.epochs,
            "best_epoch": int(history.loc[best, "epoch"]) - 1 if best is not None else -1,   # 0-based
            "best_val_loss": float(losses[best]) if best is not None else float("inf"),
            "train_instances": int(len(train_idx)), "val_instances": int(len(val_idx))}
    return result.net, info


# --- registry -------------------------------------------------------------------------------

FORECASTERS = {cls.kind: cls for cls in (ZeroForecaster, LinearPrevForecaster, LinearPrevFitForecaster,
                                          MeanReversionForecaster, RidgeNoTextForecaster, RidgeForecaster, GBMForecaster,
                                          SequenceForecaster)}


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
