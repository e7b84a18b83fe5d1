"""Text -> vector: tokenise, run the transformer, mean-pool, cache.

Pooling (the same for every encoder): the mean of the last hidden states over the real
tokens (attention mask), as sentence-transformers does for MiniLM and MPNet, which were
trained that way. The vector is L2-normalised only when the model folder's
sentence-transformers ``modules.json`` ends in a ``Normalize`` module (true for minilm and
mpnet, false for a plain Hugging Face model). Other sentence-transformers modules
(e.g. ``Dense``) are not applied. Texts are truncated to ``max_length`` tokens.

torch and transformers are imported lazily: a fully warm ``encode`` never loads a model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np

from vatrack.encoders.lexicon import LEXICON_NAME, LexiconEncoder
from vatrack.encoders.sources import ModelSource, allow_download, cache_dir, resolve
from vatrack.encoders.store import VectorStore
from vatrack.errors import VatrackError
from vatrack.progress import bar

# identity -> {text key -> vector}; shared by every encoder of one identity in this process.
_MEMORY: dict[str, dict[bytes, np.ndarray]] = {}
# (identity, device, batch_size) -> encoder, so repeated get_encoder calls reuse the loaded model.
_ENCODERS: dict[tuple, TextEncoder] = {}

_FLUSH_EVERY = 1024  # new vectors are written to disk in groups, so an interrupted run keeps most


# --- torch building blocks (also used by the fine-tuning model) --------------------------


def mean_pool(last_hidden_state, attention_mask):
    """Mean of ``last_hidden_state`` (B, T, H) over positions where ``attention_mask`` (B, T) is 1."""
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    summed = (last_hidden_state * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def _token_limit(tokenizer, max_length: int) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 100_000:  # tokenizers without a limit report ~1e30
        return min(max_length, limit)
    return max_length


def tokenize(tokenizer, texts: Sequence[str], max_length: int):
    """Pad to the longest text in the batch, truncate at ``max_length`` tokens; torch tensors."""
    return tokenizer(list(texts), padding=True, truncation=True, max_length=_token_limit(tokenizer, max_length),
                     return_tensors="pt")


def make_tokens_fn(tokenizer, max_length: int) -> "TokensFn":
    """texts -> {unique_ids, unique_mask (U, T), row_to_unique (n,)}: distinct texts tokenised once
    (fine-tune mode: a batch encodes each distinct text once, whatever windows it sits in)."""
    return TokensFn(tokenizer, max_length)


class TokensFn:
    """A class, not a closure, so a fitted fine-tune model pickles (``--jobs`` workers return it)."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, int(max_length)

    def __call__(self, texts) -> dict:
        import pandas as pd
        import torch

        codes, uniques = pd.factorize(pd.Series(texts, dtype=object))
        batch = tokenize(self.tokenizer, [str(t) for t in uniques], self.max_length)
        return {"unique_ids": batch["input_ids"], "unique_mask": batch["attention_mask"],
                "row_to_unique": torch.from_numpy(np.asarray(codes, np.int64))}


def encode_tokens(model, batch, normalize: bool = False):
    """Run ``model`` on a tokenised ``batch`` and mean-pool; differentiable (no no_grad here)."""
    import torch.nn.functional as F

    output = model(**batch)
    hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
    pooled = mean_pool(hidden, batch["attention_mask"])
    return F.normalize(pooled, p=2, dim=-1) if normalize else pooled


def load_torch_model(name: str | ModelSource = "minilm", device: str | None = None):
    """A fresh ``(tokenizer, model)`` pair for ``name``, e.g. to fine-tune it.

    The model is a plain ``transformers`` ``AutoModel`` (no pooling head) on ``device``, in
    eval mode as ``from_pretrained`` leaves it; call ``.train()`` to fine-tune. Pool its
    output with :func:`encode_tokens` / :func:`mean_pool`.
    """
    source = name if isinstance(name, ModelSource) else resolve(name)
    if not allow_download():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: never touch the network
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # transformers prints a "Loading weights" bar per load; keep the CLI output clean.
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.folder, local_files_only=True)
        model = AutoModel.from_pretrained(source.folder, local_files_only=True)
    except Exception as exc:
        why = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise VatrackError(f"encoder '{source.name}' cannot be loaded from {source.folder}: {why}") from None
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    try:
        return tokenizer, model.to(_pick_device(device))
    except (RuntimeError, AssertionError) as exc:  # e.g. device="cuda" on a CPU-only machine
        raise VatrackError(f"encoder '{source.name}' cannot be moved to device {device!r}: {exc}") from None


