"""Issue #14: signals, concurrent runs, resume of refit runs and moved runs, write failures,
corrupted run files, option values, cache history, and the minor items.

Each test names the item it covers. Signals are sent by the process to itself at a known
point (a patched function), so the tests do not depend on timing; where the exit code or
the process tree is the point, the command runs in a subprocess.
"""

from __future__ import annotations

import json
import os
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


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
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
    return subprocess.run([sys.executable, "-c", _SIGNAL_SCRIPT, owner, attr, signame, *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)


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
