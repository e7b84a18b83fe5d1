"""vatrack.reporting: Markdown/HTML rendering, the comparison report (every section, every
image embedded), report.html in headless Chromium, `vatrack report` on run and CV folders,
and the Lightning loggers of vatrack.training.loggers."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vatrack.errors import VatrackError
from vatrack.evaluation.metrics import subtask1_metrics
from vatrack.experiments.compare import VersionResult, compare_results
from vatrack.experiments.cv import flatten_metrics
from vatrack.experiments.versions import Version
from vatrack.protocols import cv_plan
from vatrack.reporting import Report, comparison_report, write_report
from vatrack.reporting.document import to_html, to_markdown

from conftest import run_cli

CHROMIUM = Path("/usr/bin/chromium")


# --- documents ---------------------------------------------------------------------------------


def test_markdown_and_html_escape_cells_and_embed_images(tmp_path):
    from matplotlib.figure import Figure

    plot = tmp_path / "plots" / "p.png"
    plot.parent.mkdir()
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    fig.savefig(plot, format="png")
    report = (Report("A <title> & more").heading("Section").text("uses `code` and **bold**")
              .table(pd.DataFrame({"a|b": ["x|y", "<td>"], "verdict": ["significant (better)", "within noise"]}), "cap")
              .image(plot, "a plot"))
    md = to_markdown(report, tmp_path)
    assert "| a\\|b | verdict |" in md and "x\\|y" in md and "![a plot](plots/p.png)" in md
    page = to_html(report)
    assert "&lt;title&gt; &amp; more" in page and "&lt;td&gt;" in page and "<code>code</code>" in page
    assert 'class="significant"' in page and "<script" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    paths = write_report(report, tmp_path)
    assert paths["html"].read_text() == page


# --- a comparison built from synthetic CV results (no training) ----------------------------------


def synthetic_version(name: str, frame: pd.DataFrame, quality: float, with_history: bool) -> VersionResult:
    """CV results of a pretend model whose predictions are gold + noise (noise ~ 1/quality)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    rows, predictions, histories = [], [], []
    for fold in cv_plan(frame, n_folds=3, seeds=(0, 1)):
        _, test = fold.split(frame)
        noise = rng.normal(0, 1.0 / quality, size=(len(test), 2))
        scored = test[["user_id", "text_id", "valence", "arousal", "is_seen_user"]].assign(
            pred_valence=np.clip(test["valence"] + noise[:, 0], -2, 2), pred_arousal=np.clip(test["arousal"] + noise[:, 1], 0, 2))
        row = {"seed": fold.seed, "fold": fold.fold, **flatten_metrics(subtask1_metrics(scored))}
        row.update({"train.valence.ccc": 0.8, "train.arousal.ccc": 0.7, "train.avg.ccc": 0.75, "info.fit_time_s": 1.0})
        row["gap.avg.ccc"] = row["train.avg.ccc"] - row["all.avg.ccc"]
        rows.append(row)
        predictions.append(scored.assign(seed=fold.seed, fold=fold.fold))
        if with_history:
            epochs = np.arange(1, 6 + fold.fold)
            train_ccc = 0.2 + 0.1 * epochs
            val_ccc = 0.5 - 0.02 * (epochs - 3) ** 2
            histories.append(pd.DataFrame({
                "epoch": epochs, "train_loss": 1 / epochs, "val_loss": 0.8 + 0.01 * (epochs - 3) ** 2,
                "train_ccc_valence": train_ccc, "train_ccc_arousal": train_ccc - 0.1, "train_ccc_avg": train_ccc - 0.05,
                "val_ccc_valence": val_ccc, "val_ccc_arousal": val_ccc - 0.1, "val_ccc_avg": val_ccc - 0.05,
                "val_r_composite_avg": val_ccc, "gap_ccc": train_ccc - val_ccc, "val_score": val_ccc, "lr": 1e-3 / epochs,
            }).assign(seed=fold.seed, fold=fold.fold))
    config = {"name": name, "lr": 1e-3 * quality, "fusion": [64, 32], "dropout": 0.3}
    return VersionResult(Version(name, "preset", name), config, "", pd.DataFrame(rows), pd.concat(predictions, ignore_index=True),
                         pd.concat(histories, ignore_index=True) if histories else pd.DataFrame())


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    from vatrack.data import make_diaries

    frame = make_diaries(n_users=24, texts_per_user=(6, 14), seed=7)
    results = [synthetic_version("v3.0", frame, 1.0, True), synthetic_version("v3.4", frame, 1.6, True),
               synthetic_version("user-mean", frame, 0.8, False)]
    comparison = compare_results(results, reference="v3.0", meta={"data": "synthetic", "folds": 3, "seeds": [0, 1],
                                                                  "rows": len(frame), "users": 24, "default_targets": True})
    out = tmp_path_factory.mktemp("report")
    paths = comparison_report(comparison, out)
    return out, paths, comparison


