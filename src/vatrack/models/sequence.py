"""The seed sequence model: a personalised BiLSTM + attention regressor of (valence, arousal).

Per target text, a window of the user's last ``seq_length`` entries; each step concatenates

    [text vector, user embedding, numeric features]
    numeric = time features, 10 text statistics + is_words      (label-free, standardised)
            + lags of V/A, lag masks, entries since last label   (visible labels only)
            + user statistics from visible labels                 (shrunk toward the training mean)
            + the step's position in the window

then: linear to 2*hidden -> BiLSTM (layers) -> multi-head self-attention (residual +
LayerNorm) -> last step -> fusion MLP (Linear, LayerNorm, GELU, dropout per layer) ->
separate valence and arousal heads (outputs in label units: mean + std * head).

What the seed got wrong and this module gets right:
* one user vocabulary saved with the model; index 0 is the unknown user, taught by user
  dropout and by simulated unseen users in training; unseen users map to it;
* user statistics and lag fills only from visible labels (vatrack.features.labels);
* prediction never reads a label of a predicted text: the inputs come without labels
  (strip_labels) and a seen user's past is the ``history`` stored in the bundle by ``fit``.

Two encoder modes: ``frozen`` (cached vectors from vatrack.encoders; the CPU default) and
``finetune`` (the transformer inside the network; each unique text of a batch is encoded
once per step, see :meth:`SeqNet.encode_texts`).

Two optional extras, off in the seed presets: ``features.use_text_ridge`` (an out-of-fold
ridge prediction from the text vector as two more numeric inputs; no gain under CV so far)
and ``blend`` (baselines averaged with the network, declared as ``{method: weight}`` and
fitted on the same rows; ``best`` uses ``{ridge+user: 0.5}``).

``fit`` prepares the data and the module and hands them to the training layer's loop
(``vatrack.training.fit_module``), imported lazily so that importing the model registry
does not pull in Lightning.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from torch import nn

from vatrack.data import LABELS, sort_diary
from vatrack.encoders import make_tokens_fn
from vatrack.errors import RunInterrupted, VatrackError
from vatrack.features import (
    Examples,
    TextRidgeFeature,
    build_table,
    diary_frame,
    label_stats,
    merge_for_prediction,
    standardiser,
)
from vatrack.io import atomic_path
from vatrack.models.baselines import blend_predictions, fit_blend, prediction_frame
from vatrack.models.bundle import load_state, read_meta, save_bundle
from vatrack.models.presets import NetConfig, SequenceConfig, make_config, resolve_config

# --- the network ---------------------------------------------------------------------------


class SeqNet(nn.Module):
    """[text, user, numeric] per step -> BiLSTM -> self-attention -> last step -> fusion -> heads."""

    def __init__(self, cfg: NetConfig, text_dim: int, n_numeric: int, n_users: int,
                 label_mean, label_std, encoder: nn.Module | None = None, normalize: bool = False):
        """``text_dim``: 0 when the steps carry no text vector."""
        super().__init__()
        hidden = cfg.lstm_hidden
        width = 2 * hidden
        self.encoder = encoder          # fine-tune mode only
        self.normalize = normalize      # L2-normalise pooled vectors like the frozen encoder does
        self.user = nn.Embedding(n_users + 1, cfg.user_emb) if cfg.user_emb else None  # row 0: unknown user
        in_dim = text_dim + n_numeric + cfg.user_emb
        self.proj = nn.Sequential(nn.Linear(in_dim, width), nn.Dropout(cfg.dropout))
        self.lstm = nn.LSTM(width, hidden, num_layers=cfg.lstm_layers, batch_first=True, bidirectional=True,
                            dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0)
        self.attn = nn.MultiheadAttention(width, cfg.attn_heads, dropout=cfg.dropout, batch_first=True)
        self.attn_norm = nn.LayerNorm(width)
        layers, last = [], width
        for w in cfg.fusion:
            layers += [nn.Linear(last, w), nn.LayerNorm(w), nn.GELU(), nn.Dropout(cfg.dropout)]
            last = w
        self.fusion = nn.Sequential(*layers)
        self.head_valence = nn.Linear(last, 1)
        self.head_arousal = nn.Linear(last, 1)
        # Heads predict standardised targets; these buffers map back to label units.
        self.register_buffer("label_mean", torch.as_tensor(np.asarray(label_mean), dtype=torch.float32))
        self.register_buffer("label_std", torch.as_tensor(np.asarray(label_std), dtype=torch.float32))

    def encode_texts(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled vectors of the batch's unique texts (fine-tune mode)."""
        from vatrack.encoders import encode_tokens

        return encode_tokens(self.encoder, {"input_ids": input_ids, "attention_mask": attention_mask}, self.normalize)

    def forward(self, batch: dict) -> torch.Tensor:
        valid = batch["valid"]
        mask = valid.unsqueeze(-1).to(batch["num"].dtype)
        parts = []
        if "text" in batch:
            parts.append(batch["text"])
        elif "input_ids" in batch:
            # Each unique text once, then scattered to every window position it occupies.
            unique_vectors = self.encode_texts(batch["input_ids"], batch["attention_mask"])
            parts.append(unique_vectors[batch["text_slot"].clamp(min=0)] * mask)
        if self.user is not None:
            parts.append(self.user(batch["user"]).unsqueeze(1).expand(-1, valid.shape[1], -1) * mask)
        parts.append(batch["num"])
        h = self.proj(torch.cat(parts, dim=-1)) * mask   # padding steps stay exactly zero
        h, _ = self.lstm(h)
        a, _ = self.attn(h, h, h, key_padding_mask=~valid, need_weights=False)
        h = self.attn_norm(h + a)
        z = self.fusion(h[:, -1])                        # the target sits at the last step
        out = torch.cat([self.head_valence(z), self.head_arousal(z)], dim=-1)
        return out * self.label_std + self.label_mean


