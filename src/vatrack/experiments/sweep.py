"""Optuna sweeps of a sequence-model preset; objective = official-style CV composite r.

Each trial samples overrides of the base preset from a search space (TPE), trains the
sequence model through every (seed, fold) of a fixed CV plan, and returns the mean
composite r (average of valence and arousal: the leaderboard figure). After every epoch the
network's inner-validation composite r is reported to Optuna (step = fold * 1000 + epoch),
and a median pruner stops a trial that trails the others at the same fold and epoch, so a
weak configuration costs a few epochs instead of every fold.

Many workers, one study: every worker opens the same storage URL and study name and adds
its own trials (``vatrack sweep ... --storage URL --study NAME`` on each machine). SQLite
(``sqlite:///sweep.db``, the default) serves several processes on one machine; for several
machines use a server database both can reach, e.g.
``--storage postgresql+psycopg2://user:pass@db-host/vatrack`` (``pip install psycopg2-binary``;
create the database once with ``createdb vatrack``). A study remembers its base preset, data
and CV plan; a worker that brings different ones is refused rather than mixing objectives.

The objective only ever runs development seeds (0..N-1). The best trial's value is the
maximum of many noisy estimates, so it is optimistic (on a 3-fold single-seed objective with
~20 trials, by a few hundredths). After the search the chosen configuration is therefore
re-evaluated once on the confirmation seeds (vatrack.protocols.CONFIRMATION_SEEDS, 5 folds
× 3 seeds by default), which no trial saw; ``best.yaml`` and the report give both figures,
the selected (optimistic) one and the confirmed one. The confirmation of a trial is stored
in the study, so further workers do not repeat it.

Outputs (``out``): ``best.yaml`` (the best configuration as a preset for ``vatrack train``),
``trials.csv``, and the sweep report (vatrack.reporting.sweep_report).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import socket
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from vatrack.errors import VatrackError

DEFAULT_STORAGE = "sqlite:///sweep.db"
# The default search space: the knobs the seed presets disagree on, in plausible ranges.
DEFAULT_SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
    "weight_decay": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "dropout": {"type": "float", "low": 0.1, "high": 0.5},
    "lstm_hidden": {"type": "categorical", "choices": [32, 64, 128, 192]},
    "lstm_layers": {"type": "int", "low": 1, "high": 2},
    "user_emb": {"type": "categorical", "choices": [0, 16, 32, 64]},
    "fusion": {"type": "categorical", "choices": [[64], [128, 64], [256, 128], [512, 256]]},
    "batch_size": {"type": "categorical", "choices": [10, 16, 32]},
    "warmup": {"type": "float", "low": 0.05, "high": 0.3},
    "ccc_weight_valence": {"type": "float", "low": 0.3, "high": 0.9},
    "ccc_weight_arousal": {"type": "float", "low": 0.3, "high": 0.9},
}


# --- search space ----------------------------------------------------------------------------------


def load_space(path) -> dict:
    """space.yaml: key -> {type: float|int, low, high[, log, step]} | {type: categorical, choices} | [choices]."""
    from vatrack.models.presets import read_yaml

    path = Path(path)
    if not path.is_file():
        raise VatrackError(f"{path}: search-space file not found")
    return read_yaml(path)


def without_fixed_keys(space: dict, overrides=()) -> tuple[dict, list[str]]:
    """``space`` less the keys an override fixes (``lstm_hidden=8`` or ``net.lstm_hidden=8``):
    a trial would otherwise overwrite the user's value without a word. Returns (space, fixed)."""
    from vatrack.models.presets import parse_overrides

    given = {key.rsplit(".", 1)[-1] for key in parse_overrides(overrides)}
    fixed = [key for key in space if key.rsplit(".", 1)[-1] in given]
    if fixed and len(fixed) == len(space):
        raise VatrackError(f"every key of the search space is fixed by `overrides` ({', '.join(fixed)}); nothing to search")
    return {k: v for k, v in space.items() if k not in fixed}, fixed


