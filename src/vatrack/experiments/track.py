"""Your own diary, end to end: fit on the rated entries, predict every entry, per-person trajectories.

``run_track`` takes a diary (any column names, rating scale and date format, see
:class:`vatrack.data.DiaryFormat`) in which some entries are rated and some are not:

1. **Rated entries are predicted out of fold**: the rated entries are dealt into ``folds``
   groups; each group is predicted by a model fitted on the other groups' ratings only, so
   no entry is ever predicted by a model that saw its own rating. (A person's *other*
   ratings may inform it — the model learns how that person writes and rates.)
2. **Unrated entries** are predicted by one model fitted on all the ratings; that model is
   saved, so the output folder is a run that ``vatrack predict --run`` and
   ``vatrack track --run`` accept for new entries.
3. With ``run``, nothing is fitted: a trained run predicts every entry (labels unused).

Every person's *filled* series (the rating where there is one, else the prediction) gives
the per-person statistics of :mod:`vatrack.evaluation.trajectory`. The out-of-fold
predictions of the rated entries measure how well the model did, beside a person-mean
reference fitted on the same folds (does the text add anything to "this person is usually
like this"?). Everything the user sees is on their own rating scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from vatrack.data import LABELS, Diary, DiaryFormat, read_diary
from vatrack.errors import VatrackError
from vatrack.evaluation.metrics import subtask1_metrics
from vatrack.evaluation.trajectory import STAT_COLUMNS, series_statistics
from vatrack.protocols import model_inputs, strip_labels

TRACK_METHOD = "ridge+user"
MIN_RATED = 10                     # fewer rated entries cannot support out-of-fold fits
OUTPUT_COLUMNS = ("pred_valence", "pred_arousal", "pred_kind")
KIND_OOF, KIND_UNRATED, KIND_PARTLY, KIND_RUN = "out_of_fold", "unrated", "partly_rated", "run"


@dataclass
class TrackResult:
    diary: Diary
    predictions: np.ndarray          # (n, 2) on the model scale, aligned with diary.frame
    kind: np.ndarray                 # (n,) KIND_* per row of diary.frame
    quality: pd.DataFrame | None     # out-of-fold figures on the user's scale (None with a run)
    people: pd.DataFrame             # one row per person and dimension
    model: object | None             # the model fitted on all ratings (None with a run)
    meta: dict = field(default_factory=dict)

    @property
    def format(self) -> DiaryFormat:
        return self.diary.format

    @property
    def person_column(self) -> str:
        return self.format.columns.get("user_id", "user_id")

    def series(self) -> pd.DataFrame:
        """Per entry, time-ordered: person, timestamp, and per dimension the rating, the
        prediction and the filled value, all on the user's scale."""
        frame = self.diary.frame
        out = pd.DataFrame({"person": frame["user_id"].to_numpy(), "timestamp": frame["timestamp"].to_numpy(),
                            "kind": self.kind})
        for j, label in enumerate(LABELS):
            rating = self.format.to_user(label, frame[label].to_numpy(dtype=float))
            rating[np.isnan(frame[label].to_numpy(dtype=float))] = np.nan
            prediction = self.format.to_user(label, self.predictions[:, j])
            out[f"{label}_rating"] = rating
            out[f"{label}_prediction"] = prediction
            out[f"{label}_filled"] = np.where(np.isnan(rating), prediction, rating)
        return out

    def table(self) -> pd.DataFrame:
        """predictions.csv: every input row in the input's order, all its columns, plus the predictions."""
        raw = self.diary.raw.copy()
        user = self.format.predictions_to_user(pd.DataFrame({f"pred_{label}": self.predictions[:, j]
                                                             for j, label in enumerate(LABELS)}))
        order = np.empty(len(raw), dtype=np.int64)
        order[self.diary.row] = np.arange(len(raw))  # raw row -> frame row
        for label in LABELS:
            raw[f"pred_{label}"] = np.round(user[f"pred_{label}"].to_numpy()[order], 3)
        raw["pred_kind"] = self.kind[order]
        return raw