def _pick_device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def text_key(text: str) -> bytes:
    """Cache key of one text: 16-byte blake2b of its UTF-8 bytes."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


# --- the cached encoder -----------------------------------------------------------------


class TextEncoder:
    """Frozen sentence encoder with an in-process and an on-disk vector cache.

    ``identity`` names the weights, pooling and ``max_length``; it is the cache namespace,
    so any change to the model files gives fresh vectors instead of stale ones.
    """

    def __init__(self, source: ModelSource, max_length: int = 128, device: str | None = None, batch_size: int = 32):
        self.source = source
        self.name = source.name
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.normalize = source.normalize
        self.identity = source.identity(self.max_length)
        self._device = device
        self._tokenizer = None
        self._model = None
        self._dim = source.dim
        self._memory = _MEMORY.setdefault(self.identity, {})

    def __repr__(self) -> str:
        return f"TextEncoder(name={self.name!r}, identity={self.identity!r}, dim={self.dim}, max_length={self.max_length})"

    @property
    def dim(self) -> int:
        if self._dim is None:  # config.json did not say; ask the loaded model
            self._dim = int(self.model.config.hidden_size)
        return self._dim

    @property
    def device(self) -> str:
        return _pick_device(self._device)

    @property
    def tokenizer(self):
        self._load()
        return self._tokenizer

    @property
    def model(self):
        self._load()
        return self._model

    def _load(self) -> None:
        if self._model is None:
            self._tokenizer, model = load_torch_model(self.source, self._device)
            self._model = model.eval()

    @property
    def cache_path(self):
        """SQLite file holding this encoder's vectors (resolved now: ``$VATRACK_CACHE`` may change)."""
        return cache_dir() / "embeddings" / f"{self.identity}.sqlite"

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """float32 array (len(texts), dim); only texts in neither cache reach the model."""
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise VatrackError(f"encoder '{self.name}': text at position {i} is {type(text).__name__}, not a string")
        keys = [text_key(t) for t in texts]
        wanted = {k: t for k, t in zip(keys, texts) if k not in self._memory}  # unique, first text wins
        if wanted:
            store = VectorStore(self.cache_path, self.dim)
            self._memory.update(store.get(list(wanted)))
            misses = [(k, t) for k, t in wanted.items() if k not in self._memory]
            if misses:
                self._embed_misses(misses, store, progress)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = self._memory[key]
        return out

    def _embed_misses(self, misses: list[tuple[bytes, str]], store: VectorStore, progress: bool) -> None:
        pending: list[tuple[bytes, np.ndarray]] = []
        with bar(len(misses), f"encoding with {self.name}", unit="texts", enabled=progress) as advance:
            for chunk, vectors in self._batches([t for _, t in misses]):
                for i, vec in zip(chunk, vectors):
                    key = misses[i][0]
                    self._memory[key] = vec
                    pending.append((key, vec))
                if len(pending) >= _FLUSH_EVERY:
                    store.put(pending)
                    pending = []
                advance(len(chunk))
        store.put(pending)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Compute vectors without touching either cache (for checks and benchmarks)."""
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for chunk, vectors in self._batches(texts):
            out[chunk] = vectors
        return out

    def _batches(self, texts: list[str]):
        """Yield (indices, vectors) batch by batch; a batch holds texts of one token length.

        With no padding in any batch, a text's vector does not depend on which other texts
        were encoded with it (padding changed the last bits, ~1e-7, so the cache kept
        whichever vector came first). Equal lengths also waste no compute on padding.
        """
        import torch

        tokenizer, limit = self.tokenizer, _token_limit(self.tokenizer, self.max_length)
        lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: (-lengths[i], i))
        model, device = self.model, self.device
        start = 0
        while start < len(order):
            stop = start + 1
            while stop < len(order) and stop - start < self.batch_size and lengths[order[stop]] == lengths[order[start]]:
                stop += 1
            chunk = order[start:stop]
            batch = tokenize(tokenizer, [texts[i] for i in chunk], self.max_length).to(device)
            with torch.inference_mode():
                pooled = encode_tokens(model, batch, self.normalize)
            yield chunk, pooled.float().cpu().numpy()
            start = stop


def get_encoder(name: str = "minilm", max_length: int = 128, device: str | None = None, batch_size: int = 32) -> TextEncoder:
    """The encoder for ``name`` (minilm, mpnet, lexicon, a local model folder or an HF id).

    ``lexicon`` is not a transformer: 16 affect-lexicon features (VADER, NRC EmoLex), see
    vatrack.encoders.lexicon. Names joined by '+' ("minilm+mpnet+lexicon") are concatenated.

    Cheap: weights load only when a text misses the cache. Encoders are memoised per
    process, so a CV loop calling this per fold loads the model once.
    """
    parts = encoder_parts(name)
    if len(parts) > 1:
        return ConcatEncoder([get_encoder(part, max_length, device, batch_size) for part in parts])
    if name == LEXICON_NAME:  # affect-lexicon features (vatrack.encoders.lexicon), no model to load
        return LexiconEncoder(max_length=max_length)
    if not isinstance(max_length, int) or max_length < 2:
        raise VatrackError(f"encoder max_length must be an integer >= 2, got {max_length!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise VatrackError(f"encoder batch_size must be a positive integer, got {batch_size!r}")
    source = resolve(name)
    if source.max_positions and max_length > source.max_positions:
        raise VatrackError(f"encoder '{name}': max_length {max_length} exceeds the model's {source.max_positions} positions")
    key = (source.identity(max_length), device, batch_size)
    if key not in _ENCODERS:
        _ENCODERS[key] = TextEncoder(source, max_length=max_length, device=device, batch_size=batch_size)
    return _ENCODERS[key]


def encoder_parts(name, param: str = "encoder") -> list[str]:
    """The encoders a name joins: "minilm+mpnet" -> ["minilm", "mpnet"] (a folder whose path
    holds '+' is one); a name that is not a string is a one-line VatrackError naming ``param``."""
    if not isinstance(name, str):
        raise VatrackError(f"`{param}` must be an encoder name (minilm, mpnet, lexicon, a Hugging Face id, a local "
                           f"model folder, or several joined by +), got {name!r}")
    if "+" in name and not os.path.exists(name):
        return [part.strip() for part in name.split("+")]
    return [name]


def check_encoder(name, param: str = "encoder") -> None:
    """The one-line VatrackError ``get_encoder`` would raise for ``name``, naming ``param``, without
    loading any weights: for a check before long work that uses the encoder only at its end."""
    for part in encoder_parts(name, param):
        if part != LEXICON_NAME:
            try:
                resolve(part)
            except VatrackError as err:
                raise VatrackError(f"`{param}`: {err}") from None


class ConcatEncoder:
    """Several encoders side by side ("minilm+mpnet", "minilm+lexicon"): their vectors concatenated.

    Each part keeps its own cache, so adding a part never re-embeds the others. Frozen
    use only: fine-tuning needs one transformer.
    """

    def __init__(self, parts: list[TextEncoder | LexiconEncoder]):
        if not parts or any(not isinstance(p, (TextEncoder, LexiconEncoder)) for p in parts):
            raise VatrackError("an encoder combination needs two or more plain encoders, e.g. minilm+mpnet")
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        self.identity = "+".join(p.identity for p in parts)
        self.dim = sum(p.dim for p in parts)
        self.max_length = parts[0].max_length

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        return np.hstack([p.encode(texts, progress=progress) for p in self.parts])


def clear_memory_cache() -> None:
    """Forget the in-process vectors (loaded models and the disk cache stay)."""
    for vectors in _MEMORY.values():
        vectors.clear()  # in place: live encoders hold references to these dicts
