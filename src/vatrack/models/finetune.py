"""The seed's central idea at laptop scale: fine-tune the text encoder end to end, per text.

``FineTunedRegressor`` (method ``finetune``): a transformer (MiniLM by default) -> mean
pooling (L2-normalised like the frozen encoder) -> a linear head on [vector, is_words] ->
(valence, arousal) in label units, trained with the seed's per-dimension weighted
(1 - CCC) + MSE loss, AdamW with one LR for the encoder and one for the head, a cosine
schedule with warmup, through the training layer's loop (vatrack.training.fit_module).

Personalisation is vatrack's usual one: a seen user's shrunk mean residual is added
(vatrack.models.baselines.shrunk_user_offsets); unseen users get the text prediction alone.
The residuals are the fine-tuned model's own on its training rows, so they are smaller
than out-of-sample ones and the offsets are conservative (cross-fitting them would cost a
second fine-tune per fit).

``FineTunedRidge`` (method ``finetune+ridge``) uses the same fine-tuned encoder the other
way: its pooled vectors replace the frozen ones under vatrack's ridge+user.

A fit is cached (``cache=True``) under ``$VATRACK_CACHE/finetuned``, keyed by the
fine-tuning parameters, the encoder's weights and every training row (texts, labels,
users, order), so a comparison or a rerun on the same rows loads the fine-tuned network
instead of training it again, and both methods share one fine-tune per fold.

About 3 minutes per epoch for ~2,700 texts on 2 CPU cores; see docs/performance.md.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from torch import nn

from vatrack.data import LABELS, clip_to_scale
from vatrack.errors import VatrackError
from vatrack.features import diary_frame
from vatrack.models.baselines import (
    RidgeUserBaseline,
    blend_predictions,
    blend_problem,
    fit_blend,
    prediction_frame,
    shrunk_user_offsets,
)
from vatrack.models.bundle import load_state, save_bundle

# Bump when fine-tuning code changes what a fit produces: old cached fits are then never
# looked up again.
FIT_CACHE_VERSION = 1
# Parameters that do not change the fine-tuned network (the blend is fitted after it).
_NOT_IN_KEY = ("progress", "cache", "blend", "blend_encoder")
# The float parameters' ranges (the sequence model's, vatrack.models.presets.OptimConfig):
# name -> (test, the range as the message writes it).
_RANGES = {
    "lr_encoder": (lambda v: 0 < v <= 1, "(0, 1]"),
    "lr_head": (lambda v: 0 < v <= 1, "(0, 1]"),
    "weight_decay": (lambda v: 0 <= v <= 1, "[0, 1]"),
    "warmup": (lambda v: 0 <= v < 1, "[0, 1) (a share of the optimiser steps)"),
    "ccc_weight": (lambda v: 0 <= v <= 1, "[0, 1]"),
}


class TextNet(nn.Module):
    """Transformer + mean pooling + linear head on [vector, is_words]; outputs in label units."""

    def __init__(self, encoder: nn.Module, dim: int, normalize: bool, label_mean, label_std):
        super().__init__()
        self.encoder, self.normalize = encoder, normalize
        self.head = nn.Linear(dim + 1, 2)
        self.register_buffer("label_mean", torch.as_tensor(np.asarray(label_mean), dtype=torch.float32))
        self.register_buffer("label_std", torch.as_tensor(np.asarray(label_std), dtype=torch.float32))

    def vectors(self, batch: dict) -> torch.Tensor:
        """The fine-tuned encoder's pooled text vectors."""
        from vatrack.encoders import encode_tokens

        return encode_tokens(self.encoder, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]},
                             self.normalize)

    def forward(self, batch: dict) -> torch.Tensor:
        out = self.head(torch.cat([self.vectors(batch), batch["is_words"].unsqueeze(-1)], dim=-1))
        return out * self.label_std + self.label_mean


class _Texts(torch.utils.data.Dataset):
    """Rows of pre-tokenised texts; a batch is cut to its longest text (no padding beyond it)."""

    def __init__(self, tokens: dict, is_words: np.ndarray, y: np.ndarray | None = None):
        self.ids, self.mask = tokens["input_ids"], tokens["attention_mask"]
        self.is_words = torch.as_tensor(is_words, dtype=torch.float32)
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        return i

    def collate(self, rows) -> dict:
        rows = torch.as_tensor(rows)
        width = int(self.mask[rows].sum(dim=1).max())
        batch = {"input_ids": self.ids[rows, :width], "attention_mask": self.mask[rows, :width],
                 "is_words": self.is_words[rows]}
        if self.y is not None:
            batch["y"] = self.y[rows]
        return batch