# --- the estimator -----------------------------------------------------------------------------

_HISTORY_COLUMNS = ("user_id", "text_id", "text", "timestamp", "is_words", *LABELS)


class SequenceRegressor(BaseEstimator):
    """Estimator contract (docs/architecture.md) around :class:`SeqNet`.

    Parameters (scikit-learn style: ``get_params`` / ``set_params``, ``sklearn.base.clone``):

    config : str, path, dict or SequenceConfig
        A preset name ("v3.3"), a preset YAML path, a dict of SequenceConfig keys or a config.
    encoder, mode : str, optional
        Override the config's encoder and encoder_mode ("frozen" or "finetune").
    seed : int
        Seed of initialisation, batches and the validation split.
    val : "cv" or "none"
        "cv" holds out an official-style inner fold of the training rows for early stopping
        and the best checkpoint; "none" trains all epochs on everything.
    trainer : dict, optional
        Lightning options (accelerator, devices, strategy, num_nodes, callbacks).
    run_dir : path, optional
        Receives history.csv and checkpoints.
    progress : bool
        Show a progress bar.
    overrides : dict or list of str, optional
        Config keys to change: ``{"epochs": 3}`` or ``["epochs=3"]``.
    max_length : int, optional
        Overrides the config's token limit.

    ``config`` and the four overrides are resolved into ``self.config`` (a validated
    SequenceConfig) when the estimator is made or ``set_params`` changes them.
    ``fit(train)`` takes any DataFrame with user_id, text_id, text, timestamp, valence,
    arousal (is_words optional); ``predict(inputs)`` the same without labels.
    """

    kind = "sequence"
    _PARAMS = ("config", "encoder", "seed", "mode", "val", "trainer", "run_dir", "progress", "overrides", "max_length")

    def __init__(self, config="v3.3", encoder: str | None = None, seed: int = 0, mode: str | None = None,
                 val: str = "cv", trainer: dict | None = None, run_dir=None, progress: bool = False,
                 overrides: dict | None = None, max_length: int | None = None):
        # The arguments as given (get_params returns them); the attributes the model uses
        # (config, seed, val, trainer_options, run_dir, progress) are derived from them.
        self._params = {"config": config, "encoder": encoder, "seed": seed, "mode": mode, "val": val, "trainer": trainer,
                        "run_dir": run_dir, "progress": progress, "overrides": overrides, "max_length": max_length}
        self._configure()
        self.net: SeqNet | None = None
        self.state: dict = {}
        self.fit_info: dict = {}

    def _configure(self) -> None:
        p = self._params
        self.config = resolve_config(p["config"], p["overrides"], encoder=p["encoder"], mode=p["mode"],
                                     max_length=p["max_length"])
        if p["val"] not in ("cv", "none"):
            raise VatrackError(f"val must be 'cv' or 'none', got {p['val']!r}")
        self.seed, self.val = int(p["seed"]), p["val"]
        self.trainer_options = dict(p["trainer"] or {})
        self.run_dir = Path(p["run_dir"]) if p["run_dir"] else None
        self.progress = bool(p["progress"])

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments as given."""
        return dict(self._params)

    def set_params(self, **params) -> "SequenceRegressor":
        """Change constructor arguments (the config is resolved again); returns self."""
        unknown = sorted(set(params) - set(self._PARAMS))
        if unknown:
            raise VatrackError(f"SequenceRegressor has no parameter {', '.join(map(repr, unknown))}; "
                               f"its parameters: {', '.join(self._PARAMS)}")
        self._params = {**self._params, **params}
        self._configure()
        return self

    # -- preparation shared by fit, validation and predict ----------------------------------

    def _frozen_vectors(self, table) -> np.ndarray:
        """Cached vectors of the table's texts; ``encoder: minilm+mpnet`` concatenates encoders."""
        from vatrack.encoders import get_encoder

        enc = self.config.encoder
        return get_encoder(enc.name, max_length=enc.max_length).encode(table.frame["text"].tolist(), progress=self.progress)

    def _user_index(self, table) -> np.ndarray:
        vocab = self.state["vocab"]
        return np.array([vocab.get(u, 0) for u in table.frame["user_id"]], np.int64)

    def _examples(self, table, targets=None) -> Examples:
        spec, frozen_mode = self.config.features, self.config.encoder.mode == "frozen"
        frozen = None
        if (spec.use_text_vec and frozen_mode) or spec.use_text_ridge:
            frozen = self._frozen_vectors(table)
        if spec.use_text_ridge:
            self.state["text_ridge"].fill(table, frozen)
        vectors = frozen if spec.use_text_vec and frozen_mode else None
        return Examples(table, spec, self.state["standardise"], self.state["label_stats"],
                        self._user_index(table), vectors=vectors, targets=targets)

    def query_examples(self, inputs: pd.DataFrame, history: pd.DataFrame | None = None) -> tuple[Examples, np.ndarray]:
        """Examples for label-free ``inputs`` against ``history`` (default: the bundle's); the
        second value maps each input row to its table row."""
        history = self.state["history"] if history is None else history
        merged, known, query_rows = merge_for_prediction(history, inputs)
        return self._examples(build_table(merged, known), targets=query_rows), query_rows

    def _init_state(self, net_rows: pd.DataFrame, history: pd.DataFrame) -> Examples:
        """Vocabulary, standardisation and label statistics from the rows the network trains on."""
        table = build_table(net_rows)
        users = sorted(net_rows["user_id"].unique(), key=lambda u: (len(u), u))
        self.state = {
            "vocab": {u: i + 1 for i, u in enumerate(users)},
            "label_stats": label_stats(table.labels),
            "history": history[list(_HISTORY_COLUMNS)].reset_index(drop=True),
        }
        if self.config.features.use_text_ridge:
            from vatrack.models.baselines import RIDGE_ALPHAS

            hist_table = build_table(sort_diary(self.state["history"]))
            vectors = self._frozen_vectors(table)
            self.state["text_ridge"] = TextRidgeFeature(RIDGE_ALPHAS).fit(table, vectors, hist_table,
                                                                          self._frozen_vectors(hist_table))
            self.state["text_ridge"].fill(table, vectors)
        self.state["standardise"] = standardiser(table.static)
        return self._examples(table)

    def build_net(self, text_dim: int, encoder: nn.Module | None = None, normalize: bool = False) -> SeqNet:
        stats = self.state["label_stats"]
        return SeqNet(self.config.net, text_dim, self.config.features.n_numeric(), len(self.state["vocab"]),
                      stats["mean"], np.sqrt(stats["var"]), encoder=encoder, normalize=normalize)

    # -- contract ----------------------------------------------------------------------------

    def _fit_network(self, train: pd.DataFrame) -> None:
        """One training of the network on labelled ``train`` rows; fills net, state, fit_info.

        1. with ``val="cv"``, one official-style inner fold of the training rows (some users
           held out entirely, others only their latest texts) becomes the validation set for
           early stopping and the best checkpoint; the network, its user vocabulary and its
           standardisation see only the remaining rows. The bundle's history still holds every
           training row, since all of them are legal past for later predictions;
        2. the training layer's loop (``vatrack.training.fit_module``) trains the
           SequenceModule (AdamW, cosine schedule with warmup, gradient clipping and
           accumulation, early stopping on the validation official composite r or CCC) and
           hands back the best checkpoint's weights.
        """
        # Imported here: importing the model registry must not pull in Lightning.
        from vatrack.protocols import strip_labels
        from vatrack.training import LoopSettings, fit_module, inner_split, seed_run
        from vatrack.training.data import TrainWindows, eval_loader, train_loader
        from vatrack.training.module import SequenceModule

        cfg, seed = self.config, self.seed
        run = cfg.trainer
        started = time.perf_counter()
        seed_run(seed)
        if self.val == "cv":
            net_rows, val_rows = inner_split(train, run.val_folds, seed)
        else:
            net_rows, val_rows = train, None
        examples = self._init_state(net_rows, history=train)

        finetune = cfg.encoder.mode == "finetune" and cfg.features.use_text_vec
        encoder, tokens, normalize = None, None, False
        if finetune:
            from vatrack.encoders import load_torch_model, resolve

            tokenizer, encoder = load_torch_model(cfg.encoder.name, device="cpu")
            encoder.train()
            normalize = resolve(cfg.encoder.name).normalize
            self.state.update(tokenizer=tokenizer, tokens_fn=make_tokens_fn(tokenizer, cfg.encoder.max_length),
                              normalize=normalize)
            tokens = self.state["tokens_fn"](examples.table.frame["text"].tolist())
            text_dim = int(encoder.config.hidden_size)
        else:
            text_dim = int(examples.vectors.shape[1]) if examples.vectors is not None else 0
        self.state["text_dim"] = text_dim
        torch.manual_seed(seed)
        self.net = self.build_net(text_dim, encoder=encoder, normalize=normalize)

        dataset = TrainWindows(examples, run.unseen_prob, run.min_visible_frac, run.user_dropout, run.mixup_alpha, tokens)
        contiguous = run.batch_order == "contiguous" or (run.batch_order == "auto" and finetune)
        loader = train_loader(dataset, run.batch_size, seed, contiguous=contiguous)
        val_loader, val_gold, encode_val, val_examples = None, None, None, None
        if val_rows is not None:
            val_examples, _ = self.query_examples(strip_labels(val_rows), history=net_rows)
            val_loader = eval_loader(val_examples, run.eval_batch_size)
            val_gold = val_rows[["user_id", *LABELS, "is_seen_user"]].reset_index(drop=True)
            if finetune:
                encode_val = lambda: self.encode_table(val_examples)  # noqa: E731  current encoder weights

        steps = math.ceil(len(loader) / run.grad_accum) * run.epochs
        module = SequenceModule(self.net, cfg.optim, monitor=run.monitor, total_steps=steps, val_gold=val_gold,
                                encode_val=encode_val, seed=seed)
        loop = LoopSettings(patience=run.patience, grad_clip=run.grad_clip, grad_accum=run.grad_accum,
                            hyperparams=cfg.flat())
        result = fit_module(module, loader, val_loader, loop, max_epochs=run.epochs,
                            run_dir=self.run_dir, progress=self.progress, options=self.trainer_options)
        self.net = result.net

        frame = result.history
        info = {
            "epochs_run": int(len(frame)),
            "train_rows": int(len(net_rows)), "val_rows": int(0 if val_rows is None else len(val_rows)),
            "users_in_vocabulary": len(self.state["vocab"]),
            "history": frame.to_dict(orient="records"),
            "global_rank": result.global_rank,
            "checkpoint": result.best_path if self.run_dir is not None else None,
        }
        if "encoder_passes" in frame:
            info["encoder_passes"] = int(frame["encoder_passes"].sum())
            info["encoder_naive_passes"] = int(frame["encoder_naive_passes"].sum())
        if val_rows is not None:
            best = frame.loc[frame["val_score"].idxmax()] if "val_score" in frame else None
            info["best_epoch"] = int(best["epoch"]) if best is not None else None
            info["stopped_early"] = result.stopped_early
            info["val_metrics"] = self._val_metrics(val_examples, val_gold)
        info["train_time_s"] = round(time.perf_counter() - started, 3)
        self.fit_info = info

    def _val_metrics(self, val_examples: Examples, val_gold: pd.DataFrame) -> dict:
        """Official figures of the best weights on the validation rows (seen/unseen included)."""
        from vatrack.data import clip_to_scale
        from vatrack.evaluation.metrics import subtask1_metrics

        pred = clip_to_scale(self.predict_examples(val_examples))
        return subtask1_metrics(val_gold.assign(pred_valence=pred[:, 0], pred_arousal=pred[:, 1]))

    def fit(self, train: pd.DataFrame) -> "SequenceRegressor":
        """Train on labelled rows (the loop of vatrack.training); returns the estimator."""
        started = time.perf_counter()
        train = _check_training_frame(train)
        self._fit_network(train)
        best_epoch = self.fit_info.get("best_epoch")
        if self.config.trainer.refit and self.val == "cv" and best_epoch:
            # Train again on every row (validation rows included) for the early-stopped epoch count.
            fresh = clone_unfitted(self).set_params(
                config=resolve_config(self.config, {"trainer.epochs": best_epoch, "trainer.refit": False}),
                encoder=None, mode=None, overrides=None, max_length=None,  # already inside self.config
                val="none", run_dir=None, progress=False)
            # The refit starts from scratch: never from the validation phase's resume checkpoint
            # (another vocabulary, another network size), whatever --resume continued.
            fresh.trainer_options.pop("resume_from", None)
            try:
                fresh._fit_network(train)
            except RunInterrupted as stop:
                if self.run_dir is None:
                    raise
                raise RunInterrupted(stop.signal_name, f"training stopped by {stop.signal_name} during the refit on all "
                                     "rows (the validation phase had finished); rerun it with `resume=True` "
                                     "to redo the refit") from None
            self.net, self.state = fresh.net, fresh.state
            self.fit_info["refit_epochs"] = best_epoch
            # The refit network saw the validation rows, so it has no held-out figure of its own.
            self.fit_info["val_metrics_of"] = ("the network before refit (checkpoint); the saved model is the refit on "
                                               f"all rows for {best_epoch} epochs, which has no held-out figure")
        self.state["blend"] = self._fit_blend(train)
        self.fit_info["train_time_s"] = round(time.perf_counter() - started, 3)
        return self

    def predict(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """Predictions for label-free rows of seen and unseen users, in the inputs' row order.

        A seen user's past is the history stored by ``fit``; labels in ``inputs`` are ignored.
        """
        if self.net is None:
            raise VatrackError("the sequence model is not fitted; call fit() or load a bundle first")
        if len(inputs) == 0:
            return prediction_frame(inputs, np.zeros((0, 2)))
        query = _as_query(inputs)
        pred = self.predict_examples(self.query_examples(query)[0])
        if self.config.blend:
            pred = blend_predictions(pred, self.state["blend"], self.config.blend, query)
        return prediction_frame(inputs, pred)

    def _fit_blend(self, train: pd.DataFrame) -> dict:
        """The config's blend members, fitted on the same rows with the network's first encoder."""
        enc = self.config.encoder
        return fit_blend(train, self.config.blend, enc.names()[0], self.seed, enc.max_length)

    @torch.no_grad()
    def predict_examples(self, examples: Examples) -> np.ndarray:
        """Raw (unclipped) predictions for every example, in order."""
        net = self.net
        was_training = net.training
        net.eval()
        batch_size = self.config.trainer.eval_batch_size
        finetuned = examples.vectors is None and examples.spec.use_text_vec
        text_table = self.encode_table(examples) if finetuned else None
        out = []
        for start in range(0, len(examples), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(examples)))
            batch = examples.batch(idx)
            if text_table is not None:
                rows = batch.pop("text_row")
                batch["text"] = text_table[rows.clamp(min=0)] * batch["valid"].unsqueeze(-1)
            batch = {k: v.to(_device_of(net)) for k, v in batch.items()}
            out.append(net(batch).float().cpu())
        net.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros((0, 2), np.float32)

    @torch.no_grad()
    def encode_table(self, examples: Examples, chunk: int = 64) -> torch.Tensor:
        """Fine-tune mode: vectors of every table row, each distinct text encoded once."""
        tokens = self.state["tokens_fn"](examples.table.frame["text"].tolist())
        device = _device_of(self.net)
        vectors = []
        for start in range(0, tokens["unique_ids"].shape[0], chunk):
            ids = tokens["unique_ids"][start:start + chunk]
            att = tokens["unique_mask"][start:start + chunk]
            width = int(att.sum(dim=1).max())
            vectors.append(self.net.encode_texts(ids[:, :width].to(device), att[:, :width].to(device)).float().cpu())
        unique = torch.cat(vectors)
        return unique[tokens["row_to_unique"]]

    # -- bundle --------------------------------------------------------------------------------

    def save(self, folder) -> Path:
        """Write the fitted model as a bundle folder (read back by ``vatrack.load_model``)."""
        if self.net is None:
            raise VatrackError("nothing to save: the sequence model is not fitted")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in self.state.items() if k not in ("tokens_fn", "tokenizer")}
        saved = {"config": self.config.model_dump(), "seed": self.seed, "val": self.val, "state": state,
                 "text_dim": self.state["text_dim"], "fit_info": self.fit_info}
        with atomic_path(folder / "weights.pt") as tmp:
            torch.save({k: v.cpu() for k, v in self.net.state_dict().items()}, tmp)
        if self.net.encoder is not None:
            self.state["tokenizer"].save_pretrained(folder / "encoder")
            self.net.encoder.config.save_pretrained(folder / "encoder")
        save_bundle(folder, self.kind, saved, meta={"preset": self.config.name, "encoder": self.config.encoder.name,
                                                    "encoder_mode": self.config.encoder.mode})
        return folder

    @classmethod
    def from_bundle(cls, folder) -> "SequenceRegressor":
        """The fitted model saved in ``folder``."""
        folder = Path(folder)
        meta = read_meta(folder)
        if meta.get("kind") != cls.kind:
            raise VatrackError(f"{folder}: holds a '{meta.get('kind')}' model, not a sequence model")
        saved = load_state(folder, keys=("config", "seed", "val", "state", "text_dim"))
        if not isinstance(saved["config"], dict) or not isinstance(saved["state"], dict):
            raise VatrackError(f"{folder / 'state.pkl'}: not the state of a sequence model; retrain the model")
        model = cls(make_config(saved["config"], f"{folder}/state.pkl"), seed=saved["seed"], val=saved["val"])
        model.state, model.fit_info = saved["state"], saved.get("fit_info", {})
        _upgrade_state(model.state)
        encoder, normalize = None, False
        if model.config.encoder.mode == "finetune":
            encoder, normalize = model._load_bundle_encoder(folder / "encoder")
        model.net = model.build_net(saved["text_dim"], encoder=encoder, normalize=normalize)
        try:
            weights = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
            model.net.load_state_dict(weights)
        except FileNotFoundError:
            raise VatrackError(f"{folder / 'weights.pt'}: model weights missing; the run folder is incomplete, retrain the model") from None
        except Exception as err:
            raise VatrackError(f"{folder / 'weights.pt'}: corrupted model weights ({type(err).__name__}); retrain the model") from None
        model.net.eval()
        return model

    def _load_bundle_encoder(self, folder: Path):
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))
        except Exception as err:
            raise VatrackError(f"{folder}: fine-tuned encoder files unreadable ({type(err).__name__}); retrain the model") from None
        self.state["tokenizer"] = tokenizer
        self.state["tokens_fn"] = make_tokens_fn(tokenizer, self.config.encoder.max_length)
        return encoder, bool(self.state.get("normalize", False))


