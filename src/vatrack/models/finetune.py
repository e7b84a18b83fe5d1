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

About 3 minutes per epoch for ~2,700 texts on 2 CPU cores; see docs/performance.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from torch import nn

from vatrack.data import LABELS
from vatrack.errors import VatrackError
from vatrack.features import diary_frame
from vatrack.models.baselines import prediction_frame, shrunk_user_offsets
from vatrack.models.bundle import load_state, save_bundle


class TextNet(nn.Module):
    """Transformer + mean pooling + linear head on [vector, is_words]; outputs in label units."""

    def __init__(self, encoder: nn.Module, dim: int, normalize: bool, label_mean, label_std):
        super().__init__()
        self.encoder, self.normalize = encoder, normalize
        self.head = nn.Linear(dim + 1, 2)
        self.register_buffer("label_mean", torch.as_tensor(np.asarray(label_mean), dtype=torch.float32))
        self.register_buffer("label_std", torch.as_tensor(np.asarray(label_std), dtype=torch.float32))

    def forward(self, batch: dict) -> torch.Tensor:
        from vatrack.encoders import encode_tokens

        vectors = encode_tokens(self.encoder, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]},
                                self.normalize)
        out = self.head(torch.cat([vectors, batch["is_words"].unsqueeze(-1)], dim=-1))
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
    progress : bool
        Show the training bar.
    """

    kind = "finetune"

    def __init__(self, encoder: str = "minilm", seed: int = 0, max_length: int = 128, epochs: int = 3,
                 batch_size: int = 16, lr_encoder: float = 3e-5, lr_head: float = 1e-3, weight_decay: float = 0.01,
                 warmup: float = 0.1, ccc_weight: float = 0.5, user_offsets: bool = True, progress: bool = False):
        self.encoder, self.seed, self.max_length = encoder, seed, max_length
        self.epochs, self.batch_size = epochs, batch_size
        self.lr_encoder, self.lr_head, self.weight_decay, self.warmup = lr_encoder, lr_head, weight_decay, warmup
        self.ccc_weight, self.user_offsets, self.progress = ccc_weight, user_offsets, progress
        self.net: TextNet | None = None
        self.state: dict = {}
        self.fit_info: dict = {}

    def _check(self) -> None:
        if "+" in str(self.encoder):
            raise VatrackError(f"encoder '{self.encoder}': fine-tuning takes one encoder; combine encoders with frozen vectors")
        for name in ("epochs", "batch_size", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise VatrackError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= float(self.ccc_weight) <= 1.0:
            raise VatrackError(f"ccc_weight must lie in [0, 1], got {self.ccc_weight!r}")

    def fit(self, train: pd.DataFrame) -> "FineTunedRegressor":
        """Fine-tune on labelled rows; returns the estimator."""
        from vatrack.encoders import load_torch_model, resolve, tokenize
        from vatrack.training import LoopSettings, fit_module, seed_run
        from vatrack.training.module import RegressionModule

        self._check()
        started = time.perf_counter()
        train = diary_frame(train, "train", labels=True)
        if len(train) < 2:
            raise VatrackError("the fine-tuned model needs at least 2 training rows")
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
        return self

    @torch.no_grad()
    def _text_predictions(self, frame: pd.DataFrame, chunk: int = 64) -> np.ndarray:
        from vatrack.encoders import tokenize

        self.net.eval()
        texts = _Texts(tokenize(self.state["tokenizer"], frame["text"].tolist(), self.max_length),
                       frame["is_words"].to_numpy(dtype=np.float32))
        out = [self.net(texts.collate(list(range(start, min(start + chunk, len(texts)))))).double().numpy()
               for start in range(0, len(texts), chunk)]
        return np.vstack(out) if out else np.zeros((0, 2))

    def predict(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """Predictions for label-free rows (labels present in ``inputs`` are ignored)."""
        if self.net is None:
            raise VatrackError("the fine-tuned model is not fitted; call fit() or load a bundle first")
        frame = diary_frame(inputs, "inputs")
        pred = self._text_predictions(frame)
        offsets = self.state.get("user_offsets", {})
        if offsets and len(frame):
            zero = np.zeros(len(LABELS))
            pred = pred + np.stack([offsets.get(u, zero) for u in frame["user_id"]])
        return prediction_frame(inputs, pred)  # the caller's keys, as given

    def save(self, folder) -> Path:
        """Write the fitted model as a bundle folder (read back by ``vatrack.load_model``)."""
        if self.net is None:
            raise VatrackError("nothing to save: the fine-tuned model is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        from vatrack.io import atomic_path

        with atomic_path(folder / "weights.pt") as tmp:
            torch.save({k: v.cpu() for k, v in self.net.state_dict().items()}, tmp)
        self.state["tokenizer"].save_pretrained(folder / "encoder")
        self.net.encoder.config.save_pretrained(folder / "encoder")
        state = {k: v for k, v in self.state.items() if k != "tokenizer"}
        save_bundle(folder, self.kind, {"params": self.get_params(), "state": state, "fit_info": self.fit_info},
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