def test_comparison_report_has_every_section_and_embeds_every_plot(report_dir):
    out, paths, comparison = report_dir
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    for section in ("Final results — best version: v3.4", "Success criteria", "Version comparison",
                    "Deltas against v3.0", "Seen vs unseen users", "Per-user predictions", "epoch by epoch",
                    "Configuration differences", "Appendix: per-fold figures"):
        assert section in md, section
    # The verdicts of the headline rows, not the explanatory note (which names both words):
    # planted, v3.4's predictions carry much less noise than v3.0's on every fold; user-mean's
    # a little more, which 6 pairs cannot tell from noise.
    deltas = md[md.index("Deltas against v3.0"):md.index("Seen vs unseen users")]
    verdicts = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in deltas.splitlines()
                if line.startswith("| ") and line.split("|")[2].strip() == "composite r avg"}
    assert verdicts == {"v3.4": "significant (better)", "user-mean": "within noise"}, verdicts
    assert "| dropout |" not in md and "| lr |" in md  # only differing keys
    assert "peak val CCC" in md and "the later epochs overfit" in md  # planted: val peaks at epoch 3, train keeps rising
    images = list((out / "plots").glob("*.png"))
    assert len(images) == len(paths["plots"]) >= 6
    assert page.count('src="data:image/png;base64,') == len(images)
    assert "plots/" not in page  # nothing refers to files beside the HTML


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def _chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={user_dir}"]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (apt-get install -y chromium)")
def test_report_html_loads_every_image_in_headless_chromium(report_dir, tmp_path):
    out, paths, _ = report_dir
    # A copy of the page with a probe that, once loaded, writes how many images decoded. The
    # report itself stays script-free.
    probe = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
             " const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
             " document.body.setAttribute('data-images', ok + '/' + imgs.length); });</script></body>")
    checked = tmp_path / "checked.html"
    checked.write_text(paths["html"].read_text().replace("</body>", probe), encoding="utf-8")
    done = _chromium("--virtual-time-budget=10000", "--dump-dom", checked.as_uri(), user_dir=tmp_path / "profile1")
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'data-images="(\d+)/(\d+)"', done.stdout)
    assert found, done.stdout[:500]
    loaded, total = map(int, found.groups())
    assert total == len(paths["plots"]) and loaded == total
    shot = tmp_path / "report.png"
    done = _chromium("--window-size=1200,4000", f"--screenshot={shot}", paths["html"].as_uri(), user_dir=tmp_path / "profile2")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    assert _png_size(shot) == (1200, 4000) and shot.stat().st_size > 50_000  # a rendered page, not a blank one
    shutil.copy(shot, out / "screenshot.png")


# --- `vatrack report` on real folders -----------------------------------------------------------------


@pytest.mark.slow
def test_report_cli_on_a_training_run_and_a_cv_folder(task_files, tiny_bert_dir, tmp_path, capsys):
    import torch

    torch.set_num_threads(1)
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "--data", task_files["train"], "--out", run, "--encoder", tiny_bert_dir,
                            "--set", "epochs=3", "--set", "lstm_hidden=8", "--set", "lstm_layers=1", "--set", "fusion=[16]",
                            "--set", "user_emb=4", "--set", "batch_size=32", "--set", "val_folds=3", "--set", "lr=3e-3"], capsys)
    assert code == 0, err
    targets = tmp_path / "targets.yaml"
    targets.write_text("- {name: any signal, metric: all.avg.r_composite, threshold: -1}\n")
    code, stdout, err = run_cli(["report", run, "--targets", targets], capsys)
    assert code == 0, err
    md = (run / "report.md").read_text()
    for section in ("Final results", "Success criteria", "any signal", "Seen vs unseen", "Epoch by epoch", "Configuration"):
        assert section in md, section
    assert (run / "plots" / "learning_curves.png").exists() and "data:image/png;base64," in (run / "report.html").read_text()

    cv_dir = tmp_path / "cv"
    code, _, err = run_cli(["cv", "--method", "user-mean", "--data", task_files["train"], "--folds", "2", "--seeds", "2",
                            "--out", cv_dir], capsys)
    assert code == 0, err
    code, _, err = run_cli(["report", cv_dir, "--out", tmp_path / "cv-report"], capsys)
    assert code == 0, err
    md = (tmp_path / "cv-report" / "report.md").read_text()
    assert "Final results" in md and "Per-user predictions" in md and "Seen vs unseen" in md

    code, _, err = run_cli(["report", tmp_path / "nowhere"], capsys)
    assert code == 2 and "not found" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["report", tmp_path / "empty"], capsys)
    assert code == 2 and "nothing to report" in err


# --- loggers ---------------------------------------------------------------------------------------------


def test_csv_logger_is_history_csv_and_adds_nothing(tmp_path):
    from vatrack.training.loggers import make_logger

    assert make_logger(None, tmp_path) is None and make_logger("CSV", tmp_path) is None
    assert not any(tmp_path.iterdir())


def test_loggers_that_are_not_installed_or_unknown_are_one_clear_error(tmp_path, monkeypatch):
    from vatrack.training import loggers

    with pytest.raises(VatrackError, match="must be one of"):
        loggers.make_logger("neptune", tmp_path)
    monkeypatch.setattr(loggers, "_installed", lambda module: False)
    for kind, package in (("mlflow", "mlflow"), ("wandb", "wandb"), ("tensorboard", "tensorboard")):
        with pytest.raises(VatrackError, match=f"pip install {package}"):
            loggers.make_logger(kind, tmp_path)


def test_mlflow_logger_defaults_to_sqlite_in_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from vatrack.training.loggers import make_logger

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    logger = make_logger("mlflow", tmp_path)
    assert logger._tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
