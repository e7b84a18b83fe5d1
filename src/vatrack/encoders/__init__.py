"""Text -> vectors: packaged MiniLM (offline default), MPNet pack, any HF folder or id; cached.

>>> enc = get_encoder("minilm", max_length=128)
>>> X = enc.encode(texts)          # float32 (n, 384), cached under $VATRACK_CACHE

Modules, in reading order: ``sources`` (name -> model folder, MPNet unpacking, cache root),
``store`` (SQLite vector cache), ``lexicon`` (affect-lexicon features, the ``lexicon`` encoder),
``encoder`` (pooling, TextEncoder, get_encoder).
"""

from vatrack.encoders.encoder import (
    ConcatEncoder,
    TextEncoder,
    check_encoder,
    clear_memory_cache,
    encode_tokens,
    encoder_parts,
    get_encoder,
    load_torch_model,
    mean_pool,
    text_key,
    make_tokens_fn,
    tokenize,
)
from vatrack.encoders.lexicon import LEXICON_FEATURES, LexiconEncoder
from vatrack.encoders.sources import ModelSource, cache_dir, install_mpnet, resolve

__all__ = [
    "ModelSource",
    "ConcatEncoder",
    "LEXICON_FEATURES",
    "LexiconEncoder",
    "TextEncoder",
    "cache_dir",
    "check_encoder",
    "clear_memory_cache",
    "encode_tokens",
    "encoder_parts",
    "get_encoder",
    "install_mpnet",
    "load_torch_model",
    "mean_pool",
    "resolve",
    "text_key",
    "make_tokens_fn",
    "tokenize",
]
