"""Baselines for subtask 1: mean, user-mean, ridge (Linear(BERT) recipe), ridge+user, ridge+user+types.

All follow the estimator contract (docs/architecture.md). Per-user offsets are shrunk
toward zero by an empirical-Bayes factor n / (n + k), with k = within-user variance /
between-user variance estimated on training data, so a user with two texts moves the
prediction less than a user with fifty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge, RidgeCV

from vatrack.data.schema import LABELS, clip_to_scale
from vatrack.errors import VatrackError
from vatrack.features import diary_frame
from vatrack.models.bundle import load_state, save_bundle
from vatrack.protocols import grouped_oof

# The alpha grid of every ridge in vatrack (these baselines, the sequence model's text ridge,
# the ridge forecasters): half-decade steps from 1e-2 to 1e5. It is the union of the two
# grids the baselines (1e-2..1e4) and the forecasters (1e-1..1e5) had; a chosen alpha moves
# only where the old grid's edge was the best value.
RIDGE_ALPHAS = np.logspace(-2, 5, 15)
# ridge+user+types: a text type with fewer training rows than this keeps the shared ridge.
MIN_TYPE_ROWS = 20


def prediction_frame(inputs: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
    pred = clip_to_scale(pred)
    return pd.DataFrame({"user_id": inputs["user_id"].to_numpy(), "text_id": inputs["text_id"].to_numpy(),
                         "pred_valence": pred[:, 0], "pred_arousal": pred[:, 1]})


def shrinkage_k(users: pd.Series, values: np.ndarray) -> np.ndarray:
    """Per-dimension k = within-user variance / between-user variance (>= 0.5 for stability)."""
    frame = pd.DataFrame(values, columns=list(LABELS)).assign(user=users.to_numpy())
    within = frame.groupby("user")[list(LABELS)].var(ddof=1).mean().to_numpy()
    between = frame.groupby("user")[list(LABELS)].mean().var(ddof=1).to_numpy()
    within = np.nan_to_num(within, nan=1.0)
    k = within / np.maximum(np.nan_to_num(between, nan=0.0) - within / max(frame.groupby("user").size().mean(), 1), 1e-3)
    return np.clip(k, 0.5, 100.0)


def shrunk_user_offsets(users: pd.Series, residuals: np.ndarray) -> dict[str, np.ndarray]:
    """Each user's mean residual times n / (n + k)."""
    k = shrinkage_k(users, residuals)
    frame = pd.DataFrame(residuals, columns=list(LABELS)).assign(user=users.to_numpy())
    grouped = frame.groupby("user")[list(LABELS)]
    means, counts = grouped.mean(), grouped.size().to_numpy()[:, None]
    shrunk = means.to_numpy() * counts / (counts + k)
    return {user: shrunk[i] for i, user in enumerate(means.index)}


def _labels(train: pd.DataFrame) -> np.ndarray:
    return train[list(LABELS)].to_numpy(dtype=float)