def run_track(source, format: DiaryFormat | None = None, *, method: str | None = None, preset: str | None = None,
              run=None, encoder: str | None = None, folds: int | None = None, seed: int | None = None, overrides=(),
              on_event: Callable[[str], None] | None = None) -> TrackResult:
    """Fit on the rated entries of ``source`` (a CSV path or DataFrame), predict every entry; see the module doc.

    ``folds`` (default 5) and ``seed`` (default 0), like ``encoder`` and ``overrides``, are
    settings of the fit: with a trained ``run`` they are refused, not ignored."""
    say = on_event or (lambda message: None)
    if run is not None and (method or preset):
        raise VatrackError("give a trained run, or a method/preset to fit, not both")
    if run is not None:
        fitting_only = {"encoder": encoder, "overrides": list(overrides or []) or None, "folds": folds, "seed": seed}
        given = [f"`{name}`" for name, value in fitting_only.items() if value is not None]
        if given:
            raise VatrackError(f"{', '.join(given)}: settings for fitting a model here; a trained run (`run`) predicts "
                               "with its own, leave them out")
    folds = 5 if folds is None else folds
    seed = 0 if seed is None else seed
    if folds < 2:
        raise VatrackError(f"folds must be at least 2 (got {folds})")
    if run is not None:
        from vatrack.experiments.runs import load_run_model, run_format

        model = load_run_model(run)               # a bad run fails before the diary is read
        format = run_format(run, format)
    diary = read_diary(source, format=format)
    clash = [c for c in OUTPUT_COLUMNS if c in diary.raw.columns]
    if clash:
        raise VatrackError(f"{diary.path}: already has a column '{clash[0]}' (the output of an earlier run?); "
                           "rename or drop it so the predictions do not overwrite it")
    frame = model_inputs(diary.frame)   # nothing derived from later rows reaches a model
    rated = diary.rated
    started = time.perf_counter()
    if run is not None:
        say(f"predicting {len(frame)} entries of {frame['user_id'].nunique()} people with the run {run}")
        predictions = _predict(model, frame)
        kind = np.full(len(frame), KIND_RUN, dtype=object)
        result = TrackResult(diary, predictions, kind, None, pd.DataFrame(), None,
                             {"model": f"run {run}", "folds": None})
    else:
        absent = [label for label in LABELS if diary.format.columns.get(label, label) not in diary.raw.columns]
        if absent:  # the rating columns are optional to read, but fitting needs them: say which to map
            raise VatrackError(f"{diary.path}: no {' or '.join(absent)} column (columns found: "
                               f"{', '.join(map(str, diary.raw.columns))}); map yours with `columns`, e.g. "
                               f"`columns={{'{absent[0]}': 'YOURS'}}`, or predict with a trained run (`run`)")
        if rated.sum() < MIN_RATED:
            raise VatrackError(f"{diary.path}: only {int(rated.sum())} entries have both ratings; fitting needs at "
                               f"least {MIN_RATED} (or predict with a trained run)")
        from vatrack.experiments.cv import estimator_factory

        method = None if preset else (method or TRACK_METHOD)
        factory = estimator_factory(method, preset, encoder, overrides)
        name = method or f"preset {preset}"
        groups = _fold_groups(int(rated.sum()), folds, seed)
        say(f"fitting {name} on {int(rated.sum())} rated entries of {frame['user_id'].nunique()} people: "
            f"{groups.max() + 1} out-of-fold fits + 1 on all ratings for the {int((~rated).sum())} unrated")
        _encode_once(factory(seed), frame["text"])
        predictions = np.full((len(frame), 2), np.nan)
        reference = np.full((len(frame), 2), np.nan)
        rated_rows = np.flatnonzero(rated)
        for k in range(groups.max() + 1):
            held, fit = rated_rows[groups == k], rated_rows[groups != k]
            predictions[held] = _predict(factory(seed).fit(frame.iloc[fit].reset_index(drop=True)), frame.iloc[held])
            reference[held] = _predict(_person_mean(seed).fit(frame.iloc[fit].reset_index(drop=True)), frame.iloc[held])
            say(f"  out-of-fold {k + 1}/{groups.max() + 1}: predicted {len(held)} rated entries")
        model = factory(seed).fit(frame.iloc[rated_rows].reset_index(drop=True))
        if (~rated).any():
            predictions[~rated] = _predict(model, frame[~rated])
        # An entry with one of the two ratings is not fitted on (the models learn both at once); it is
        # predicted like an unrated one and its rating still fills its series.
        partly = frame[list(LABELS)].notna().any(axis=1).to_numpy() & ~rated
        kind = np.where(rated, KIND_OOF, np.where(partly, KIND_PARTLY, KIND_UNRATED)).astype(object)
        quality = _quality(frame[rated], predictions[rated], reference[rated], diary.format, name)
        result = TrackResult(diary, predictions, kind, quality, pd.DataFrame(), model,
                             {"model": name, "folds": int(groups.max() + 1), "seed": seed,
                              "encoder": encoder or (None if preset else "minilm"),
                              "overrides": list(overrides or [])})
    result.people = people_table(result)
    result.meta.update({"entries": len(frame), "rated": int(rated.sum()), "people": int(frame["user_id"].nunique()),
                        "seconds": round(time.perf_counter() - started, 1), "data": diary.path,
                        "scales": diary.format.scale_record(), "columns": dict(diary.format.columns)})
    return result