def check_space(space: dict, base, source: str = "search space") -> dict:
    """Normalised space; every bound and choice checked against the config schema now, not
    in trial 37."""
    from vatrack.models.presets import key_annotation, resolve_config

    if not isinstance(space, dict) or not space:
        raise VatrackError(f"{source}: expected a mapping of config key -> range or choices")
    checked = {}
    for key, spec in space.items():
        where = f"{source}, key '{key}'"
        annotation = key_annotation(key, where)
        if isinstance(spec, list):
            spec = {"type": "categorical", "choices": spec}
        if not isinstance(spec, dict) or spec.get("type") not in ("float", "int", "categorical"):
            raise VatrackError(f"{where}: expected {{type: float|int|categorical, ...}} or a list of choices")
        kind = spec["type"]
        allowed = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
                   "categorical": {"type", "choices"}}[kind]
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise VatrackError(f"{where}: unknown field(s) {', '.join(unknown)} for type {kind}")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise VatrackError(f"{where}: choices must be a non-empty list")
            samples = choices
        else:
            low, high = spec.get("low"), spec.get("high")
            number = int if kind == "int" else (int, float)
            if not isinstance(low, number) or not isinstance(high, number) or isinstance(low, bool) or low >= high:
                raise VatrackError(f"{where}: needs numeric low < high (got low={low!r}, high={high!r})")
            if spec.get("log") and low <= 0:
                raise VatrackError(f"{where}: log scale needs low > 0")
            samples = [low, high]
        for value in samples:
            if annotation is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            try:
                resolve_config(base, {key: value})
            except VatrackError as err:
                raise VatrackError(f"{where}, value {value!r}: {err}") from None
        checked[key] = dict(spec)
    return checked


def _encode_choice(value):
    # Optuna's categorical choices must be scalars; lists (e.g. fusion widths) travel as JSON.
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def suggest(trial, space: dict) -> dict:
    """Config overrides for one trial."""
    from vatrack.models.presets import key_annotation

    params = {}
    for key, spec in space.items():
        if spec["type"] == "float":
            value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
                                        step=spec.get("step"))
        elif spec["type"] == "int":
            value = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                                      step=int(spec.get("step") or 1))
        else:
            value = trial.suggest_categorical(key, [_encode_choice(c) for c in spec["choices"]])
        params[key] = decode_param(key, value)
    annotation = {k: key_annotation(k) for k in params}
    return {k: float(v) if annotation[k] is float and isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in params.items()}


def decode_param(key: str, value):
    """A stored trial parameter back to its config value (JSON lists for list-typed keys)."""
    from vatrack.models.presets import key_annotation

    if typing.get_origin(key_annotation(key)) is list and isinstance(value, str):
        return json.loads(value)
    return value


# --- storage and study ---------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """The storage URL without its password, for logs and reports."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def open_storage(url: str):
    engine_kwargs = {}
    if url.startswith("sqlite:"):
        # Several local workers write to one file: wait for the lock instead of failing.
        engine_kwargs = {"connect_args": {"timeout": 120}}
        file = url.split(":///", 1)[1] if ":///" in url else ""
        if file and file != ":memory:":
            Path(file).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        return _rdb_storage(url, engine_kwargs)
    except ModuleNotFoundError as err:
        raise VatrackError(f"`storage='{mask_url(url)}'`: database driver '{err.name}' is not installed "
                           "(PostgreSQL: pip install psycopg2-binary)") from None
    except Exception as err:  # bad URL, unreachable server, wrong password
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VatrackError(f"`storage='{mask_url(url)}'`: cannot open the study database ({first[:200]})") from None


