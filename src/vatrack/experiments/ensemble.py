"""Weighted ensembles of subtask-1 models, with weights fitted on out-of-fold predictions only.

An ensemble prediction is, per dimension, a convex combination of its members' predictions:
weights are non-negative and sum to 1, so a blend of in-scale predictions stays in scale and
no intercept can quietly re-fit the label mean. Weights come from one of:

* ``cv``: least squares of the members' out-of-fold (OOF) predictions against gold, on the
  simplex (SLSQP, started from the normalised non-negative least-squares solution);
* ``equal``: 1/m each.

The rule that makes the figures honest: weights are never fitted on rows whose labels any
model behind them has seen, nor on the rows they predict. ``cv_ensemble`` scores outer fold
k with weights fitted by an *inner* CV inside fold k's training rows (nested): every member
is fitted on inner training rows and predicts inner held-out rows, all within the outer
training rows, so neither the weights nor the members' fold-k models ever saw a label of
fold k. (Fitting fold k's weights on the other outer folds' OOF predictions, as vatrack
did before, is a second-order leak: those predictions come from models trained on fold
k's rows.) ``EnsembleRegressor`` is the same procedure as an estimator (fit = inner CV for
the weights, then every member on all rows). ``ensemble_predict`` refuses data whose rows
appear in the OOF predictions its weights are fitted on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from vatrack.data.schema import LABELS
from vatrack.errors import VatrackError

WEIGHT_MODES = ("cv", "equal")
OOF_FILE = "oof_predictions.csv"
_KEYS = ["seed", "fold", "user_id", "text_id"]
# Folds of the inner CV (inside an outer fold's training rows) that ensemble weights are fitted on.
INNER_FOLDS = 3
# An inner CV's predictions carry the outer (seed, fold) they belong to in these columns.
OUTER_KEYS = ["outer_seed", "outer_fold"]


def check_mode(mode: str, name: str = "weights") -> str:
    """``mode`` if it is a weighting mode; ``name``: the caller's parameter that gave it."""
    if mode not in WEIGHT_MODES:
        raise VatrackError(f"`{name}` must be one of {', '.join(WEIGHT_MODES)} (got '{mode}')")
    return mode


# --- weights -------------------------------------------------------------------------------------


