"""Shared fixtures: synthetic task files, an isolated encoder cache, a tiny local BERT."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vatrack.data import make_official_like, write_csv_like_official

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "semeval2026-task2"


def shared_file(name: str) -> Path:
    """A file of the real task data, or skip the test when the data is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real task data not found at {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    # One cache for the whole session: tests never touch the user's cache, and encoders
    # are paid for once per session.
    os.environ["VATRACK_CACHE"] = str(tmp_path_factory.mktemp("vatrack-cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    yield


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # `make test` runs two pytest workers on two cores: one torch thread each avoids
    # oversubscription (two threads per worker made small models several times slower).
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_split():
    """(train, test-with-gold) synthetic frames shaped like the official task."""
    return make_official_like(n_users=40, seed=3)


@pytest.fixture
def task_files(tmp_path, synthetic_split):
    """Paths of synthetic train.csv, test_inputs.csv (no labels) and gold.csv."""
    train, test = synthetic_split
    paths = {"train": tmp_path / "train.csv", "test": tmp_path / "test_inputs.csv", "gold": tmp_path / "gold.csv"}
    write_csv_like_official(train, paths["train"])
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), paths["test"])
    test[["user_id", "text_id", "valence", "arousal", "is_seen_user"]].to_csv(paths["gold"], index=False)
    return paths


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with its own WordPiece vocab, saved locally."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = ["happy", "sad", "tired", "calm", "angry", "day", "work", "i", "feel", "am", "the", "and", "a", "."]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"],
             *list("abcdefghijklmnopqrstuvwxyz")]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    import torch

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the vatrack console entry point in-process; returns (exit code, stdout, stderr)."""
    from vatrack.cli import main

    old = sys.argv
    sys.argv = ["vatrack", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err
