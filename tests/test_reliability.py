"""Issue #14: signals, concurrent runs, resume of refit runs and moved runs, write failures,
corrupted run files, option values, cache history, and the minor items.

Each test names the item it covers. Signals are sent by the process to itself at a known
point (a patched function), so the tests do not depend on timing; where the exit code or
the process tree is the point, the command runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli
from vatrack.data import make_official_like, write_csv_like_official
from vatrack.errors import RunInterrupted, VatrackError

TINY = ["lstm_hidden=8", "lstm_layers=1", "fusion=[8]", "user_emb=4", "seq_length=4", "val_folds=2"]


def tiny_args(*extra: str) -> list[str]:
    return [a for item in [*TINY, *extra] for a in ("--set", item)]


# The start/end lines a long phase prints in a log (vatrack.progress) are not errors.
PROGRESS_LINE = re.compile(r"^.+: \d+ \w+ (\.\.\.|in \d+ s \(\d+ \w+/s\))$")


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    train, test = make_official_like(n_users=16, seed=5)
    write_csv_like_official(train, folder / "train.csv")
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), folder / "test.csv")
    test[["user_id", "text_id", "valence", "arousal", "is_seen_user"]].to_csv(folder / "gold.csv", index=False)
    return {"train": folder / "train.csv", "test": folder / "test.csv", "gold": folder / "gold.csv", "dir": folder}


# --- items 2 and 12: a signal anywhere is one line and the shell's exit code ---------------------------

# Runs the real CLI in a subprocess; PATCH replaces one library function by one that signals
# the process itself at that point (encoding, fitting, writing a temp file) and then waits.
_SIGNAL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import importlib
    target, attr, signame = sys.argv[1], sys.argv[2], sys.argv[3]
    owner = importlib.import_module(target.split(":")[0])
    for part in target.split(":")[1:]:
        owner = getattr(owner, part)
    original = getattr(owner, attr)
    def stop(*args, **kwargs):
        result = original(*args, **kwargs) if attr == "to_csv" else None
        if attr != "to_csv" or str(args[1]).endswith(".tmp"):
            os.kill(os.getpid(), getattr(signal, signame))
            time.sleep(60)
        return result
    setattr(owner, attr, stop)
    from vatrack.cli import main
    sys.argv = ["vatrack", *sys.argv[4:]]
    main()
""")