def _rdb_storage(url: str, engine_kwargs: dict, attempts: int = 6):
    """RDBStorage, retried when workers that start together race to create the schema (the
    loser sees a UNIQUE-constraint error, a locked database or "table ... already exists"; the
    tables exist a moment later)."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (IntegrityError, OperationalError) as err:
            racing = isinstance(err, IntegrityError) or "locked" in str(err) or "already exists" in str(err)
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def open_study(storage_url: str, study_name: str, identity: dict, sampler_seed: int | None = None):
    """Create or join a study; refuse one that was started with another preset, data or plan."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # vatrack prints its own progress
    storage = open_storage(storage_url)
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=5, constant_liar=True)
    # No pruning in the first 3 epochs of a trial's first fold: warm-up noise.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3)
    study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize", sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif stored != identity:
        differs = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        raise VatrackError(f"study '{study_name}' in {mask_url(storage_url)} was started with another "
                           f"{', '.join(differs)}; use a new `study_name` or the same settings")
    return study


# --- the objective ---------------------------------------------------------------------------------------


def _check_inner_validation(frame: pd.DataFrame, base, n_folds: int, seeds) -> None:
    """Every trial early-stops on an inner split of each fold's training rows: too few users for
    it would fail trial 0 inside Optuna (a traceback), so say it once, before the study starts."""
    from vatrack.protocols import official_style_folds

    val_folds = int(base.flat().get("val_folds") or 0)
    if not val_folds or frame.empty:
        return
    fewest = min(fold.split(frame)[0]["user_id"].nunique() for seed in seeds
                 for fold in official_style_folds(frame, n_folds=n_folds, seed=seed))
    if fewest < 2 * val_folds:
        raise VatrackError(f"each trial's inner validation needs at least {2 * val_folds} users in a fold's training "
                           f"rows (`val_folds={val_folds}`); the smallest has {fewest}: lower it (`overrides`: val_folds=2), "
                           "use fewer `n_folds`, or more users")


def make_objective(frame: pd.DataFrame, base, space: dict, n_folds: int, seeds,
                   on_event: Callable[[str], None] | None = None):
    """trial -> mean official-style CV composite r of the base config with the trial's overrides."""
    import optuna

    from vatrack.experiments.cv import run_cv
    from vatrack.models.presets import resolve_config
    from vatrack.models.sequence import SequenceRegressor

    say = on_event or (lambda message: None)
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial) -> float:
        trial.set_user_attr("worker", worker)
        params = suggest(trial, space)
        try:
            config = resolve_config(base, params)
        except VatrackError as err:
            # Combinations each valid alone may clash (e.g. attention heads vs width).
            trial.set_user_attr("invalid", str(err))
            raise optuna.TrialPruned(str(err)) from None
        scores: list[float] = []
        folds = itertools.count()

        def after_fold(row):
            value = row.get("all.avg.r_composite", math.nan)
            scores.append(value if np.isfinite(value) else -1.0)  # no scorable user: worst, not a crash
            say(f"trial {trial.number} fold {len(scores)}: composite r avg {value:.3f} (running mean {np.mean(scores):.3f})")

        def estimator(seed):
            pruning = epoch_pruning(trial, next(folds))   # run_cv makes estimators in fold order
            return SequenceRegressor(config, seed=seed, trainer={"callbacks": [pruning]})

        result = run_cv(frame, estimator, n_folds=n_folds, seeds=seeds, on_fold=after_fold)
        for dim in ("valence", "arousal"):
            trial.set_user_attr(f"r_composite_{dim}", float(result.per_fold[f"all.{dim}.r_composite"].mean()))
        return float(np.mean(scores))

    return objective


EPOCH_STEPS = 1000  # step of (fold, epoch) = fold * EPOCH_STEPS + epoch: one axis for every trial