def _upgrade_state(state: dict) -> None:
    """A bundle's state as an older vatrack wrote it -> today's keys (in place)."""
    if "blend_model" in state:  # before blends were {method: weight}
        state["blend"] = {"ridge+user": state.pop("blend_model")}
    if "text_ridge" in state and not isinstance(state["text_ridge"], TextRidgeFeature):
        # before the feature transformer: the ridge, and its values as history columns
        feature = TextRidgeFeature(alphas=())
        feature.ridge = state["text_ridge"]
        feature.stored = state["history"][["user_id", "text_id", "ridge_v", "ridge_a"]].reset_index(drop=True)
        state["text_ridge"] = feature


def _device_of(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def _check_training_frame(train: pd.DataFrame) -> pd.DataFrame:
    train = diary_frame(train, "train", labels=True)
    if len(train) < 2:
        raise VatrackError("the sequence model needs at least 2 training rows")
    return sort_diary(train)


def _as_query(inputs: pd.DataFrame) -> pd.DataFrame:
    return diary_frame(inputs, "inputs")


def clone_unfitted(model: SequenceRegressor) -> SequenceRegressor:
    """A fresh estimator with the same configuration (used by refit)."""
    fresh = copy.copy(model)
    fresh.net, fresh.state, fresh.fit_info = None, {}, {}
    fresh.trainer_options = dict(model.trainer_options)  # its own: a refit must not change the original's
    return fresh