def run_signalled(target: str, signame: str, args: list, tmp_path: Path) -> subprocess.CompletedProcess:
    """``target``: 'module:Class.attr' to patch."""
    owner, _, attr = target.rpartition(".")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # A shell starts background jobs with SIGINT ignored, and Python then keeps ignoring it: give
    # the child the default disposition, as a command typed in a terminal has.
    return subprocess.run([sys.executable, "-c", _SIGNAL_SCRIPT, owner, attr, signame, *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("command,signame,code", [
    ("track", "SIGTERM", 143), ("cv", "SIGINT", 130), ("forecast-cv", "SIGTERM", 143)])
def test_a_stopped_command_leaves_no_output_folder(files, tiny_bert_dir, tmp_path, command, signame, code):
    """The --out folder is claimed before the work; a stop used to leave it behind, empty but for
    its lock file (an orphan that the next run had to step over)."""
    out = tmp_path / "out"
    args = {"track": ["track", "--data", files["train"], "--encoder", tiny_bert_dir],
            "cv": ["cv", "--data", files["train"], "--method", "ridge+user", "--encoder", tiny_bert_dir, "--folds", "2",
                   "--seeds", "1"],
            "forecast-cv": ["forecast-cv", "--task", "subtask2a", "--data", files["train"], "--methods", "ridge-notext",
                            "--encoder", tiny_bert_dir, "--folds", "2", "--seeds", "1"]}[command]
    target = ("vatrack.models.forecasters:RidgeNoTextForecaster.fit" if command == "forecast-cv"
              else "vatrack.models.baselines:RidgeUserBaseline.fit")
    done = run_signalled(target, signame, [*args, "--out", out], tmp_path)
    assert done.returncode == code, done.stderr[-3000:]
    assert f"stopped by {signame}" in one_error_line(done.stderr)
    assert not out.exists(), list(out.iterdir())


@pytest.mark.parametrize("target,signame,code", [
    ("vatrack.models.baselines:RidgeUserBaseline.fit", "SIGINT", 130),       # item 2: Ctrl+C while fitting
    ("vatrack.encoders.encoder:TextEncoder.encode", "SIGTERM", 143),         # item 12: SIGTERM while encoding
    ("pandas:DataFrame.to_csv", "SIGTERM", 143),                             # item 12: ... while writing
    ("pandas:DataFrame.to_csv", "SIGINT", 130),                              # item 2: Ctrl+C while writing
])
def test_baseline_stopped_by_a_signal_is_one_line_and_leaves_no_temp_file(files, tiny_bert_dir, tmp_path, target,
                                                                           signame, code):
    out = tmp_path / "pred.csv"
    done = run_signalled(target, signame, ["baseline", "--train", files["train"], "--data", files["test"], "--out", out,
                                           "--encoder", tiny_bert_dir], tmp_path)
    assert done.returncode == code, done.stderr[-3000:]
    assert f"stopped by {signame}" in one_error_line(done.stderr)
    assert not out.exists() and not list(tmp_path.glob(".pred.csv*")), list(tmp_path.iterdir())


def test_ctrl_c_in_any_command_exits_130(files, capsys, monkeypatch):
    """Item 2 in-process: typer *returns* 130 under standalone_mode=False; main() must not drop it."""
    import vatrack.evaluation.scoring as scoring

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scoring, "score_files", interrupted)
    code, _, stderr = run_cli(["evaluate", "--task", "subtask1", "--pred", files["gold"], "--gold", files["gold"]], capsys)
    assert code == 130 and "stopped by SIGINT" in one_error_line(stderr)


def test_no_arguments_is_not_an_empty_error_line():
    """Item 13: `vatrack` alone lists the commands and says what is missing (no bare 'error:')."""
    done = subprocess.run([sys.executable, "-m", "vatrack"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no command given" in one_error_line(done.stderr)


# --- item 3: SIGTERM to a cv parent stops its workers -----------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_sigterm_to_cv_parent_stops_its_workers(files, tiny_bert_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "vatrack", "cv", "--preset", "v3.3", "--data", files["train"], "--encoder",
               tiny_bert_dir, "--folds", "2", "--seeds", "1", "--jobs", "2", *tiny_args("epochs=400", "patience=400")]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = {p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")}
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None and len(workers) >= 2, "the cv workers never started"
        time.sleep(8)  # let them get into their folds (imports, encoding, training)
        everything = _children(proc.pid) | {c for w in workers for c in _children(w)}
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr[-3000:]
    assert "stopped by SIGTERM" in one_error_line(stderr)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in everything):
        time.sleep(0.2)
    assert not [p for p in everything if _alive(p)], "worker processes outlived their parent"


# --- items 1 and 5: resume a refit run, resume a moved run --------------------------------------------


class _SigtermAt:
    """A Lightning callback that sends SIGTERM to this process when fit number ``fit`` (1: the
    validation phase, 2: a refit) starts epoch ``epoch`` (0-based): a scheduler's kill, on cue."""

    def __new__(cls, fit: int, epoch: int):
        from lightning.pytorch.callbacks import Callback

        class SigtermAt(Callback):
            def __init__(self):
                self.fits = 0

            def on_fit_start(self, trainer, pl_module):
                self.fits += 1

            def on_train_epoch_start(self, trainer, pl_module):
                if self.fits == fit and trainer.current_epoch == epoch:
                    os.kill(os.getpid(), signal.SIGTERM)

        return SigtermAt()


def _train(files, out, encoder, preset="best", *, resume=False, callbacks=None, extra=()):
    from vatrack.experiments.runs import train_run

    overrides = [*TINY, "epochs=5", "patience=5", "batch_size=16", f"encoder={encoder}", *extra]
    hook = {"callbacks": callbacks} if callbacks else {}
    return train_run(files["train"], preset, out, seed=1, overrides=overrides, progress=False, resume=resume, **hook)


def _predictions(files, run) -> bytes:
    from vatrack.experiments.runs import predict_run

    return predict_run(run, files["test"], run.parent / f"{run.name}-pred.csv").read_bytes()


def _same_history(a: Path, b: Path) -> None:
    x, y = pd.read_csv(a / "history.csv"), pd.read_csv(b / "history.csv")
    figures = [c for c in x.columns if c != "epoch_time_s"]
    pd.testing.assert_frame_equal(x[figures], y[figures], check_exact=True)


@pytest.mark.slow
@pytest.mark.parametrize("fit,epoch", [(1, 2), (2, 0)], ids=["stopped-in-validation-phase", "stopped-in-refit"])
def test_refit_run_stopped_by_sigterm_resumes_to_the_uninterrupted_result(files, tiny_bert_dir, tmp_path, fit, epoch):
    """Item 1: preset `best` (refit: true). Stopped in either phase, --resume ends byte-identical."""
    whole = tmp_path / "whole"
    reference = _train(files, whole, tiny_bert_dir)
    assert reference["refit_epochs"] >= 1
    run = tmp_path / "run"
    with pytest.raises(RunInterrupted) as stop:
        _train(files, run, tiny_bert_dir, callbacks=[_SigtermAt(fit, epoch)])
    from vatrack.cli import flags

    assert stop.value.exit_code == 143 and "--resume" in flags(str(stop.value))   # what the CLI prints
    assert not (run / "metrics.json").exists()
    resumed = _train(files, run, tiny_bert_dir, resume=True)
    _same_history(whole, run)
    assert resumed["best_epoch"] == reference["best_epoch"] and resumed["refit_epochs"] == reference["refit_epochs"]
    assert resumed["val_metrics"] == reference["val_metrics"]
    assert _predictions(files, run) == _predictions(files, whole)


def test_moved_run_folder_keeps_its_best_checkpoint_state(tmp_path):
    """Item 5, the cause: Lightning restores the best path but drops the best score when the
    folder moved, so the next epoch overwrote best.ckpt. vatrack's checkpoint state follows the folder."""
    import torch

    from vatrack.training import LoopSettings
    from vatrack.training.trainer import trainer_for

    def checkpoint_of(folder):
        _, checkpoint, _ = trainer_for(LoopSettings(patience=5), has_val=True, checkpoint_dir=folder, history_path=None,
                                       progress=False, options={}, max_epochs=3)
        return checkpoint

    old = checkpoint_of(tmp_path / "old" / "checkpoints")
    old.best_model_score = torch.tensor(0.42)
    old.best_model_path = str(tmp_path / "old" / "checkpoints" / "best.ckpt")
    old.best_k_models = {old.best_model_path: torch.tensor(0.42)}
    old.kth_best_model_path = old.best_model_path
    new = checkpoint_of(tmp_path / "new" / "checkpoints")
    new.load_state_dict(old.state_dict())
    assert new.best_model_score is not None and float(new.best_model_score) == pytest.approx(0.42)
    assert Path(new.best_model_path) == Path(new.dirpath) / "best.ckpt"
    assert list(new.best_k_models) == [new.best_model_path]


@pytest.mark.slow
def test_moved_interrupted_run_resumes_to_the_uninterrupted_result(files, tiny_bert_dir, tmp_path):
    """Item 5 end to end: stop after 3 epochs, rename the folder, --resume: same best epoch, same model."""
    extra = ("epochs=6", "patience=6", "refit=false", "blend_ridge_user=0.0")
    whole = tmp_path / "whole"
    reference = _train(files, whole, tiny_bert_dir, "v3.3", extra=extra)
    with pytest.raises(RunInterrupted):
        _train(files, tmp_path / "first", tiny_bert_dir, "v3.3", callbacks=[_SigtermAt(1, 3)], extra=extra)
    moved = tmp_path / "renamed"
    shutil.move(tmp_path / "first", moved)
    resumed = _train(files, moved, tiny_bert_dir, "v3.3", resume=True, extra=extra)
    _same_history(whole, moved)
    assert resumed["best_epoch"] == reference["best_epoch"]
    assert resumed["checkpoint"] == "checkpoints/best.ckpt"
    assert _predictions(files, moved) == _predictions(files, whole)


# --- item 4: two trainings into one --out --------------------------------------------------------------


@pytest.mark.slow
def test_second_training_into_a_folder_being_written_exits_2(files, tiny_bert_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"

    def command(*extra):
        return [sys.executable, "-m", "vatrack", "train", "--data", str(files["train"]), "--out", str(out), "--encoder",
                str(tiny_bert_dir), "--val", "none", *tiny_args(*extra)]

    first = subprocess.Popen(command("epochs=300"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None and not (out / "history.csv").exists():
            time.sleep(0.1)
        assert first.poll() is None, first.communicate()[1][-3000:]
        # --force while A trains: before, B emptied A's folder and wrote its own files into it.
        second = subprocess.run(command("epochs=1", "seq_length=3") + ["--force"], env=env, capture_output=True,
                                text=True, timeout=300)
        assert second.returncode == 2, second.stderr[-3000:]
        assert "being written by another vatrack command" in one_error_line(second.stderr)
        assert (out / "history.csv").exists() and "seq_length: 4" in (out / "config.yaml").read_text()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143


def test_run_folder_claim_is_exclusive_between_processes(tmp_path):
    """Item 4, the mechanism: a folder claimed by one process cannot be claimed by another."""
    from vatrack.io import prepare_run_dir, release_run_dir

    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from vatrack.io import prepare_run_dir; "
                               f"prepare_run_dir({str(out)!r}); print('claimed', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(VatrackError, match="being written by another vatrack command"):
            prepare_run_dir(out, force=True)
    finally:
        holder.kill()
        holder.wait()
    prepare_run_dir(out)  # the kernel dropped the dead holder's lock
    release_run_dir(out)


# --- item 7: write failures ----------------------------------------------------------------------------


def test_unwritable_out_fails_before_the_work(files, tiny_bert_dir, tmp_path, capsys, monkeypatch):
    import vatrack.models.baselines as baselines

    def no_work(*args, **kwargs):
        raise AssertionError("the work started although --out cannot be written")

    monkeypatch.setattr(baselines.RidgeUserBaseline, "fit", no_work)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for out, expected in ((folder, "is a folder"), (Path("/proc/vatrack-pred.csv"), "cannot write"),
                          (files["train"] / "pred.csv", "is a file, not a folder")):
        code, _, stderr = run_cli(["baseline", "--train", files["train"], "--data", files["test"], "--out", out,
                                   "--encoder", tiny_bert_dir], capsys)
        assert code == 2 and expected in one_error_line(stderr)


def test_train_out_naming_a_file_is_one_line(files, tmp_path, capsys):
    afile = tmp_path / "taken.txt"
    afile.write_text("mine")
    code, _, stderr = run_cli(["train", "--data", files["train"], "--out", afile, *tiny_args("epochs=1")], capsys)
    assert code == 2 and "is a file" in one_error_line(stderr) and afile.read_text() == "mine"


def test_failed_write_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch):
    import errno

    import torch

    from vatrack.io import write_csv
    from vatrack.training import LoopSettings
    from vatrack.training.trainer import trainer_for

    def disk_full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    folder = tmp_path / "checkpoints"
    trainer, _, _ = trainer_for(LoopSettings(patience=5), has_val=True, checkpoint_dir=folder, history_path=None, progress=False,
                                options={}, max_epochs=1)
    with pytest.raises(VatrackError, match="No space left"):
        trainer.strategy.checkpoint_io.save_checkpoint({"state_dict": {}}, folder / "best.ckpt")
    assert not folder.exists() or not list(folder.iterdir())

    def full(self, path, *args, **kwargs):
        Path(path).write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(VatrackError, match="cannot write .*pred.csv"):
        write_csv(tmp_path / "pred.csv", pd.DataFrame({"a": [1]}))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoints"] or not list(tmp_path.glob("*pred*"))


# --- item 8: corrupted run files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_run(files, tiny_bert_dir, tmp_path_factory):
    """A tiny run as a kill after its last epoch leaves it: resume.ckpt, no metrics.json, no model."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    _train(files, run, tiny_bert_dir, "v3.3", extra=("epochs=4", "patience=4"))
    (run / "metrics.json").unlink()
    shutil.rmtree(run / "model")
    assert (run / "checkpoints" / "resume.ckpt").exists()
    return run


def _resume_cli(files, run, tiny_bert_dir, capsys):
    return run_cli(["train", "--data", files["train"], "--out", run, "--preset", "v3.3", "--seed", "1", "--resume",
                    *tiny_args("epochs=4", "patience=4", "batch_size=16", f"encoder={tiny_bert_dir}")], capsys)


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "no-config", "finished"])
def test_resume_of_a_damaged_run_is_one_line_naming_the_file(files, tiny_bert_dir, stopped_run, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    ckpt = run / "checkpoints" / "resume.ckpt"
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    elif damage == "random":
        ckpt.write_bytes(os.urandom(4096))
    elif damage == "empty":
        ckpt.write_bytes(b"")
    elif damage == "no-config":
        (run / "config.yaml").unlink()
    else:
        (run / "metrics.json").write_text("{}")
    code, _, stderr = _resume_cli(files, run, tiny_bert_dir, capsys)
    line = one_error_line(stderr)
    assert code == 2, line
    expected = {"no-config": "config.yaml is missing", "finished": "already finished"}.get(damage, "resume.ckpt: unreadable")
    assert expected in line and "--force" in line


@pytest.fixture(scope="module")
def finished_run(files, tiny_bert_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("finished") / "run"
    _train(files, run, tiny_bert_dir, "v3.3", extra=("epochs=2", "patience=2"))
    return run


@pytest.mark.parametrize("damage,expected", [
    ("meta-list", "model.json: not a vatrack bundle description"),
    ("meta-no-kind", "model.json: not a vatrack bundle description"),
    ("other-kind-state", "state.pkl: not the state of this model kind"),
])
def test_predict_with_a_damaged_bundle_is_one_line(files, finished_run, tmp_path, capsys, damage, expected):
    import pickle

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    if damage == "meta-list":
        (run / "model" / "model.json").write_text("[1, 2]")
    elif damage == "meta-no-kind":
        (run / "model" / "model.json").write_text('{"format": 1}')
    else:
        from vatrack.models import make_model

        ridge = make_model("mean").fit(make_official_like(n_users=6, seed=1)[0])
        ridge.save(tmp_path / "ridge")
        shutil.copy(tmp_path / "ridge" / "state.pkl", run / "model" / "state.pkl")
        assert "params" in pickle.loads((run / "model" / "state.pkl").read_bytes())
    code, _, stderr = run_cli(["predict", "--run", run, "--data", files["test"], "--out", tmp_path / "p.csv"], capsys)
    assert code == 2 and expected in one_error_line(stderr)


@pytest.mark.parametrize("damage,expected", [
    ("metrics-garbage", "metrics.json: not valid JSON"),
    ("metrics-list", "metrics.json: not the metrics of a vatrack run"),
    ("history-empty", "history.csv: empty or not a CSV table"),
    ("history-garbage", "history.csv: not a per-epoch history"),
])
def test_report_on_damaged_run_files_is_one_line(finished_run, tmp_path, capsys, damage, expected):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    name = damage.split("-")[0] + (".json" if damage.startswith("metrics") else ".csv")
    (run / name).write_text({"metrics-garbage": "{not json", "metrics-list": "[1, 2]", "history-empty": "",
                             "history-garbage": "a,b\nx,y\n"}[damage])
    code, _, stderr = run_cli(["report", run, "--out", tmp_path / "report"], capsys)
    assert code == 2 and expected in one_error_line(stderr)


# --- item 10: option values --------------------------------------------------------------------------------


@pytest.mark.parametrize("args,expected", [
    (["--seed", "-1"], "--seed must be an integer from 0"),
    (["--seed", "5000000000"], "--seed must be an integer from 0"),
    (["--accelerator", "gpu"], "not usable on this machine"),
    (["--accelerator", "bogus"], "not usable on this machine"),
    (["--strategy", "bogus"], "not usable on this machine"),
    (["--devices", "abc"], "--devices must be"),
    (["--encoder", ""], "names an empty encoder"),
    (["--set", "encoder=+"], "names an empty encoder"),
    (["--threads", "0"], "--threads"),
])
def test_train_option_values_are_one_line_and_leave_no_folder(files, tmp_path, capsys, args, expected):
    if args == ["--accelerator", "gpu"]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    out = tmp_path / "run"
    code, _, stderr = run_cli(["train", "--data", files["train"], "--out", out, *tiny_args("epochs=1"), *args], capsys)
    assert code == 2 and expected in one_error_line(stderr)
    assert not out.exists()


def test_baseline_empty_encoder_is_one_line(files, tmp_path, capsys):
    code, _, stderr = run_cli(["baseline", "--train", files["train"], "--data", files["test"], "--out",
                               tmp_path / "p.csv", "--encoder", ""], capsys)
    assert code == 2 and "encoder name is empty" in one_error_line(stderr)


def test_cv_seeds_out_of_range_is_one_line(files, capsys):
    for value in ("1e20", "100000000000000000000", "0"):
        code, _, stderr = run_cli(["cv", "--method", "mean", "--data", files["train"], "--seeds", value], capsys)
        assert code == 2 and "--seeds" in one_error_line(stderr)


def test_train_failing_after_the_folder_was_made_leaves_nothing_so_the_retry_works(files, tiny_bert_dir, tmp_path, capsys):
    """Item 10: 12 users cannot make a 10-fold inner validation split; that error comes once the
    run folder exists. Before, the folder kept config.yaml and the retry said 'already exists'."""
    out = tmp_path / "run"
    args = ["train", "--data", files["train"], "--out", out, "--encoder", tiny_bert_dir, *tiny_args("epochs=1")]
    code, _, stderr = run_cli([*args, "--set", "val_folds=10"], capsys)
    assert code == 2 and "validation split needs" in one_error_line(stderr)
    assert "(--set val_folds=10)" in stderr and "train with --val none, or with --set val_folds=2" in stderr  # flags, not parameters
    assert not out.exists()
    code, _, stderr = run_cli(args, capsys)
    assert code == 0, stderr


# --- item 11: encoding does not depend on the batch ----------------------------------------------------------


def test_a_texts_vector_does_not_depend_on_the_texts_encoded_with_it():
    """Item 11 (MiniLM, the default): padding next to a longer text changed the last bits before."""
    from vatrack.encoders import get_encoder

    encoder = get_encoder("minilm", batch_size=8)
    text = "I feel calm and a bit tired today."
    company = [["A much longer text that needs padding for the short one, about the day and work and feelings " * 3],
               ["Sad."], [f"I feel {w} and {v} today." for w in ("sad", "calm", "angry") for v in ("tired", "happy")]]
    alone = encoder.embed([text])[0]
    for others in company:
        for texts in ([text, *others], [*others, text]):
            vectors = encoder.embed(texts)
            assert vectors[texts.index(text)].tobytes() == alone.tobytes(), others


# --- item 13: minor ----------------------------------------------------------------------------------------


def test_evaluate_reads_user_7_0_as_user_7(files, tmp_path, capsys):
    gold = pd.read_csv(files["gold"], dtype=str)
    pred = gold[["user_id", "text_id"]].assign(pred_valence=0.1, pred_arousal=1.0)
    numeric = pred["user_id"].str.fullmatch(r"\d+")
    assert numeric.any()
    pred.loc[numeric, "user_id"] = pred.loc[numeric, "user_id"] + ".0"
    pred.to_csv(tmp_path / "pred.csv", index=False)
    code, stdout, stderr = run_cli(["evaluate", "--task", "subtask1", "--pred", tmp_path / "pred.csv", "--gold",
                                    files["gold"], "--json"], capsys)
    assert code == 0, stderr
    assert json.loads(stdout)["n_unmatched_predictions"] == 0


def test_compare_recomputes_a_seed_whose_oof_predictions_are_partial(files, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "--data", files["train"], "--methods", "mean,user-mean", "--ensemble", "equal", "--seeds", "1",
            "--folds", "2", "--out", out]
    code, _, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    for oof in (out / "cache").glob("*/oof_predictions.csv"):
        lines = oof.read_text().splitlines(keepends=True)
        oof.write_text("".join(lines[: len(lines) // 2]))   # a partial file; per_fold.csv stays complete
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    assert "reusing" not in stdout


def test_report_on_a_forecast_cv_folder_is_one_line(files, tmp_path, capsys):
    folder = tmp_path / "fcv"
    folder.mkdir()
    pd.DataFrame({"seed": [0], "fold": [0], "method": ["zero"], "r_valence": [0.1], "r_arousal": [0.2],
                  "n_users": [3]}).to_csv(folder / "per_fold.csv", index=False)
    (folder / "table.md").write_text("| method |\n")
    code, _, stderr = run_cli(["report", folder], capsys)
    assert code == 2 and "forecast-cv" in one_error_line(stderr)


@pytest.mark.slow
def test_sigterm_after_the_loop_resumes_without_training_further(files, tiny_bert_dir, tmp_path):
    """Items 1/12: stopped while the model is saved (the loop had ended, early stopping included):
    one line with --resume, and --resume finishes without running more epochs."""
    run = tmp_path / "run"
    args = ["train", "--data", files["train"], "--out", run, "--encoder", tiny_bert_dir, "--seed", "1",
            *tiny_args("epochs=3", "patience=3")]
    done = run_signalled("vatrack.models.sequence:SequenceRegressor.save", "SIGTERM", args, tmp_path)
    assert done.returncode == 143, done.stderr[-3000:]
    assert "--resume" in one_error_line(done.stderr)
    assert len(pd.read_csv(run / "history.csv")) == 3 and not (run / "metrics.json").exists()
    resumed = subprocess.run([sys.executable, "-m", "vatrack", *map(str, args), "--resume"], capture_output=True,
                             text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(pd.read_csv(run / "history.csv")) == 3 and (run / "model" / "model.json").exists()