def epoch_pruning(trial, fold: int):
    """A Lightning callback: after each validation, report the inner-validation composite r
    (val_score) at step ``fold * EPOCH_STEPS + epoch`` and stop the trial if the pruner says so."""
    import lightning as L
    import optuna

    class EpochPruning(L.Callback):
        def on_validation_end(self, trainer, pl_module):
            value = trainer.callback_metrics.get("val_score")
            if trainer.sanity_checking or value is None:
                return
            epoch = int(trainer.current_epoch) + 1
            trial.report(float(value), fold * EPOCH_STEPS + epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at fold {fold + 1}, epoch {epoch}")

    return EpochPruning()


# --- running a sweep ---------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    study_name: str
    storage: str                      # masked URL
    trials: pd.DataFrame              # number, state, value, worker, duration_s, params...
    best_value: float | None
    best_params: dict
    best_trial: int | None
    preset_path: Path | None
    importances: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    confirmed: dict | None = None     # the best trial on confirmation seeds (see confirm_best)


def trials_frame(study) -> pd.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False):
        value = t.value
        if value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]  # a pruned trial's last report
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        rows.append({"number": t.number, "state": t.state.name, "value": value, "worker": t.user_attrs.get("worker"),
                     "duration_s": duration, "epochs_reported": len(t.intermediate_values),
                     **{f"param.{k}": v for k, v in t.params.items()}})
    return pd.DataFrame(rows, columns=["number", "state", "value", "worker", "duration_s", "epochs_reported"]
                        + sorted({f"param.{k}" for t in study.get_trials(deepcopy=False) for k in t.params}))


