"""Library errors name the call's parameters; the CLI shows its flags (issue #11).

A message names a parameter in backticks (`force=True`, `n_folds`); ``vatrack.cli.flags``
rewrites those names with its one table ``vatrack.cli.FLAGS`` before printing.
"""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import vatrack
from conftest import run_cli
from vatrack.errors import PARAM, RunInterrupted, VatrackError

SRC = Path(vatrack.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")

# (file under src/vatrack, flag) -> why that literal may name a CLI flag.
ALLOWED = {
    ("encoders/sources.py", "--no-deps"): "a pip command line to run in a shell, not a vatrack option",
    ("experiments/demo.py", "--column"): "next_command builds the `vatrack track` command line the demo prints",
    ("experiments/demo.py", "--scale"): "next_command builds the `vatrack track` command line the demo prints",
    ("experiments/sweep.py", "--no-confirm"): "a comment in best.yaml beside the `vatrack` commands it documents",
}
# Whole folders: reports are documents about the commands that made them, not messages of a call.
ALLOWED_DIRS = {"reporting/": "reports describe the commands (and their flags) that produced the figures"}
# Names in backticks that are not parameters of a call.
NOT_PARAMETERS = {"val_dataloader": "part of a Lightning warning that is filtered out, never shown"}


def _literals(tree):
    """(line, text) of every string literal but docstrings; an f-string is one text, {} for its fields."""
    docs, parts = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts.update(id(v) for v in node.values)
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs | parts:
            yield node.lineno, node.value


def _library_literals():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel != "cli.py":
            for line, text in _literals(ast.parse(path.read_text(encoding="utf-8"))):
                yield rel, line, text


def test_no_library_message_names_a_cli_flag():
    """New `--flag` literals in library messages cannot creep back: name the parameter instead."""
    found, used = [], set()
    for rel, line, text in _library_literals():
        if any(rel.startswith(d) for d in ALLOWED_DIRS):
            continue
        # A whole `vatrack <command> ...` line is a command to type, flags and all.
        for flag in FLAG.findall(re.sub(r"vatrack [a-z-]+.*", "", text, flags=re.S)):
            if (rel, flag) in ALLOWED:
                used.add((rel, flag))
            else:
                found.append(f"{rel}:{line}: {flag} in {text[:80]!r}")
    assert not found, "library messages name CLI flags; name the parameter (`force=True`):\n" + "\n".join(found)
    assert used == set(ALLOWED), f"stale allow-list entries: {set(ALLOWED) - used}"


def test_every_parameter_a_message_names_has_a_flag():
    from vatrack.cli import FLAGS

    named = {m.group(1) for _, _, text in _library_literals() for m in PARAM.finditer(text)}
    assert named - set(FLAGS) - set(NOT_PARAMETERS) == set()


@pytest.mark.parametrize(("message", "shown"), [
    ("x already exists; pass `force=True` to overwrite it or choose another `out`",
     "x already exists; pass --force to overwrite it or choose another --out"),
    ("`n_folds` must be at least 2 (got 1)", "--folds must be at least 2 (got 1)"),
    ("`confirm=True` has 5 seeds; ask for `n_seeds=5` or fewer", "--confirm has 5 seeds; ask for --seeds 5 or fewer"),
    ("train with `val='none'`, or with `val_folds=2`", "train with --val none, or with --set val_folds=2"),
    ("e.g. `columns={'user_id': 'participant'}`", "e.g. --column user_id=participant"),
    ("give yours with `scales={'valence': (LO, HI)}`", "give yours with --scale valence=LO:HI"),
    ("pass `date_order='dayfirst'`, `date_order='monthfirst'` or `date_format=FMT`",
     "pass --dayfirst, --monthfirst or --date-format FMT"),
    ("`reference` 'nope' is not one of the versions", "--reference 'nope' is not one of the versions"),
    ("run `vatrack cv --out DIR` or pass `bogus`", "run `vatrack cv --out DIR` or pass `bogus`"),  # not a known name
])
def test_the_cli_translates_parameter_names_to_flags(message, shown):
    from vatrack.cli import flags

    assert flags(message) == shown


# --- the same error through the Python API and through the CLI -------------------------------------


def test_prepare_run_dir_names_force_and_the_cli_says_force(task_files, tmp_path, capsys):
    from vatrack.io import prepare_run_dir

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(VatrackError) as err:
        prepare_run_dir(taken)
    assert "pass `force=True` to overwrite it or choose another `out`" in str(err.value)
    assert "--" not in str(err.value) and err.value.params == ("force", "out")
    code, _, stderr = run_cli(["cv", "--method", "mean", "--data", task_files["train"], "--folds", "2", "--seeds", "1",
                               "--out", taken], capsys)
    assert code == 2 and stderr.strip() == (f"error: {taken} already exists and is not empty; pass --force to overwrite "
                                            "it or choose another --out")
    assert (taken / "notes.txt").read_text() == "mine"


def test_resume_names_its_parameters_and_the_cli_its_flags(tmp_path, capsys):
    from vatrack.data import make_official_like, write_csv_like_official
    from vatrack.experiments.runs import train_run

    data = tmp_path / "train.csv"
    write_csv_like_official(make_official_like(n_users=12, seed=1)[0], data)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(VatrackError, match=r"nothing to resume .*; pass `force=True` to start it again$") as err:
        train_run(data, "v3.3", other, resume=True, progress=False)
    assert "--" not in str(err.value)
    code, _, stderr = run_cli(["train", "--data", data, "--out", other, "--resume"], capsys)
    assert code == 2 and "nothing to resume" in stderr and stderr.strip().endswith("pass --force to start it again")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("name: something else\n")
    (run / "checkpoints" / "resume.ckpt").write_bytes(b"x")
    with pytest.raises(VatrackError, match=r"`resume=True` needs the same `preset`, `overrides` and `encoder`"):
        train_run(data, "v3.3", run, resume=True, progress=False)
    code, _, stderr = run_cli(["train", "--data", data, "--out", run, "--resume"], capsys)
    assert code == 2 and "--resume needs the same --preset, --set and --encoder" in stderr
    assert "pass --force to start a new run instead" in stderr


def test_an_interrupted_training_says_resume_true_and_the_cli_says_resume(tmp_path):
    from vatrack.cli import flags
    from vatrack.training.trainer import _interrupted

    stop = _interrupted("SIGTERM", SimpleNamespace(current_epoch=2), tmp_path)
    assert str(stop).endswith("rerun it with `resume=True` to continue from epoch 3") and stop.params == ("resume",)
    again = pickle.loads(pickle.dumps(stop))   # --jobs workers send it across processes
    assert isinstance(again, RunInterrupted) and str(again) == str(stop) and again.exit_code == 143
    assert flags(str(again)).endswith("rerun it with --resume to continue from epoch 3")
    fresh = _interrupted("SIGINT", SimpleNamespace(current_epoch=0), tmp_path)
    assert flags(str(fresh)).endswith("no epoch had finished; rerun it with --force")


def test_folds_name_n_folds_and_the_cli_says_folds(task_files, capsys):
    from vatrack.data import load_diary, make_diaries
    from vatrack.protocols import official_style_folds
    from vatrack.protocols.forecasting import forecasting_folds

    with pytest.raises(VatrackError, match=r"^`n_folds` must be at least 2 \(got 1\)$"):
        official_style_folds(make_diaries(n_users=6, seed=0), n_folds=1)
    with pytest.raises(VatrackError, match=r"^`n_folds` must be at least 2 \(got 1\)$"):
        forecasting_folds(make_diaries(n_users=6, seed=0), n_folds=1)
    frame = load_diary(task_files["train"], require_labels=True)
    many = frame["user_id"].nunique() // 2 + 1
    with pytest.raises(VatrackError, match=rf"^official-style CV with `n_folds={many}` needs at least"):
        official_style_folds(frame, n_folds=many)
    code, _, stderr = run_cli(["cv", "--method", "mean", "--data", task_files["train"], "--folds", str(many)], capsys)
    assert code == 2 and f"official-style CV with --folds {many} needs at least" in stderr, stderr


def test_seeds_name_n_seeds_and_the_cli_says_seeds(task_files, capsys):
    from vatrack.protocols import cv_seeds

    with pytest.raises(VatrackError, match=r"`confirm=True` has 5 seeds .*; ask for `n_seeds=5` or fewer$"):
        cv_seeds(6, confirm=True)
    code, _, stderr = run_cli(["cv", "--method", "mean", "--data", task_files["train"], "--seeds", "6", "--confirm"], capsys)
    assert code == 2 and "--confirm has 5 seeds" in stderr and "ask for --seeds 5 or fewer" in stderr


def test_a_note_names_the_flag_on_the_cli(tmp_path, capsys):
    """Notes (logger `vatrack`) go through the same table: a date read day-first says --dayfirst."""
    from vatrack.cli import _NoteHandler
    import logging

    record = logging.LogRecord("vatrack", logging.INFO, __file__, 1, "read dates day-first; pass `date_order='dayfirst'` "
                               "to make it explicit", None, None)
    _NoteHandler().emit(record)
    assert "note: read dates day-first; pass --dayfirst to make it explicit" in capsys.readouterr().err