class Baseline(BaseEstimator):
    """Shared parameters, save/load and the user-offset step of the subtask-1 baselines.

    Parameters (scikit-learn style: ``get_params`` / ``set_params``, ``sklearn.base.clone``):

    encoder : str
        Text encoder of the ridge baselines: "minilm" (default), "mpnet", "minilm+mpnet"
        (vectors side by side), a Hugging Face id or a local model folder. The mean
        baselines read no text.
    seed : int
        Kept for the common estimator interface; the baselines are deterministic.
    max_length : int
        Token limit of the encoder.

    ``fit(train)`` takes any DataFrame with user_id, text_id, text, timestamp, valence,
    arousal (is_words optional); ``predict(inputs)`` the same without labels, and returns
    user_id, text_id, pred_valence, pred_arousal in the inputs' row order, clipped to the
    label scale.
    """

    kind = "baseline"

    def __init__(self, encoder: str = "minilm", seed: int = 0, max_length: int = 128):
        self.encoder = encoder
        self.seed = seed
        self.max_length = max_length
        self.state: dict = {}

    def check_params(self) -> None:
        """A one-line VatrackError naming the first bad parameter (``model_from_preset`` calls it
        too, before the data is loaded). The mean baselines read no text: nothing to check."""

    def fit(self, train: pd.DataFrame) -> "Baseline":
        """Learn from labelled rows; returns the estimator."""
        self.check_params()
        self._fit(diary_frame(train, "train", labels=True))
        return self

    def predict(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """Predictions for label-free rows (labels present in ``inputs`` are ignored)."""
        if not self.state:
            raise VatrackError(f"the {self.kind} baseline is not fitted; call fit() or load a bundle first")
        return prediction_frame(inputs, self._predict(diary_frame(inputs, "inputs")))

    def _apply_offsets(self, inputs: pd.DataFrame, base: np.ndarray) -> np.ndarray:
        offsets = self.state.get("user_offsets", {})
        zero = np.zeros(len(LABELS))
        return base + np.stack([offsets.get(u, zero) for u in inputs["user_id"]]) if len(inputs) else base

    def save(self, folder):
        """Write the fitted model as a bundle folder (read back by ``vatrack.load_model``)."""
        save_bundle(folder, self.kind, {"params": self.get_params(), "state": self.state})

    @classmethod
    def from_bundle(cls, folder):
        """The fitted baseline saved in ``folder``."""
        saved = load_state(folder, keys=("params", "state"))
        model = cls(**saved["params"])
        model.state = saved["state"]
        return model


class MeanBaseline(Baseline):
    """The training mean of valence and arousal for every row."""

    kind = "mean"

    def _fit(self, train):
        self.state = {"mean": _labels(train).mean(axis=0)}

    def _predict(self, inputs):
        return np.tile(self.state["mean"], (len(inputs), 1))


class UserMeanBaseline(Baseline):
    """The training mean plus a seen user's shrunk mean offset (unseen users: the mean)."""

    kind = "user-mean"

    def _fit(self, train):
        y = _labels(train)
        mean = y.mean(axis=0)
        self.state = {"mean": mean, "user_offsets": shrunk_user_offsets(train["user_id"], y - mean)}

    def _predict(self, inputs):
        return self._apply_offsets(inputs, np.tile(self.state["mean"], (len(inputs), 1)))


class RidgeBaseline(Baseline):
    """Ridge on [encoder vector, is_words]; alpha per dimension by efficient leave-one-out CV."""

    kind = "ridge"
    with_user_offsets = False
    split_types = False

    def check_params(self) -> None:
        from vatrack.encoders import encoder_parts

        encoder_parts(self.encoder)

    def _features(self, frame: pd.DataFrame) -> np.ndarray:
        from vatrack.encoders import get_encoder

        vectors = get_encoder(self.encoder, max_length=self.max_length).encode(frame["text"].tolist())
        return np.hstack([vectors, frame["is_words"].to_numpy(dtype=float)[:, None]])

    def _fit(self, train):
        x, y = self._features(train), _labels(train)
        ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(x, y)
        self.state = {"ridge": ridge}
        if self.split_types:
            self.state["type_ridges"] = _type_ridges(x, train["is_words"].to_numpy(dtype=bool), y,
                                                     train["user_id"].to_numpy())
        if self.with_user_offsets:
            # Offsets from out-of-fold residuals (grouped by user): in-sample residuals of a
            # ridge are too small and would shrink the offsets for the wrong reason.
            # Whole-user folds make each residual look like an unseen-user error, which is
            # what a user offset corrects for a seen user later.
            users = train["user_id"].to_numpy()
            oof = grouped_oof(Ridge(alpha=ridge.alpha_), x, y, groups=users)
            words = train["is_words"].to_numpy(dtype=bool)
            for kind, model in self.state.get("type_ridges", {}).items():
                mask = words if kind == "words" else ~words
                oof[mask] = grouped_oof(Ridge(alpha=model.alpha_), x[mask], y[mask], groups=users[mask])
            self.state["user_offsets"] = shrunk_user_offsets(train["user_id"], y - oof)

    def _predict(self, inputs):
        if not len(inputs):
            return np.zeros((0, 2))
        x = self._features(inputs)
        base = self.state["ridge"].predict(x)
        words = inputs["is_words"].to_numpy(dtype=bool)
        for kind, model in self.state.get("type_ridges", {}).items():
            mask = words if kind == "words" else ~words
            if mask.any():
                base[mask] = model.predict(x[mask])
        return self._apply_offsets(inputs, base)


class RidgeUserBaseline(RidgeBaseline):
    """ridge plus a seen user's shrunk offset, estimated from out-of-fold residuals."""

    kind = "ridge+user"
    with_user_offsets = True


class RidgeUserTypesBaseline(RidgeUserBaseline):
    """ridge+user with one ridge per text type: feeling-word lists (``is_words``) and essays.

    Each type gets its own weights and alpha (a type with fewer than
    :data:`MIN_TYPE_ROWS` training rows or fewer than 2 users keeps the shared ridge); user
    offsets come from the type ridges' out-of-fold residuals. Why: the two kinds of entry
    embed very differently (a 9-word list vs a 60-word essay), and arousal is read from them
    with different accuracy (docs/results.md, the arousal study).
    """

    kind = "ridge+user+types"
    split_types = True


def _type_ridges(x: np.ndarray, words: np.ndarray, y: np.ndarray, users: np.ndarray) -> dict:
    """A RidgeCV per text type ("words", "essays") that has enough rows and users to fit one."""
    ridges = {}
    for kind, mask in (("words", words), ("essays", ~words)):
        if mask.sum() >= MIN_TYPE_ROWS and len(np.unique(users[mask])) >= 2:
            ridges[kind] = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(x[mask], y[mask])
    return ridges


BASELINES = {cls.kind: cls for cls in (MeanBaseline, UserMeanBaseline, RidgeBaseline, RidgeUserBaseline,
                                       RidgeUserTypesBaseline)}


def blend_problem(blend: dict) -> str | None:
    """What is wrong with a declared blend ({baseline: weight}), or None."""
    unknown = sorted(set(blend) - set(BASELINES))
    if unknown:
        return f"cannot blend with {', '.join(unknown)}; choose from the baselines {', '.join(BASELINES)}"
    if any(not 0.0 <= w <= 1.0 for w in blend.values()) or sum(blend.values()) > 1.0:
        return f"blend weights must lie in [0, 1] and sum to at most 1, got {blend}"
    return None


def fit_blend(train: pd.DataFrame, blend: dict, encoder: str, seed: int, max_length: int) -> dict:
    """A declared blend's members ({baseline: weight}), each a fresh baseline fitted on ``train``.

    Two model families err differently; their weighted average correlates better with the
    truth than either (official-style CV: the best preset, the finetune study)."""
    return {method: BASELINES[method](encoder=encoder, seed=seed, max_length=max_length).fit(train) for method in blend}


def blend_predictions(own: np.ndarray, members: dict, blend: dict, inputs: pd.DataFrame) -> np.ndarray:
    """(1 - sum of weights) * the model's own predictions + each member's weighted predictions."""
    out = (1.0 - sum(blend.values())) * own
    for method, weight in blend.items():
        out = out + weight * members[method].predict(inputs)[["pred_valence", "pred_arousal"]].to_numpy()
    return out