def simplex_weights(preds: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """argmin_w ||preds @ w − gold||² subject to w >= 0, sum(w) = 1.

    ``preds``: (n, m) member predictions; ``gold``: (n,). Deterministic.
    """
    preds, gold = np.asarray(preds, float), np.asarray(gold, float)
    m = preds.shape[1]
    if m == 1:
        return np.ones(1)
    start, _ = optimize.nnls(preds, gold)
    start = start / start.sum() if start.sum() > 0 else np.full(m, 1.0 / m)
    # Scale the objective to a mean, so SLSQP's tolerances mean the same for 100 or 100k rows.
    def loss(w):
        return float(np.mean((preds @ w - gold) ** 2))

    def grad(w):
        return 2.0 * preds.T @ (preds @ w - gold) / len(gold)

    res = optimize.minimize(loss, start, jac=grad, method="SLSQP", bounds=[(0.0, 1.0)] * m,
                            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
                            options={"ftol": 1e-12, "maxiter": 500})
    w = np.clip(res.x if res.success else start, 0.0, None)
    return w / w.sum()


def fit_weights(aligned: pd.DataFrame, n_members: int, mode: str = "cv") -> dict[str, np.ndarray]:
    """Per-dimension weights from rows of :func:`align_members` output."""
    if check_mode(mode, "mode") == "equal" or len(aligned) == 0:
        return {dim: np.full(n_members, 1.0 / n_members) for dim in LABELS}
    return {dim: simplex_weights(aligned[[f"pred_{dim}__{i}" for i in range(n_members)]].to_numpy(float),
                                 aligned[dim].to_numpy(float))
            for dim in LABELS}


def blend(aligned: pd.DataFrame, weights: dict[str, np.ndarray]) -> pd.DataFrame:
    """pred_valence / pred_arousal as the weighted sum of the members' columns."""
    out = aligned.copy()
    for dim in LABELS:
        w = weights[dim]
        out[f"pred_{dim}"] = aligned[[f"pred_{dim}__{i}" for i in range(len(w))]].to_numpy(float) @ w
    return out


# --- aligning members' predictions -------------------------------------------------------------


def align_members(frames: list[pd.DataFrame], names: list[str], keys=_KEYS) -> pd.DataFrame:
    """One row per key shared by every member: gold (when present) + pred_<dim>__<i> per member.

    Members must predict the same rows (the same CV plan, or the same data); a member that
    misses rows the others have is an error rather than a silent shrink of the data.
    """
    keys = [k for k in keys if all(k in f.columns for f in frames)]
    base = frames[0]
    extra = [c for c in (*LABELS, "is_seen_user") if c in base.columns]
    aligned = base[keys + extra].copy()
    for i, (frame, name) in enumerate(zip(frames, names)):
        part = frame[keys + [f"pred_{d}" for d in LABELS]].rename(columns={f"pred_{d}": f"pred_{d}__{i}" for d in LABELS})
        if part.duplicated(keys).any():
            raise VatrackError(f"ensemble member '{name}': its predictions hold a row key twice; one prediction per row")
        merged = aligned.merge(part, on=keys, how="inner")
        if len(merged) != len(aligned) or len(part) != len(aligned):
            raise VatrackError(f"ensemble member '{name}' predicts {len(part)} rows, '{names[0]}' {len(aligned)}, "
                               f"{len(merged)} shared; members must come from the same CV plan (folds, seeds, data)")
        aligned = merged
    return aligned


# --- nested, cross-validated ensemble (for compare and EnsembleRegressor) ------------------------------


def blend_predictions(preds: list[pd.DataFrame], weights: dict[str, np.ndarray], inputs: pd.DataFrame) -> pd.DataFrame:
    """Members' prediction frames (same rows, same order) -> one prediction frame, weighted per dimension."""
    from vatrack.models.baselines import prediction_frame

    stacked = {dim: np.column_stack([p[f"pred_{dim}"].to_numpy(float) for p in preds]) for dim in LABELS}
    return prediction_frame(inputs, np.column_stack([stacked[dim] @ weights[dim] for dim in LABELS]))


def inner_oof(train: pd.DataFrame, make_estimator, seed: int, inner_folds: int = INNER_FOLDS,
              jobs: int = 1) -> pd.DataFrame:
    """Out-of-fold predictions of one member from an official-style CV *inside* ``train``
    (``inner_folds`` folds, the outer seed): what its weight in an ensemble may be fitted on."""
    from vatrack.experiments.cv import run_cv

    return run_cv(train, make_estimator, n_folds=inner_folds, seeds=(int(seed),), jobs=jobs).predictions


def weights_from_inner(inner: dict[str, pd.DataFrame], mode: str = "cv") -> dict[str, np.ndarray]:
    """Per-dimension weights fitted on the members' inner-CV out-of-fold predictions."""
    names = list(inner)
    if check_mode(mode, "mode") == "equal":
        return fit_weights(pd.DataFrame(), len(names), "equal")
    aligned = align_members([inner[n] for n in names], names)
    return fit_weights(aligned, len(names), mode)


def cv_ensemble(members: dict[str, pd.DataFrame], mode: str = "cv", inner: dict[str, pd.DataFrame] | None = None):
    """Score an ensemble of CV runs with nested weights.

    ``members``: name -> outer out-of-fold predictions (seed, fold, user_id, text_id, gold,
    is_seen_user, pred_*) from the same CV plan. ``inner``: name -> inner-CV out-of-fold
    predictions (:func:`inner_oof` of each outer fold's training rows, tagged with
    ``outer_seed`` / ``outer_fold``); required for ``mode="cv"``. Outer fold k is blended with
    weights fitted on the inner predictions of fold k only. Returns (per_fold, predictions,
    weights): per-fold flat metrics like vatrack.experiments.cv.run_cv, the blended OOF
    predictions, and the weights used for each (seed, fold).
    """
    from vatrack.evaluation.metrics import subtask1_metrics
    from vatrack.experiments.cv import flatten_metrics

    names = list(members)
    if len(names) < 2:
        raise VatrackError(f"an ensemble needs at least 2 members, got {len(names)}")
    if check_mode(mode, "mode") == "cv" and (inner is None or set(inner) != set(names)):
        raise VatrackError("cv ensemble weights need every member's inner-CV predictions (nested weights)")
    aligned = align_members([members[n] for n in names], names)
    rows, predictions, weights = [], [], []
    for (seed, fold), held in aligned.groupby(["seed", "fold"], sort=True):
        if mode == "cv":
            own = {n: inner[n][(inner[n]["outer_seed"] == seed) & (inner[n]["outer_fold"] == fold)] for n in names}
            missing = [n for n, f in own.items() if f.empty]
            if missing:
                raise VatrackError(f"no inner-CV predictions of {', '.join(missing)} for seed {seed} fold {fold}")
            w = weights_from_inner(own, mode)
        else:
            w = fit_weights(pd.DataFrame(), len(names), "equal")
        scored = blend(held, w)
        rows.append({"seed": int(seed), "fold": int(fold), **flatten_metrics(subtask1_metrics(scored))})
        keep = ["user_id", "text_id", *LABELS, "is_seen_user", "pred_valence", "pred_arousal", "seed", "fold"]
        predictions.append(scored[keep])
        weights.append({"seed": int(seed), "fold": int(fold),
                        **{f"{dim}.{name}": float(w[dim][i]) for dim in LABELS for i, name in enumerate(names)}})
    return pd.DataFrame(rows), pd.concat(predictions, ignore_index=True), pd.DataFrame(weights)


class EnsembleRegressor:
    """A weighted ensemble as a subtask-1 estimator (fit / predict; not saved as a bundle).

    ``fit(train)``: weights from an inner official-style CV inside ``train`` (members fitted
    on inner training rows, weights fitted on their inner out-of-fold predictions), then every
    member refitted on all of ``train``. Nothing outside ``train`` reaches the weights or the
    members, so the estimator can sit in an outer CV like any other.
    """

    kind = "ensemble"

    def __init__(self, members: dict, seed: int = 0, mode: str = "cv", inner_folds: int = INNER_FOLDS):
        if len(members) < 2:
            raise VatrackError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members, self.seed, self.mode, self.inner_folds = dict(members), int(seed), check_mode(mode, "mode"), int(inner_folds)
        self.weights_: dict[str, np.ndarray] = {}
        self.models_: dict = {}

    def fit(self, train: pd.DataFrame) -> "EnsembleRegressor":
        inner = ({} if self.mode == "equal" else
                 {n: inner_oof(train, make, self.seed, self.inner_folds) for n, make in self.members.items()})
        self.weights_ = weights_from_inner(inner or {n: None for n in self.members}, self.mode)
        self.models_ = {n: make(self.seed).fit(train) for n, make in self.members.items()}
        return self

    def predict(self, inputs: pd.DataFrame) -> pd.DataFrame:
        if not self.models_:
            raise VatrackError("the ensemble is not fitted; call fit first")
        return blend_predictions([m.predict(inputs) for m in self.models_.values()], self.weights_, inputs)


# --- ensemble of trained runs (for `vatrack ensemble`) -------------------------------------------


def find_oof(run_dir) -> Path | None:
    """The OOF predictions of a run: RUN/oof_predictions.csv or RUN/cv/oof_predictions.csv."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / OOF_FILE, run_dir / "cv" / OOF_FILE):
        if candidate.is_file():
            return candidate
    return None


def read_oof(path) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        found = find_oof(path)
        if found is None:
            raise VatrackError(f"{path}: no {OOF_FILE} here or in {path}/cv")
        path = found
    try:
        frame = pd.read_csv(path, dtype={"user_id": str, "text_id": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise VatrackError(f"{path}: cannot read out-of-fold predictions ({type(err).__name__})") from None
    needed = ["seed", "fold", "user_id", "text_id", *LABELS, *(f"pred_{d}" for d in LABELS)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise VatrackError(f"{path}: out-of-fold predictions lack column(s) {', '.join(missing)}; "
                           "write them with `vatrack cv --out DIR`")
    return frame


def ensemble_predict(run_dirs, data_path, out, weights: str = "cv", oof=None) -> dict:
    """Predict DATA with every run's model, blend, write the official subtask-1 file.

    ``oof``: per run, a folder or file of its out-of-fold predictions; by default each run's
    own (RUN/oof_predictions.csv or RUN/cv/oof_predictions.csv). Returns the weights used.
    """
    from vatrack.data import load_diary
    from vatrack.evaluation.submission import write_submission
    from vatrack.experiments.runs import load_run_model, run_format
    from vatrack.io import check_writable, write_json
    from vatrack.models.baselines import prediction_frame
    from vatrack.protocols import strip_labels

    check_mode(weights)
    run_dirs = [Path(r) for r in run_dirs]
    if len(run_dirs) < 2:
        raise VatrackError(f"`run_dirs` needs at least 2 run folders, got {len(run_dirs)}")
    names = [r.name if [x.name for x in run_dirs].count(r.name) == 1 else f"{r.name}#{i + 1}" for i, r in enumerate(run_dirs)]
    if oof and len(oof) != len(run_dirs):
        raise VatrackError(f"`oof` needs one folder per run: {len(run_dirs)} runs, {len(oof)} in `oof`")
    check_writable(out, inputs={"data": data_path})
    models = [load_run_model(r) for r in run_dirs]  # fail on a bad run before any work
    # Blend on the model's scale, write on the runs' own (as `predict` does): one scale for all.
    formats = [run_format(r) for r in run_dirs]
    scales = [f.user_scale("valence") + f.user_scale("arousal") for f in formats]
    if len(set(scales)) > 1:
        different = next(i for i, sc in enumerate(scales) if sc != scales[0])

        def shown(sc):
            return f"valence {sc[0]:g}..{sc[1]:g}, arousal {sc[2]:g}..{sc[3]:g}"

        raise VatrackError(f"the runs were trained on different rating scales ({run_dirs[0]}: {shown(scales[0])}; "
                           f"{run_dirs[different]}: {shown(scales[different])}); ensemble runs of one scale")
    format = formats[0]
    inputs = strip_labels(load_diary(data_path, format=format))

    if weights == "cv":
        frames = []
        for i, run in enumerate(run_dirs):
            source = oof[i] if oof else find_oof(run)
            if source is None:
                raise VatrackError(f"{run}: no out-of-fold predictions for `weights='cv'`; run "
                                   f"`vatrack cv --preset {run}/config.yaml --data TRAIN.csv --out {run}/cv` "
                                   "(`vatrack cv --method ...` for a baseline), pass `oof`, or use `weights='equal'`")
            frames.append(read_oof(source))
        aligned = align_members(frames, names)
        # Weights must never be fitted on the rows being predicted.
        fitted_keys = pd.MultiIndex.from_frame(aligned[["user_id", "text_id"]].astype(str))
        wanted = pd.MultiIndex.from_frame(inputs[["user_id", "text_id"]].astype(str))
        overlap = wanted.isin(fitted_keys)
        if overlap.any():
            user, text = wanted[int(np.argmax(overlap))]
            raise VatrackError(f"{data_path}: {int(overlap.sum())} row(s) (first: user_id {user}, text_id {text}) are in the "
                               "out-of-fold predictions the weights are fitted on; weights are never fitted on the data "
                               "being predicted: predict other data or use `weights='equal'`")
        fitted = fit_weights(aligned, len(models), "cv")
    else:
        fitted = fit_weights(pd.DataFrame(), len(models), "equal")

    blended = format.predictions_to_user(blend_predictions([m.predict(inputs) for m in models], fitted, inputs))
    path = write_submission(blended, "subtask1", out,
                            expected_keys=inputs[["user_id", "text_id"]])
    used = {"mode": weights, "runs": [str(r) for r in run_dirs],
            "weights": {dim: dict(zip(names, map(float, fitted[dim]))) for dim in LABELS}}
    write_json(Path(out).with_suffix(".weights.json"), used)
    return {**used, "out": str(path)}
