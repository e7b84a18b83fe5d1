"""Batches for Lightning: a seeded batch sampler, the training dataset with visible-label
simulation, and fixed evaluation batches.

Why training simulates what prediction will see
------------------------------------------------
At prediction time the model never sees the label of the text it predicts nor of the
texts just before it: unseen users have no visible label at all, and a seen user's test
texts come after *all* of their visible (training) labels, often many entries later. A
model trained with every previous label visible would lean on lag 1 and then meet masks
and fills it never saw. So each training example draws a scenario, fresh every epoch:

* with probability ``unseen_prob``: an unseen user — no visible label (cutoff 0) and the
  unknown-user slot;
* otherwise a seen user whose labels are visible only before entry ``cutoff``, drawn
  uniformly from [ceil(min_visible_frac * t), t] for a target at entry t: from "all
  previous labels visible" to "the last ~70% of the user's entries hidden", which spans
  the official test (seen users' latest texts held out);
* independently, with probability ``user_dropout``: the unknown-user slot (an unseen-like
  user that still has visible labels, which is what a user held out by early-stopping
  validation looks like later).

All randomness of a batch comes from one seed derived from (run seed, epoch, batch), so
training is deterministic and a resumed epoch replays the same batches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vatrack.features import Examples


class SeededBatchSampler(Sampler):
    """Yields {"index": LongTensor, "seed": int} per batch; the order depends on (seed, epoch).

    ``contiguous``: batches are runs of consecutive examples (examples are in user, time
    order, so a batch is a stretch of one user's timeline) taken in shuffled order, with a
    random phase per epoch so the cut points move. Windows of neighbouring targets share
    texts, so fine-tuning encodes about ``batch + seq_length - 1`` texts per batch instead
    of ``batch * seq_length``. Otherwise examples are shuffled individually.

    Under DDP each rank takes every world_size-th batch of the same order (padded so all
    ranks step equally often); Lightning calls ``set_epoch`` before every epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool = True, contiguous: bool = False):
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.contiguous = contiguous
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _world(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _n_batches(self) -> int:
        return math.ceil(self.n / self.batch_size) + (1 if self.contiguous and self.batch_size > 1 else 0)

    def __len__(self) -> int:
        _, world = self._world()
        return math.ceil(self._n_batches() / world)

    def __iter__(self):
        rank, world = self._world()
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.contiguous:
            phase = int(rng.integers(self.batch_size)) if self.shuffle else 0
            cuts = [0, *range(phase or self.batch_size, self.n, self.batch_size), self.n]
            batches = [np.arange(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
            if self.shuffle:
                batches = [batches[i] for i in rng.permutation(len(batches))]
            while len(batches) < self._n_batches():  # a fixed count per epoch, whatever the phase
                batches.append(batches[len(batches) % max(len(batches), 1)])
        else:
            order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
            batches = [order[i:i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        seeds = rng.integers(0, 2**62, size=len(batches))
        total = len(self) * world
        picks = [i % len(batches) for i in range(total)]  # wrap around to pad the last ranks
        for i in picks[rank::world]:
            yield {"index": torch.from_numpy(batches[i]), "seed": int(seeds[i])}


class TrainWindows(Dataset):
    """Assembles a whole training batch per item (the sampler hands over batch indices)."""

    def __init__(self, examples: Examples, unseen_prob: float, min_visible_frac: float, user_dropout: float,
                 mixup_alpha: float = 0.0, tokens: dict | None = None):
        self.examples = examples
        self.unseen_prob, self.min_visible_frac, self.user_dropout = unseen_prob, min_visible_frac, user_dropout
        self.mixup_alpha = mixup_alpha
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, item: dict) -> dict:
        idx = item["index"]
        rng = np.random.default_rng(item["seed"])
        b = len(idx)
        t = self.examples.pos[idx].numpy()
        low = np.ceil(self.min_visible_frac * t)
        cutoff = low + np.floor(rng.random(b) * (t - low + 1))
        unseen = rng.random(b) < self.unseen_prob
        cutoff = np.where(unseen, 0, cutoff).astype(np.int64)
        drop = unseen | (rng.random(b) < self.user_dropout)
        user = torch.where(torch.from_numpy(drop), torch.zeros_like(idx), self.examples.user[idx])
        batch = self.examples.batch(idx, cutoff=torch.from_numpy(cutoff), user=user)
        if self.mixup_alpha > 0 and b > 1:
            batch["num"] = _mixup_numeric(batch["num"], batch["valid"], rng, self.mixup_alpha)
        if self.tokens is not None and "text_row" in batch:
            batch.update(unique_tokens(batch.pop("text_row"), self.tokens))
        return batch


def _mixup_numeric(num: torch.Tensor, valid: torch.Tensor, rng, alpha: float) -> torch.Tensor:
    """Mix each example's numeric features with a random partner's (feature-space mixup).

    Only numeric features are mixed and the targets are kept: the text vector still names
    the example, so this acts as structured noise on the hand-made features. lambda is
    folded to >= 0.5 so the example itself always dominates.
    """
    lam = rng.beta(alpha, alpha, size=num.shape[0])
    lam = torch.from_numpy(np.maximum(lam, 1.0 - lam).astype(np.float32)).view(-1, 1, 1)
    partner = torch.from_numpy(rng.permutation(num.shape[0]))
    mixed = lam * num + (1.0 - lam) * num[partner]
    return mixed * valid.unsqueeze(-1)


def unique_tokens(text_row: torch.Tensor, tokens: dict) -> dict:
    """Fine-tune mode: the batch's distinct texts, tokenised, and each step's slot among them.

    ``tokens`` maps table rows to distinct texts (row_to_unique) and holds their token ids.
    Encoding only these (not every window position) cuts encoder passes by ~seq_length.
    """
    valid = text_row >= 0
    text_of_step = tokens["row_to_unique"][text_row.clamp(min=0)]
    wanted, inverse = torch.unique(text_of_step[valid], return_inverse=True)
    slot = torch.full_like(text_row, -1)
    slot[valid] = inverse
    ids, att = tokens["unique_ids"][wanted], tokens["unique_mask"][wanted]
    width = int(att.sum(dim=1).max()) if len(wanted) else 1
    return {"input_ids": ids[:, :width], "attention_mask": att[:, :width], "text_slot": slot}


def train_loader(dataset: TrainWindows, batch_size: int, seed: int, contiguous: bool = False) -> DataLoader:
    # batch_size=None: the sampler yields whole batches and the dataset assembles them, so
    # there is no per-row collate (num_workers=0: the work per batch is a few gathers).
    sampler = SeededBatchSampler(len(dataset), batch_size, seed, contiguous=contiguous)
    return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=0, collate_fn=_identity,
                      generator=_private_generator(seed))


class FixedBatches(Dataset):
    """Pre-assembled evaluation batches (validation inputs do not change between epochs)."""

    def __init__(self, batches: list[dict]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict:
        return self.batches[i]


def eval_loader(examples: Examples, batch_size: int, vectors: torch.Tensor | None = None) -> DataLoader:
    """Prediction-mode batches (no cutoff, real users). In fine-tune mode ``vectors`` holds the
    table's text vectors computed by the current encoder, refreshed by the caller per epoch."""
    batches = []
    for start in range(0, len(examples), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(examples)))
        batch = examples.batch(idx)
        batch["example"] = idx
        batches.append(batch)
    return DataLoader(FixedBatches(batches), batch_size=None, shuffle=False, num_workers=0, collate_fn=_identity,
                      generator=_private_generator(0))


def _private_generator(seed: int) -> torch.Generator:
    # A DataLoader draws a base seed each time an iterator is made, from torch's global RNG
    # unless it has its own generator. Lightning makes the first iterator of a fit before
    # on_train_epoch_start and later ones after it, so that draw would shift the dropout
    # masks of a resumed run against an uninterrupted one. A private generator keeps the
    # global RNG (seeded per epoch) for the network alone.
    return torch.Generator().manual_seed(int(seed))


def _identity(x):
    return x