def param_importances(study) -> dict[str, float]:
    """fANOVA importances of the completed trials ({} while there are too few to tell)."""
    import optuna

    try:
        return dict(optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def best_config(study, base):
    """The best trial's configuration (base preset + its parameters)."""
    from vatrack.models.presets import resolve_config

    best = study.best_trial
    params = {k: decode_param(k, v) for k, v in best.params.items()}
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{study.study_name}-best")
    return resolve_config(base, {**params, "name": name,
                                 "description": f"best of sweep '{study.study_name}': trial {best.number}, "
                                                f"selected CV composite r {best.value:.4f}"})


def confirm_best(frame: pd.DataFrame, study, base, n_folds: int = 5, n_seeds: int = 3, jobs: int = 1,
                 on_event: Callable[[str], None] | None = None) -> dict:
    """The best trial's configuration re-evaluated on confirmation seeds (no trial used them):
    the sweep's honest estimate. Stored in the study (user attribute), reused when present."""
    from vatrack.experiments.cv import run_cv
    from vatrack.models.sequence import SequenceRegressor
    from vatrack.protocols import cv_seeds

    say = on_event or (lambda message: None)
    best = study.best_trial
    seeds = cv_seeds(n_seeds, confirm=True)
    key = f"confirmed:{best.number}:{n_folds}x{'-'.join(map(str, seeds))}"
    if key in study.user_attrs:
        return study.user_attrs[key]
    config = best_config(study, base)
    say(f"confirming trial {best.number} on confirmation seeds {list(seeds)} × {n_folds} folds")
    result = run_cv(frame, lambda seed: SequenceRegressor(config, seed=seed), n_folds=n_folds, seeds=seeds, jobs=jobs,
                    on_fold=lambda row: say(f"  confirmation seed {row['seed']} fold {row['fold']}: composite r avg "
                                            f"{row.get('all.avg.r_composite', math.nan):.3f}"))
    figures = result.per_fold
    confirmed = {"trial": best.number, "selected_value": float(best.value), "folds": n_folds, "seeds": list(seeds),
                 "value": float(figures["all.avg.r_composite"].mean()), "std": float(figures["all.avg.r_composite"].std(ddof=1)),
                 **{f"r_composite_{d}": float(figures[f"all.{d}.r_composite"].mean()) for d in ("valence", "arousal")}}
    study.set_user_attr(key, confirmed)
    return confirmed


def write_best_preset(study, base, path, meta: dict, confirmed: dict | None = None) -> Path:
    """The best trial's configuration as a preset YAML that `vatrack train --preset PATH` reads."""
    from vatrack.models.presets import config_yaml
    from vatrack.io import write_text

    best = study.best_trial
    params = {k: decode_param(k, v) for k, v in best.params.items()}
    config = best_config(study, base)
    if confirmed:
        honest = (f"# Confirmed (honest estimate): {confirmed['value']:.4f} ± {confirmed['std']:.4f} "
                  f"(V {confirmed['r_composite_valence']:.4f}, A {confirmed['r_composite_arousal']:.4f}) over "
                  f"{confirmed['folds']} folds x confirmation seeds {confirmed['seeds']}, which no trial used.\n")
    else:
        honest = "# Not confirmed (--no-confirm): the selected value above is optimistic; run `vatrack cv --confirm`.\n"
    header = (f"# Written by `vatrack sweep` — study '{study.study_name}', trial {best.number} of "
              f"{len(study.trials)}.\n# Selected on (optimistic: the maximum over trials): official-style CV composite r "
              f"(avg of V and A) = {best.value:.4f} over {meta.get('folds')} folds x development seeds {meta.get('seeds')}.\n"
              f"{honest}# Base preset: {meta.get('base')}; "
              f"swept keys: {', '.join(sorted(params))}.\n"
              f"# Use: vatrack train --data TRAIN.csv --preset {Path(path).name} --out RUN_DIR\n")
    return write_text(path, header + config_yaml(config))


def run_sweep(frame: pd.DataFrame, preset: str, n_trials: int, out_dir, *, storage: str = DEFAULT_STORAGE,
              study_name: str | None = None, space: dict | None = None, n_folds: int = 3, seeds=(0,),
              encoder: str | None = None, overrides=(), timeout: float | None = None, sampler_seed: int | None = None,
              on_event: Callable[[str], None] | None = None, data_label: str = "", confirm: bool = True,
              confirm_folds: int = 5, confirm_seeds: int = 3) -> SweepResult:
    """Add ``n_trials`` trials (this worker's share) to the study, confirm the best on the
    confirmation seeds (``confirm``), then write best.yaml and trials.csv."""
    import optuna

    from vatrack.experiments.versions import data_fingerprint
    from vatrack.models.presets import resolve_config
    from vatrack.io import write_csv
    from vatrack.protocols import check_development_seeds, cv_seeds

    if n_trials < 1:
        raise VatrackError(f"`n_trials` must be at least 1 (got {n_trials})")
    check_development_seeds(seeds, "a sweep's objective (a selection)")
    if confirm:
        cv_seeds(confirm_seeds, confirm=True, param="confirm_seeds")  # a bad one fails now, not after the search
    base = resolve_config(preset, encoder=encoder, overrides=list(overrides))
    space, fixed = without_fixed_keys(space if space is not None else DEFAULT_SPACE, overrides)
    if fixed and on_event:
        on_event(f"note: not searched, fixed by `overrides`: {', '.join(fixed)}")
    space = check_space(space, base)
    seeds = [int(s) for s in seeds]
    _check_inner_validation(frame, base, n_folds, seeds)
    study_name = study_name or f"vatrack-{base.name}"
    identity = {"base": base.flat(), "data": data_fingerprint(frame), "folds": n_folds, "seeds": seeds,
                "space": json.loads(json.dumps(space))}
    study = open_study(storage, study_name, identity, sampler_seed)
    started = time.perf_counter()
    study.optimize(make_objective(frame, base, space, n_folds, seeds, on_event), n_trials=n_trials, timeout=timeout,
                   gc_after_trial=True)
    out_dir = Path(out_dir) if out_dir else Path("sweeps") / study_name
    trials = trials_frame(study)
    write_csv(out_dir / "trials.csv", trials)
    meta = {"base": preset, "data": data_label, "folds": n_folds, "seeds": seeds, "space": space,
            "wall_time_s": round(time.perf_counter() - started, 1), "trials_this_worker": n_trials,
            "out": str(out_dir)}
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return SweepResult(study_name, mask_url(storage), trials, None, {}, None, None, {}, meta)
    best = study.best_trial
    confirmed = confirm_best(frame, study, base, confirm_folds, confirm_seeds, on_event=on_event) if confirm else None
    preset_path = write_best_preset(study, base, out_dir / "best.yaml", meta, confirmed)
    return SweepResult(study_name, mask_url(storage), trials, float(best.value),
                       {k: decode_param(k, v) for k, v in best.params.items()}, best.number, preset_path,
                       param_importances(study), meta, confirmed)