class FineTunedRegressor(BaseEstimator):
    """Per-text fine-tuned encoder + linear head + shrunk user offsets.

    Parameters (scikit-learn style: ``get_params`` / ``set_params``, ``sklearn.base.clone``):

    encoder : str
        The transformer to fine-tune: "minilm" (default), "mpnet", a Hugging Face id or a
        local model folder (one encoder; combinations are for frozen vectors).
    seed : int
        Seed of the head's initialisation and the batch order.
    max_length : int
        Token limit.
    epochs, batch_size : int
        Training length and texts per optimiser step.
    lr_encoder, lr_head, weight_decay, warmup : float
        AdamW learning rates (encoder / head), weight decay, warmup share of the steps.
    ccc_weight : float
        Loss per dimension = w (1 - CCC) + (1 - w) MSE.
    user_offsets : bool
        Add a seen user's shrunk mean residual.
    blend : dict or None
        Baselines averaged with the fine-tuned model, as ``{method: weight}`` (e.g.
        ``{"ridge+user": 0.5}``): final = (1 - sum of weights) * this model + each weight *
        its baseline, fitted on the same rows with ``blend_encoder``'s frozen vectors.
    blend_encoder : str
        Encoder of the blend's baselines ("minilm", "minilm+mpnet", ...).
    cache : bool
        Reuse (and store) the fitted network under ``$VATRACK_CACHE/finetuned``, keyed by
        the other parameters, the encoder's weights and the training rows (~90 MB a fit
        for MiniLM; delete the folder to free it).
    progress : bool
        Show the training bar.
    """

    kind = "finetune"

    def __init__(self, encoder: str = "minilm", seed: int = 0, max_length: int = 128, epochs: int = 3,
                 batch_size: int = 16, lr_encoder: float = 3e-5, lr_head: float = 1e-3, weight_decay: float = 0.01,
                 warmup: float = 0.1, ccc_weight: float = 0.5, user_offsets: bool = True, blend: dict | None = None,
                 blend_encoder: str = "minilm", cache: bool = True, progress: bool = False):
        self.encoder, self.seed, self.max_length = encoder, seed, max_length
        self.epochs, self.batch_size = epochs, batch_size
        self.lr_encoder, self.lr_head, self.weight_decay, self.warmup = lr_encoder, lr_head, weight_decay, warmup
        self.ccc_weight, self.user_offsets, self.cache, self.progress = ccc_weight, user_offsets, cache, progress
        self.blend, self.blend_encoder = blend, blend_encoder
        self.net: TextNet | None = None
        self.state: dict = {}
        self.fit_info: dict = {}

    def check_params(self) -> None:
        """A one-line VatrackError naming the first bad parameter. Cheap (nothing is read from
        disk), so ``model_from_preset`` calls it too, before the data is loaded."""
        from vatrack.encoders import encoder_parts

        if len(encoder_parts(self.encoder)) > 1:
            raise VatrackError(f"`encoder` '{self.encoder}': fine-tuning takes one encoder; combine encoders with "
                               "frozen vectors")
        encoder_parts(self.blend_encoder, "blend_encoder")
        for name in ("epochs", "batch_size", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise VatrackError(f"`{name}` must be a positive integer, got {value!r}")
        for name, (inside, span) in _RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not inside(value):
                raise VatrackError(f"`{name}` must be a number in {span}, got {value!r}")
        for name in ("user_offsets", "cache", "progress"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise VatrackError(f"`{name}` must be true or false, got {value!r}")
        if self.blend is not None and (not isinstance(self.blend, dict) or blend_problem(self.blend)):
            raise VatrackError(f"`blend`: {blend_problem(self.blend) if isinstance(self.blend, dict) else 'expected a mapping of method: weight, e.g. {ridge+user: 0.5}'}")

    def fit(self, train: pd.DataFrame) -> "FineTunedRegressor":
        """Fine-tune on labelled rows (or load the cached fit of the same rows); returns the estimator."""
        from vatrack.encoders import check_encoder

        self.check_params()
        if self.blend:  # the blend is fitted after the fine-tune: a name that does not resolve fails now
            check_encoder(self.blend_encoder, "blend_encoder")
        train = diary_frame(train, "train", labels=True)
        if len(train) < 2:
            raise VatrackError("the fine-tuned model needs at least 2 training rows")
        folder = _fit_cache_dir() / self._fit_key(train) if self.cache else None
        if folder is not None and (folder / "model.json").exists():
            cached = FineTunedRegressor.from_bundle(folder)
            self.net, self.state = cached.net, cached.state
            self.fit_info = {**cached.fit_info, "cached_fit": str(folder)}
        else:
            self._fine_tune(train)
            if folder is not None:
                self._store_fit(folder)
        if self.blend:
            self.state["blend"] = fit_blend(train, self.blend, self.blend_encoder, self.seed, self.max_length)
        return self

    def _fit_key(self, train: pd.DataFrame) -> str:
        """Hash of what determines the fitted network: parameters, encoder weights, training rows."""
        from vatrack.encoders import resolve

        params = {k: v for k, v in FineTunedRegressor(**self.get_params()).get_params().items() if k not in _NOT_IN_KEY}
        h = hashlib.blake2b(digest_size=16)
        h.update(json.dumps({"version": FIT_CACHE_VERSION, "params": params, "encoder": resolve(self.encoder).fingerprint},
                            sort_keys=True, default=str).encode())
        rows = train[["user_id", "text_id", "text", "timestamp", "is_words", *LABELS]]
        h.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
        return h.hexdigest()

    def _store_fit(self, folder: Path) -> None:
        """Write the fitted network into the cache (whole folder renamed into place: never half-written)."""
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        except OSError:
            return  # a read-only cache only costs the next fit its time
        try:
            self._write_bundle(tmp, FineTunedRegressor.kind, self.state,
                               {**self.get_params(), "blend": None})
            os.replace(tmp, folder)
        except OSError:
            pass  # another process stored the same fit first, or the disk is full
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _fine_tune(self, train: pd.DataFrame) -> None:
        from vatrack.encoders import load_torch_model, resolve, tokenize
        from vatrack.training import LoopSettings, fit_module, seed_run
        from vatrack.training.module import RegressionModule

        started = time.perf_counter()
        y = train[list(LABELS)].to_numpy(dtype=np.float32)
        seed_run(self.seed)
        tokenizer, encoder = load_torch_model(self.encoder, device="cpu")
        encoder.train()
        normalize = resolve(self.encoder).normalize
        torch.manual_seed(self.seed)
        self.net = TextNet(encoder, int(encoder.config.hidden_size), normalize, y.mean(axis=0),
                           np.maximum(y.std(axis=0), 1e-6))
        texts = _Texts(tokenize(tokenizer, train["text"].tolist(), self.max_length),
                       train["is_words"].to_numpy(dtype=np.float32), y)
        loader = torch.utils.data.DataLoader(texts, batch_size=self.batch_size, shuffle=True, collate_fn=texts.collate,
                                             generator=torch.Generator().manual_seed(self.seed))
        module = RegressionModule(self.net, (self.ccc_weight, self.ccc_weight), lr=self.lr_head,
                                  lr_encoder=self.lr_encoder, weight_decay=self.weight_decay, warmup=self.warmup,
                                  total_steps=len(loader) * self.epochs)
        result = fit_module(module, loader, None, LoopSettings(patience=self.epochs, grad_clip=1.0),
                            max_epochs=self.epochs, progress=self.progress, options={"accelerator": "cpu", "devices": 1})
        self.net = result.net
        self.state = {"tokenizer": tokenizer, "normalize": normalize, "dim": int(encoder.config.hidden_size)}
        if self.user_offsets:
            fitted = self._text_predictions(train)
            self.state["user_offsets"] = shrunk_user_offsets(train["user_id"], y - fitted)
        self.fit_info = {"epochs_run": int(len(result.history)), "history": result.history.to_dict(orient="records"),
                         "train_time_s": round(time.perf_counter() - started, 3)}

    def _text_predictions(self, frame: pd.DataFrame) -> np.ndarray:
        return self._batched(frame, self.net, 2)

    def transform(self, inputs: pd.DataFrame) -> np.ndarray:
        """The fine-tuned encoder's pooled vector of each row's text (rows in order)."""
        if self.net is None:
            raise VatrackError("the fine-tuned model is not fitted; call fit() or load a bundle first")
        return self._batched(diary_frame(inputs, "inputs"), self.net.vectors, self.state["dim"])

    def export_encoder(self, folder) -> Path:
        """Write the fine-tuned transformer as a model folder that any ``encoder=`` accepts
        (frozen vectors from it: the sequence model, the ridge baselines); returns ``folder``."""
        if self.net is None:
            raise VatrackError("the fine-tuned model is not fitted; call fit() or load a bundle first")
        folder = Path(folder)
        self.net.encoder.save_pretrained(folder)
        self.state["tokenizer"].save_pretrained(folder)
        if self.state["normalize"]:  # keep the L2 normalisation the vectors were trained with
            modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                       {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                       {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
            (folder / "modules.json").write_text(json.dumps(modules, indent=2), encoding="utf-8")
        return folder

    @torch.no_grad()
    def _batched(self, frame: pd.DataFrame, fn, width: int, chunk: int = 64) -> np.ndarray:
        from vatrack.encoders import tokenize

        self.net.eval()
        texts = _Texts(tokenize(self.state["tokenizer"], frame["text"].tolist(), self.max_length),
                       frame["is_words"].to_numpy(dtype=np.float32))
        out = [fn(texts.collate(list(range(start, min(start + chunk, len(texts)))))).double().numpy()
               for start in range(0, len(texts), chunk)]
        return np.vstack(out) if out else np.zeros((0, width))

    def predict(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """Predictions for label-free rows (labels present in ``inputs`` are ignored)."""
        if self.net is None:
            raise VatrackError("the fine-tuned model is not fitted; call fit() or load a bundle first")
        frame = diary_frame(inputs, "inputs")
        pred = self._own_predictions(frame)
        if self.blend and len(frame):
            # Members predict in scale; clipping this model's part first makes the blend exactly
            # the weighted average of the two models' own predictions (scored offline that way).
            pred = blend_predictions(clip_to_scale(pred), self.state["blend"], self.blend, frame)
        return prediction_frame(inputs, pred)  # the caller's keys, as given

    def _own_predictions(self, frame: pd.DataFrame) -> np.ndarray:
        pred = self._text_predictions(frame)
        offsets = self.state.get("user_offsets", {})
        if offsets and len(frame):
            zero = np.zeros(len(LABELS))
            pred = pred + np.stack([offsets.get(u, zero) for u in frame["user_id"]])
        return pred

    def save(self, folder) -> Path:
        """Write the fitted model as a bundle folder (read back by ``vatrack.load_model``)."""
        if self.net is None:
            raise VatrackError("nothing to save: the fine-tuned model is not fitted")
        return self._write_bundle(Path(folder), self.kind, self.state, self.get_params())

    def _write_bundle(self, folder: Path, kind: str, state: dict, params: dict) -> Path:
        from vatrack.io import atomic_path

        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "weights.pt") as tmp:
            torch.save({k: v.cpu() for k, v in self.net.state_dict().items()}, tmp)
        self.state["tokenizer"].save_pretrained(folder / "encoder")
        self.net.encoder.config.save_pretrained(folder / "encoder")
        state = {k: v for k, v in state.items() if k != "tokenizer"}
        save_bundle(folder, kind, {"params": params, "state": state, "fit_info": self.fit_info},
                    meta={"encoder": self.encoder})
        return folder

    @classmethod
    def from_bundle(cls, folder) -> "FineTunedRegressor":
        """The fitted model saved in ``folder``."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = Path(folder)
        saved = load_state(folder, keys=("params", "state"))
        model = cls(**saved["params"])
        model.state, model.fit_info = dict(saved["state"]), saved.get("fit_info", {})
        try:
            model.state["tokenizer"] = AutoTokenizer.from_pretrained(folder / "encoder", local_files_only=True)
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder / "encoder", local_files_only=True))
            model.net = TextNet(encoder, model.state["dim"], model.state["normalize"], np.zeros(2), np.ones(2))
            model.net.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
        except Exception as err:
            raise VatrackError(f"{folder}: fine-tuned model files unreadable ({type(err).__name__}); retrain the model") from None
        model.net.eval()
        return model


def _fit_cache_dir() -> Path:
    from vatrack.encoders import cache_dir

    return cache_dir() / "finetuned"


class _VectorRidgeUser(RidgeUserBaseline):
    """ridge+user whose text vectors come from a given function (the fine-tuned encoder)."""

    def __init__(self, vectors_of=None, max_length: int = 128):
        super().__init__(encoder="fine-tuned", max_length=max_length)
        self.vectors_of = vectors_of

    def _features(self, frame: pd.DataFrame) -> np.ndarray:
        return np.hstack([self.vectors_of(frame), frame["is_words"].to_numpy(dtype=float)[:, None]])


class FineTunedRidge(FineTunedRegressor):
    """ridge+user on the fine-tuned encoder's vectors instead of frozen ones.

    The encoder is fine-tuned exactly as in ``finetune`` (same parameters, same cached fit);
    its head is then set aside and vatrack's ridge+user (ridge on [vector, is_words], alpha
    by leave-one-out, shrunk user offsets from whole-user out-of-fold residuals) is fitted on
    the same training rows. Those rows' vectors come from an encoder trained on their labels,
    so the ridge sees them better separated than it will see new texts.
    """

    kind = "finetune+ridge"

    def fit(self, train: pd.DataFrame) -> "FineTunedRidge":
        """Fine-tune (or load the cached fit), then fit ridge+user on the fine-tuned vectors."""
        super().fit(train)
        self.state["ridge"] = self._ridge().fit(train).state
        return self

    def _own_predictions(self, frame: pd.DataFrame) -> np.ndarray:
        ridge = self._ridge()
        ridge.state = self.state["ridge"]
        return ridge.predict(frame)[["pred_valence", "pred_arousal"]].to_numpy()

    def _ridge(self) -> _VectorRidgeUser:
        return _VectorRidgeUser(self.transform, self.max_length)