def _encode_once(model, texts: pd.Series) -> None:
    """Embed every text in one pass (one progress bar, one cache write) before the fits read them."""
    from vatrack.encoders import get_encoder

    config = getattr(model, "config", None)
    if getattr(config, "encoder_mode", "frozen") != "frozen":
        return   # a fine-tuned encoder embeds inside the model
    name = getattr(model, "encoder", None) or getattr(config, "encoder", None)
    if isinstance(name, str):
        get_encoder(name).encode(texts.tolist())


def _fold_groups(n: int, folds: int, seed: int) -> np.ndarray:
    """Each of n rated entries' out-of-fold group, shuffled by seed, sizes within one."""
    k = min(folds, n)
    groups = np.arange(n) % k
    return np.random.default_rng(seed).permutation(groups)


def _person_mean(seed: int):
    from vatrack.models import make_model

    return make_model("user-mean", seed=seed)


def _predict(model, rows: pd.DataFrame) -> np.ndarray:
    out = model.predict(strip_labels(rows.reset_index(drop=True)))
    return out[[f"pred_{label}" for label in LABELS]].to_numpy(dtype=float)


def _quality(rated: pd.DataFrame, predictions: np.ndarray, reference: np.ndarray, format: DiaryFormat,
             name: str) -> pd.DataFrame:
    """Out-of-fold r (all entries, within person, between people) and MAE, on the user's scale."""
    rows = []
    for label_model, pred in ((name, predictions), ("person mean (reference)", reference)):
        scored = pd.DataFrame({"user_id": rated["user_id"].to_numpy()})
        for j, label in enumerate(LABELS):
            scored[label] = format.to_user(label, rated[label].to_numpy(dtype=float))
            scored[f"pred_{label}"] = format.to_user(label, pred[:, j])
        figures = subtask1_metrics(scored)
        for label in LABELS:
            f = figures[label]
            low, high = format.user_scale(label)
            rows.append({"model": label_model, "dimension": label, "scale": f"{low:g}..{high:g}",
                         "entries": len(scored), "r": f["pearson"], "r_within_person": f["r_within"],
                         "r_between_people": f["r_between"], "mae": f["mae"]})
    return pd.DataFrame(rows)


def people_table(result: TrackResult) -> pd.DataFrame:
    """One row per person and dimension: entries, ratings, and the trajectory statistics of the filled series."""
    series = result.series()
    rows = []
    for person, entries in series.groupby("person", sort=False):
        for label in LABELS:
            stats = series_statistics(entries[f"{label}_filled"], entries["timestamp"])
            rows.append({result.person_column: person, "dimension": label, "n_entries": len(entries),
                         "n_rated": int(entries[f"{label}_rating"].notna().sum()),
                         **{name: stats[name] for name in STAT_COLUMNS},
                         "first_entry": entries["timestamp"].min(), "last_entry": entries["timestamp"].max()})
    return pd.DataFrame(rows)


def csv_dialect(diary: Diary) -> dict:
    """The separator and decimal mark the user's own file used, so the tables open in the same
    spreadsheet the export came from: a semicolon file (most of Europe) gets decimal commas back;
    another separator gets them only if its ratings had them."""
    sep = diary.raw.attrs.get("sep", ",")
    if sep == ",":
        return {"sep": ","}
    ratings = [diary.format.columns.get(label, label) for label in LABELS]
    commas = any(diary.raw[c].astype(str).str.fullmatch(r"\s*-?\d+,\d+\s*").any() for c in ratings if c in diary.raw)
    return {"sep": sep, "decimal": "," if sep == ";" or commas else "."}


def write_track(result: TrackResult, out) -> dict[str, Path]:
    """predictions.csv, people.csv, quality.csv, track.json and (when fitted) model/ + scales.json in
    ``out``; the tables in the separator and decimal mark of the user's file (:func:`csv_dialect`)."""
    from vatrack.experiments.runs import SCALES_FILE
    from vatrack.io import write_csv, write_json

    out = Path(out)
    dialect = csv_dialect(result.diary)
    paths = {"predictions": write_csv(out / "predictions.csv", result.table(), **dialect),
             "people": write_csv(out / "people.csv", result.people, date_format="%Y-%m-%d %H:%M", **dialect)}
    if result.quality is not None:
        paths["quality"] = write_csv(out / "quality.csv", result.quality, **dialect)
    if result.model is not None:
        result.model.save(out / "model")
        paths["scales"] = write_json(out / SCALES_FILE, result.format.scale_record())
    paths["meta"] = write_json(out / "track.json", result.meta)
    return paths
