"""Fine-tune mode: encoder passes per epoch, vatrack's per-batch unique texts vs naive windows.

Reproduce:
    .venv/bin/python benchmarks/bench_encoder_passes.py --data ../shared/data/semeval2026-task2/train_subtask1.csv --preset v3.3

"naive" re-encodes every window position of every example (batch * seq_length texts per
step, the seed's way); vatrack encodes each distinct text of a batch once and scatters the
vectors to every position that holds it. Counted for one epoch under both batch orders
(``shuffle``: examples drawn individually; ``contiguous``: runs of one user's timeline, the
fine-tune default). Then one real fine-tune epoch (``--encoder``, default a tiny random BERT
built in a temp folder so it runs in seconds on a CPU; pass ``--encoder minilm`` for the real
thing, ~1 s per batch on a CPU) reports the passes its training loop counted and logged.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="labelled training CSV (default: synthetic diaries)")
    p.add_argument("--preset", default="v3.3")
    p.add_argument("--encoder", help="encoder for the measured epoch (default: a tiny random BERT)")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args()


def count_passes(examples, batch_size: int, contiguous: bool) -> tuple[int, int, int]:
    """(batches, naive passes, unique-text passes) for one epoch of training batches."""
    from vatrack.training.data import SeededBatchSampler, unique_tokens

    codes = torch.from_numpy(pd.factorize(examples.table.frame["text"])[0])
    tokens = {"row_to_unique": codes, "unique_ids": codes[:, None], "unique_mask": torch.ones(len(codes), 1, dtype=torch.long)}
    batches = naive = unique = 0
    for item in SeededBatchSampler(len(examples), batch_size, seed=0, contiguous=contiguous):
        win = examples.win[item["index"]]
        batches += 1
        naive += int((win >= 0).sum())
        unique += int(unique_tokens(win, tokens)["input_ids"].shape[0])
    return batches, naive, unique


def tiny_bert(folder: Path) -> str:
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    words = "i feel am the a and to was my me it day today work good bad happy sad tired calm".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *"abcdefghijklmnopqrstuvwxyz"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(folder)
    return str(folder)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    from vatrack.data import load_diary, make_diaries
    from vatrack.models.presets import resolve_config
    from vatrack.features import Examples, build_table, label_stats, standardiser

    train = load_diary(args.data, require_labels=True) if args.data else make_diaries(n_users=137, texts_per_user=(5, 35))
    overrides = [f"batch_size={args.batch_size}"] if args.batch_size else []
    config = resolve_config(args.preset, overrides=overrides)
    table = build_table(train)
    examples = Examples(table, config.features, standardiser(table.static), label_stats(table.labels),
                        [0] * len(table), vectors=None)
    print(f"preset {config.name}: {len(train)} training rows, seq_length {config.features.seq_length}, batch {config.trainer.batch_size}")
    print(f"{'batch order':<14}{'batch':>6}{'batches':>9}{'naive':>10}{'vatrack':>10}{'ratio':>8}")
    for order, contiguous, size in (("shuffle", False, config.trainer.batch_size), ("contiguous", True, config.trainer.batch_size),
                                    ("contiguous", True, 32), ("contiguous", True, 128)):
        batches, naive, unique = count_passes(examples, size, contiguous)
        print(f"{order:<14}{size:>6}{batches:>9}{naive:>10}{unique:>10}{naive / unique:>8.2f}")
    mean_window = float((examples.win >= 0).sum()) / len(examples)
    print(f"(contiguous: about batch + seq_length - 1 texts per batch, so the ratio tends to the mean window "
          f"length, {mean_window:.2f} here: seq_length {config.features.seq_length} minus the padding at each user's start)")

    from vatrack.models.sequence import SequenceRegressor

    with tempfile.TemporaryDirectory() as tmp:
        encoder = args.encoder or tiny_bert(Path(tmp))
        model = SequenceRegressor(config, encoder=encoder, mode="finetune", seed=0, val="none",
                                  overrides={"epochs": 1})
        started = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - started
    info = model.fit_info
    name = args.encoder or "tiny random BERT"
    print(f"measured fine-tune epoch ({name}, batch order {config.trainer.batch_order}): encoder passes {info['encoder_passes']}, "
          f"naive {info['encoder_naive_passes']}, ratio {info['encoder_naive_passes'] / info['encoder_passes']:.2f}, "
          f"{seconds:.1f} s")
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
