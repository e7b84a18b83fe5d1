"""Training wall time: vatrack (Lightning) vs a bare PyTorch loop, same model, same batches.

Reproduce (warm encoder cache; 2 cores):
    .venv/bin/python benchmarks/bench_train.py --data ../shared/data/semeval2026-task2/train_subtask1.csv \
        --preset v3.3 --epochs 20 --threads 2

Both sides get the same preparation (inner validation split, features, cached vectors,
initial weights, batch sampler), the same optimiser, schedule and clipping, and run the same
number of epochs (early stopping is switched off by patience = epochs so the two do equal
work). The bare loop also runs the validation forward pass every epoch; vatrack in addition
computes the official metrics, writes history.csv and the best checkpoint — that is the
framework cost being measured. Without --data, synthetic diaries of a similar size are used.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="labelled training CSV (default: synthetic diaries)")
    p.add_argument("--preset", default="v3.3")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--val", default="cv", choices=["cv", "none"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], help="preset override key=value")
    p.add_argument("--order", default="bare-first", choices=["bare-first", "vatrack-first"])
    p.add_argument("--users", type=int, default=137, help="synthetic diaries only: number of users")
    return p.parse_args()


def load(args):
    from vatrack.data import load_diary, make_diaries

    if args.data:
        return load_diary(args.data, require_labels=True)
    return make_diaries(n_users=args.users, texts_per_user=(5, 35), seed=0)


def bare_loop(config, train, seed: int, val: str) -> tuple[float, int]:
    """What one would write by hand around the same model and batches; returns (seconds, steps)."""
    from vatrack.models.sequence import SequenceRegressor
    from vatrack.protocols import strip_labels
    from vatrack.training.data import TrainWindows, eval_loader, train_loader
    from vatrack.training.losses import weighted_ccc_mse
    from vatrack.training.module import cosine_with_warmup, make_optimizer
    from vatrack.training.trainer import inner_split

    started = time.perf_counter()
    run, optim = config.trainer, config.optim
    model = SequenceRegressor(config, seed=seed, val=val)
    torch.manual_seed(seed)
    net_rows, val_rows = inner_split(train, run.val_folds, seed) if val == "cv" else (train, None)
    examples = model._init_state(net_rows, history=train)
    model.state["text_dim"] = examples.vectors.shape[1]
    torch.manual_seed(seed)
    net = model.build_net(examples.vectors.shape[1])
    data = TrainWindows(examples, run.unseen_prob, run.min_visible_frac, run.user_dropout, run.mixup_alpha)
    loader = train_loader(data, run.batch_size, seed)
    val_batches = []
    if val_rows is not None:
        val_examples, _ = model.query_examples(strip_labels(val_rows), history=net_rows)
        val_batches = list(eval_loader(val_examples, run.eval_batch_size))
    optimizer = make_optimizer(net, optim)
    total = math.ceil(len(loader) / run.grad_accum) * run.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total, optim.warmup))
    weights = (optim.ccc_weight_valence, optim.ccc_weight_arousal)
    steps = 0
    for epoch in range(run.epochs):
        loader.sampler.set_epoch(epoch)
        net.train()
        for i, batch in enumerate(loader):
            loss, _ = weighted_ccc_mse(net(batch), batch["y"], weights, optim.label_smoothing, net.label_mean)
            (loss / run.grad_accum).backward()
            if (i + 1) % run.grad_accum == 0 or i + 1 == len(loader):
                if run.grad_clip:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), run.grad_clip)
                optimizer.step()
                optimizer.zero_grad()
                schedule.step()
            steps += 1
        net.eval()
        with torch.no_grad():
            for batch in val_batches:
                net(batch)
    return time.perf_counter() - started, steps


def vatrack_fit(config, train, seed: int, val: str) -> tuple[float, dict]:
    from vatrack.models.sequence import SequenceRegressor

    with tempfile.TemporaryDirectory() as tmp:
        model = SequenceRegressor(config, seed=seed, val=val, run_dir=Path(tmp))
        started = time.perf_counter()
        model.fit(train)
        return time.perf_counter() - started, model.fit_info


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    from vatrack.models.presets import resolve_config

    config = resolve_config(args.preset, overrides=[*args.overrides, f"epochs={args.epochs}", f"patience={args.epochs}"])
    train = load(args)
    # Warm the vector cache (and imports) outside both timings.
    from vatrack.encoders import get_encoder

    get_encoder(config.encoder.name, max_length=config.encoder.max_length).encode(train["text"].tolist(), progress=True)

    runs = ["bare", "vatrack"]
    if args.order == "vatrack-first":
        runs.reverse()
    results, peak_mb = {}, {}
    for name in runs:
        if name == "bare":
            seconds, steps = bare_loop(config, train, args.seed, args.val)
            results["bare"] = (seconds, steps)
        else:
            results["vatrack"] = vatrack_fit(config, train, args.seed, args.val)
        # Peak RSS of the process so far (Linux: KiB): the later loop's figure includes the first's.
        peak_mb[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bare_s, steps = results["bare"]
    vt_s, info = results["vatrack"]
    print()
    print(f"preset {config.name}, {len(train)} rows, val={args.val}, {config.trainer.epochs} epochs, batch {config.trainer.batch_size}, "
          f"{torch.get_num_threads()} threads, {steps} training steps each")
    print(f"{'loop':<10}{'wall s':>10}{'ms/step':>10}{'epochs':>8}{'epochs/s':>10}{'peak RSS MB':>13}")
    for name, seconds, epochs in (("bare", bare_s, config.trainer.epochs), ("vatrack", vt_s, info["epochs_run"])):
        print(f"{name:<10}{seconds:>10.1f}{1000 * seconds / steps:>10.1f}{epochs:>8}{epochs / seconds:>10.3f}"
              f"{peak_mb[name]:>13.0f}")
    print(f"ratio vatrack / bare: {vt_s / bare_s:.2f}x   (peak RSS is the process's so far: the second loop's "
          f"includes the first's)")
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))


if __name__ == "__main__":
    main()
