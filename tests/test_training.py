"""vatrack.training: stable CCC loss, schedule, seeded batches, visible-label simulation,
fine-tune batching, and the run folder written by `vatrack train` (history.csv, metrics.json)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from vatrack.data import make_diaries
from vatrack.evaluation.metrics import ccc as ccc_numpy
from vatrack.features import Examples, FeatureSpec, build_table, label_stats, standardiser
from vatrack.training.data import SeededBatchSampler, TrainWindows, unique_tokens
from vatrack.training.losses import ccc, weighted_ccc_mse
from vatrack.training.module import cosine_with_warmup

from conftest import run_cli

TINY = ["--set", "lstm_hidden=8", "--set", "lstm_layers=1", "--set", "fusion=[16]", "--set", "user_emb=4",
        "--set", "batch_size=32", "--set", "val_folds=3", "--set", "lr=3e-3"]




# --- losses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pred,target", [
    ([0.3], [1.0]),                       # a batch of one
    ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]),   # everything constant
    ([0.1, 0.5, 0.9], [2.0, 2.0, 2.0]),   # constant target
    ([0.0, 0.0], [-1.0, 2.0]),            # constant prediction
])
def test_ccc_loss_is_finite_with_finite_gradients_on_degenerate_batches(pred, target):
    p = torch.tensor(pred, requires_grad=True)
    y = torch.tensor(target)
    loss, per_dim = weighted_ccc_mse(torch.stack([p, p], 1), torch.stack([y, y], 1), (0.65, 0.75))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(per_dim).all()
    assert torch.isfinite(p.grad).all()


def test_ccc_matches_the_evaluation_metric():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50) * 0.5 + 0.3
    assert float(ccc(torch.tensor(a), torch.tensor(b))) == pytest.approx(ccc_numpy(a, b), abs=1e-5)
    assert float(ccc(torch.tensor(a), torch.tensor(a))) == pytest.approx(1.0, abs=1e-5)


def test_weighted_loss_mixes_ccc_and_mse_per_dimension():
    pred = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    target = torch.tensor([[0.5, 1.0], [1.0, 1.0], [1.5, 0.0]])
    c = torch.stack([ccc(pred[:, d], target[:, d]) for d in range(2)])
    mse = ((pred - target) ** 2).mean(0)
    loss, per_dim = weighted_ccc_mse(pred, target, (1.0, 0.0))
    assert float(loss) == pytest.approx(float(((1 - c[0]) + mse[1]) / 2), rel=1e-6)
    torch.testing.assert_close(per_dim, c)
    # label smoothing pulls the MSE target toward the given mean
    smooth, _ = weighted_ccc_mse(pred, target, (0.0, 0.0), label_smoothing=0.5, smoothing_mean=torch.tensor([1.0, 1.0]))
    expected = ((pred - (0.5 * target + 0.5)) ** 2).mean(0).mean()
    assert float(smooth) == pytest.approx(float(expected), rel=1e-6)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    f = cosine_with_warmup(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5, abs=1e-6)
    assert f(100) == pytest.approx(0.0, abs=1e-9)


# --- batches ------------------------------------------------------------------------------------


def test_batch_sampler_is_seeded_per_epoch_and_shards_by_rank(monkeypatch):
    sampler = SeededBatchSampler(23, 5, seed=7)
    first = [b["index"].tolist() for b in sampler]
    assert sorted(i for b in first for i in b) == list(range(23))
    assert first == [b["index"].tolist() for b in SeededBatchSampler(23, 5, seed=7)]
    sampler.set_epoch(1)
    assert [b["index"].tolist() for b in sampler] != first
    # two ranks: equal number of batches, together every batch of the epoch
    shards = []
    for rank in (0, 1):
        monkeypatch.setattr(SeededBatchSampler, "_world", lambda self, r=rank: (r, 2))
        shards.append([b["index"].tolist() for b in SeededBatchSampler(23, 5, seed=7)])
    assert len(shards[0]) == len(shards[1]) == 3
    assert {i for s in shards for b in s for i in b} == set(range(23))


def test_contiguous_batches_are_runs_of_consecutive_examples():
    sampler = SeededBatchSampler(50, 8, seed=3, contiguous=True)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = [b["index"].tolist() for b in sampler]
        assert len(batches) == len(sampler)
        assert {i for b in batches for i in b} == set(range(50))
        assert all(b == list(range(b[0], b[0] + len(b))) and len(b) <= 8 for b in batches)


def _examples(frame):
    table = build_table(frame)
    return Examples(table, FeatureSpec(), standardiser(table.static), label_stats(table.labels),
                    np.arange(len(table)) % 5 + 1, vectors=np.zeros((len(table), 4), np.float32))


def test_training_batches_simulate_unseen_users_and_hidden_tails():
    frame = make_diaries(n_users=8, seed=2)
    ex = _examples(frame)
    data = TrainWindows(ex, unseen_prob=0.3, min_visible_frac=0.5, user_dropout=0.0)
    spec = ex.spec
    n_static = len(spec.static_columns())
    lag_masks = slice(n_static + 2 * spec.n_lags, n_static + 3 * spec.n_lags)
    log_n = n_static + 3 * spec.n_lags + 1 + 4
    unseen = 0
    for b in SeededBatchSampler(len(ex), 64, seed=1):
        batch = data[b]
        masks = batch["num"][:, -1, lag_masks]
        n_visible = torch.expm1(batch["num"][:, -1, log_n] * math.log1p(100)).round().long()
        t = ex.pos[b["index"]]
        for row in range(len(t)):
            ti, c = int(t[row]), int(n_visible[row])  # all rows are known: visible count == cutoff
            if batch["user"][row] == 0:     # simulated unseen: nothing visible
                unseen += 1
                assert c == 0
            else:                           # seen: cutoff drawn in [ceil(t / 2), t]
                assert math.ceil(ti / 2) <= c <= ti
            expected = [float(0 <= ti - k < c) for k in range(1, spec.n_lags + 1)]
            assert masks[row].tolist() == expected
    assert 0.15 < unseen / len(ex) < 0.45
    again = data[next(iter(SeededBatchSampler(len(ex), 64, seed=1)))]
    first = data[next(iter(SeededBatchSampler(len(ex), 64, seed=1)))]
    torch.testing.assert_close(again["num"], first["num"])  # deterministic by seed


def test_fine_tune_batches_encode_each_distinct_text_once():
    texts = ["a", "b", "a", "c", "b", "a"]  # table rows 0..5
    codes = torch.tensor([0, 1, 0, 2, 1, 0])
    tokens = {"row_to_unique": codes, "unique_ids": torch.tensor([[1, 5, 0], [1, 6, 7], [1, 8, 0]]),
              "unique_mask": torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 0]])}
    text_row = torch.tensor([[-1, 0, 1], [1, 2, 3], [3, 4, 5]])
    out = unique_tokens(text_row, tokens)
    assert out["input_ids"].shape[0] == 3 < int((text_row >= 0).sum())  # 3 passes instead of 8
    slots = out["text_slot"]
    assert slots[0, 0] == -1
    for r in range(3):
        for s in range(3):
            if text_row[r, s] >= 0:
                assert texts[int(text_row[r, s])] == "abc"[int(torch.unique(codes)[slots[r, s]])]


# --- the run folder ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bert_dir):
    """One tiny `vatrack train` run on synthetic data (tiny BERT vectors), shared by tests."""
    from vatrack.data import make_official_like, write_csv_like_official

    folder = tmp_path_factory.mktemp("run")
    train, test = make_official_like(n_users=30, seed=5)
    write_csv_like_official(train, folder / "train.csv")
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), folder / "test.csv")
    return folder, train, test


def test_train_writes_history_metrics_config_and_bundle(tiny_run, tiny_bert_dir, capsys):
    folder, train, test = tiny_run
    run = folder / "run"
    code, out, err = run_cli(["train", "--data", folder / "train.csv", "--out", run, "--preset", "v3.3",
                              "--encoder", tiny_bert_dir, "--set", "epochs=3", *TINY], capsys)
    assert code == 0, err
    for name in ("config.yaml", "history.csv", "metrics.json", "model/model.json", "model/weights.pt", "checkpoints/best.ckpt"):
        assert (run / name).exists(), name
    history = pd.read_csv(run / "history.csv")
    for column in ("epoch", "train_loss", "val_loss", "train_ccc_valence", "train_ccc_arousal", "val_ccc_avg",
                   "val_r_composite_avg", "val_rmse_valence", "val_mae_arousal", "gap_ccc", "lr", "val_score"):
        assert column in history.columns, column
    assert history["epoch"].tolist() == list(range(1, len(history) + 1))
    assert np.isfinite(history[["train_loss", "val_loss", "gap_ccc"]].to_numpy()).all()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["run"]["preset"] == "v3.3" and metrics["best_epoch"] >= 1
    assert set(metrics["val_metrics"]) >= {"valence", "arousal", "avg", "seen", "unseen"}
    # the resolved config is itself a valid preset
    code, _, err = run_cli(["train", "--data", folder / "train.csv", "--out", folder / "run2", "--preset",
                            run / "config.yaml", "--set", "epochs=1", "--val", "none"], capsys)
    assert code == 0, err
    assert (folder / "run2" / "checkpoints" / "last.ckpt").exists()
    # predict writes the official file for every row
    code, _, err = run_cli(["predict", "--run", run, "--data", folder / "test.csv", "--out", folder / "pred.csv"], capsys)
    assert code == 0, err
    pred = pd.read_csv(folder / "pred.csv", dtype={"user_id": str, "text_id": str})
    assert list(pred.columns) == ["user_id", "text_id", "pred_valence", "pred_arousal"]
    assert len(pred) == len(test) and set(pred["text_id"]) == set(test["text_id"])


def test_train_logger_option_adds_a_second_logger_with_every_epoch(tiny_run, tiny_bert_dir, capsys):
    """--logger tensorboard (tensorboardX is a dev dependency): event files in the run folder
    carrying the per-epoch figures and the config; history.csv is still written."""
    pytest.importorskip("tensorboardX")
    folder, _, _ = tiny_run
    run = folder / "tb"
    code, _, err = run_cli(["train", "--data", folder / "train.csv", "--out", run, "--encoder", tiny_bert_dir,
                            "--set", "epochs=2", *TINY, "--logger", "tensorboard"], capsys)
    assert code == 0, err
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events and len(pd.read_csv(run / "history.csv")) == 2
    content = b"".join(path.read_bytes() for path in events)
    assert b"val_score" in content and b"train_loss" in content
    assert json.loads((run / "metrics.json").read_text())["run"]["trainer"]["logger"] == "tensorboard"
    code, _, err = run_cli(["train", "--data", folder / "train.csv", "--out", folder / "nolog", "--logger", "neptune"],
                           capsys)
    assert code == 2 and "--logger must be one of" in err and not (folder / "nolog").exists()


def test_existing_run_folder_needs_force(tiny_run, capsys):
    folder, _, _ = tiny_run
    (folder / "busy").mkdir(exist_ok=True)
    (folder / "busy" / "keep.txt").write_text("x")
    code, _, err = run_cli(["train", "--data", folder / "train.csv", "--out", folder / "busy"], capsys)
    assert code == 2 and "--force" in err and "Traceback" not in err
    assert (folder / "busy" / "keep.txt").exists()


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tiny_run, tiny_bert_dir, tmp_path):
    """`--strategy ddp --devices 2` on CPU (gloo): both processes train, only rank 0 writes."""
    folder, _, _ = tiny_run
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    vatrack = os.path.join(os.path.dirname(sys.executable), "vatrack")
    cmd = [vatrack, "train", "--data", str(folder / "train.csv"), "--out", str(run),
           "--encoder", str(tiny_bert_dir), "--set", "epochs=2", *TINY,
           "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["run"]["trainer"]["strategy"] == "ddp"
    history = pd.read_csv(run / "history.csv")
    assert len(history) == 2
    # The cosine schedule is sized from each process's own share of the batches: it ends at 0
    # on the last step (sized before the process group existed it would be twice too long).
    assert history["lr"].iloc[-1] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("env,rank", [
    ({}, 0), ({"LOCAL_RANK": "1"}, 1), ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, 1),
    ({"RANK": "3"}, 3), ({"SLURM_PROCID": "2"}, 2), ({"RANK": "0", "SLURM_PROCID": "0"}, 0),
])
def test_only_the_first_process_of_any_launcher_writes(monkeypatch, env, rank):
    from vatrack.experiments.runs import launcher_rank

    for name in ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert launcher_rank() == rank


def test_a_garbled_rank_variable_is_a_clear_error(monkeypatch):
    from vatrack.errors import VatrackError
    from vatrack.experiments.runs import launcher_rank

    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(VatrackError, match="RANK"):
        launcher_rank()
