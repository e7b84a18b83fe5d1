"""vatrack.experiments.ensemble: simplex weights, out-of-fold-only fitting, `vatrack ensemble`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vatrack.errors import VatrackError
from vatrack.experiments.ensemble import align_members, cv_ensemble, simplex_weights

from conftest import run_cli


def test_simplex_weights_recover_a_planted_mix_and_drop_a_useless_member():
    rng = np.random.default_rng(0)
    a, b, junk = rng.normal(size=500), rng.normal(size=500), rng.normal(size=500)
    gold = 0.7 * a + 0.3 * b
    w = simplex_weights(np.column_stack([a, b, junk]), gold)
    assert w == pytest.approx([0.7, 0.3, 0.0], abs=1e-4)
    # A member anti-correlated with gold cannot get a negative weight.
    w = simplex_weights(np.column_stack([gold + rng.normal(0, 0.1, 500), -gold]), gold)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0) and w[1] < 0.01


def member_predictions(seed: int, quality: float) -> pd.DataFrame:
    """OOF-shaped predictions for 2 seeds × 3 folds × 4 users × 5 texts: gold + noise/quality."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(2):
        for fold in range(3):
            for u in range(4):
                for t in range(5):
                    v, a = rng.integers(-2, 3), rng.integers(0, 3)
                    rows.append({"seed": s, "fold": fold, "user_id": f"{fold}-{u}", "text_id": f"{s}-{fold}-{u}-{t}",
                                 "valence": float(v), "arousal": float(a), "is_seen_user": u % 2 == 0})
    frame = pd.DataFrame(rows)
    noise = np.random.default_rng(100 + seed).normal(0, 1.0 / quality, size=(len(frame), 2))
    return frame.assign(pred_valence=frame["valence"] + noise[:, 0], pred_arousal=frame["arousal"] + noise[:, 1])


def inner_predictions(outer: pd.DataFrame, seed: int, quality: float) -> pd.DataFrame:
    """Inner-CV-shaped predictions for every outer (seed, fold): fresh rows, gold + noise/quality."""
    parts = []
    for (s, f), _ in outer.groupby(["seed", "fold"]):
        part = member_predictions(seed * 100 + s * 10 + f, quality)
        parts.append(part[part["seed"] == 0].assign(outer_seed=s, outer_fold=f))
    return pd.concat(parts, ignore_index=True)


def test_cv_ensemble_fits_each_folds_weights_on_its_inner_cv_only():
    good, poor = member_predictions(1, quality=3.0), member_predictions(2, quality=0.5)
    poor[["valence", "arousal", "is_seen_user"]] = good[["valence", "arousal", "is_seen_user"]]  # same gold
    inner_good, inner_poor = inner_predictions(good, 1, 3.0), inner_predictions(good, 2, 0.5)
    inner_poor[["valence", "arousal"]] = inner_good[["valence", "arousal"]]
    inner = {"good": inner_good, "poor": inner_poor}
    per_fold, predictions, weights = cv_ensemble({"good": good, "poor": poor}, "cv", inner)
    assert len(per_fold) == 6 and len(predictions) == len(good)
    assert (weights.set_index(["seed", "fold"])["valence.good"] > 0.7).all()
    # The outer rows' gold (all folds) plays no part in any weight: only the inner runs do.
    tampered_good, tampered_poor = good.copy(), poor.copy()
    for frame in (tampered_good, tampered_poor):
        frame["valence"] = -frame["valence"]
    _, _, tampered = cv_ensemble({"good": tampered_good, "poor": tampered_poor}, "cv", inner)
    pd.testing.assert_frame_equal(tampered, weights)
    # ...while one fold's inner runs move that fold's weights and no other fold's.
    moved = {n: f.copy() for n, f in inner.items()}
    mask = (moved["good"]["outer_seed"] == 0) & (moved["good"]["outer_fold"] == 1)
    moved["poor"].loc[mask, "pred_valence"] = moved["good"].loc[mask, "valence"]  # poor becomes perfect there
    _, _, changed = cv_ensemble({"good": good, "poor": poor}, "cv", moved)
    diff = (changed != weights).any(axis=1)
    assert diff.tolist() == [(s, f) == (0, 1) for s, f in weights[["seed", "fold"]].itertuples(index=False)]
    with pytest.raises(VatrackError, match="inner-CV"):
        cv_ensemble({"good": good, "poor": poor}, "cv")
    # equal weights are exactly 1/m and need no inner runs
    _, _, equal = cv_ensemble({"good": good, "poor": poor}, "equal")
    assert (equal.drop(columns=["seed", "fold"]) == 0.5).all().all()


def test_perturbing_a_folds_labels_leaves_its_ensemble_predictions_byte_identical(tmp_path, tiny_bert_dir):
    """The nested-weights guarantee end to end (issue #12): scramble the held-out labels of one
    outer fold; that fold's blended predictions must not move by a single bit. With weights
    fitted on the other outer folds' OOF predictions (whose models trained on this fold's
    rows) they would."""
    from vatrack.data import make_diaries
    from vatrack.experiments.compare import run_comparison
    from vatrack.experiments.versions import parse_versions
    from vatrack.protocols import cv_plan

    frame = make_diaries(n_users=24, texts_per_user=(6, 14), seed=5)
    versions = parse_versions(methods="user-mean,ridge+user", ensemble="cv", encoder=str(tiny_bert_dir))
    fold = cv_plan(frame, n_folds=3, seeds=(0,))[1]
    scrambled = frame.copy()
    rng = np.random.default_rng(0)
    scrambled.loc[fold.test_index, "valence"] = rng.integers(-2, 3, len(fold.test_index)).astype(float)
    scrambled.loc[fold.test_index, "arousal"] = rng.integers(0, 3, len(fold.test_index)).astype(float)
    blended = []
    for i, table in enumerate((frame, scrambled)):
        comparison = run_comparison(table, versions, tmp_path / f"out{i}", n_folds=3, seeds=(0,))
        pred = comparison.result("ensemble").predictions
        blended.append(pred[pred["fold"] == fold.fold][["user_id", "text_id", "pred_valence", "pred_arousal"]]
                       .reset_index(drop=True))
        other = pred[pred["fold"] != fold.fold]
    assert len(blended[0]) == len(fold.test_index)
    pd.testing.assert_frame_equal(blended[0], blended[1], check_exact=True)
    assert not other.empty  # (the other folds do train on the scrambled rows and may move)


def test_members_must_share_rows():
    good = member_predictions(1, 1.0)
    with pytest.raises(VatrackError, match="same CV plan"):
        align_members([good, good.iloc[:-3]], ["a", "b"])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, synthetic_split):
    """Two baseline bundles, each with its own `vatrack cv --out RUN/cv` out-of-fold predictions."""
    from vatrack.data import write_csv_like_official
    from vatrack.experiments.cv import run_cv
    from vatrack.io import write_csv
    from vatrack.models import make_model

    folder = tmp_path_factory.mktemp("ensemble")
    train, test = synthetic_split
    write_csv_like_official(train, folder / "train.csv")
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), folder / "test.csv")
    runs = []
    for method in ("mean", "user-mean"):
        run = folder / method
        make_model(method).fit(train).save(run)
        result = run_cv(train, lambda seed, m=method: make_model(m, seed=seed), n_folds=3, seeds=(0,))
        write_csv(run / "cv" / "oof_predictions.csv", result.predictions)
        runs.append(run)
    return folder, runs, test


def test_ensemble_cli_writes_a_valid_file_with_cv_weights(two_runs, tmp_path, capsys):
    folder, (mean_run, user_run), test = two_runs
    out = tmp_path / "pred_subtask1.csv"
    code, stdout, err = run_cli(["ensemble", "--runs", mean_run, user_run, "--data", folder / "test.csv", "--out", out], capsys)
    assert code == 0, err
    pred = pd.read_csv(out, dtype={"user_id": str, "text_id": str})
    assert list(pred.columns) == ["user_id", "text_id", "pred_valence", "pred_arousal"] and len(pred) == len(test)
    used = json.loads(out.with_suffix(".weights.json").read_text())
    for dim in ("valence", "arousal"):
        w = np.array(list(used["weights"][dim].values()))
        assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert used["weights"]["valence"]["user-mean"] > used["weights"]["valence"]["mean"]  # the better member wins
    # repeated and comma-separated --runs are accepted too
    code, _, err = run_cli(["ensemble", "--runs", f"{mean_run},{user_run}", "--data", folder / "test.csv",
                            "--out", tmp_path / "p2.csv", "--weights", "equal"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "p2.weights.json").read_text())["weights"]["arousal"]["mean"] == 0.5


def test_ensemble_refuses_to_fit_weights_on_the_data_it_predicts(two_runs, tmp_path, capsys):
    folder, runs, _ = two_runs
    out = tmp_path / "pred.csv"
    code, _, err = run_cli(["ensemble", "--runs", *runs, "--data", folder / "train.csv", "--out", out], capsys)
    assert code == 2 and "never fitted on the data being predicted" in err and "Traceback" not in err
    assert not out.exists()
    code, _, err = run_cli(["ensemble", "--runs", *runs, "--data", folder / "train.csv", "--out", out, "--weights", "equal"], capsys)
    assert code == 0, err


def test_ensemble_cli_errors(two_runs, tmp_path, capsys):
    folder, (mean_run, user_run), _ = two_runs
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.json").write_text((mean_run / "model.json").read_text())
    (bare / "state.pkl").write_bytes((mean_run / "state.pkl").read_bytes())
    code, _, err = run_cli(["ensemble", "--runs", mean_run, bare, "--data", folder / "test.csv", "--out", tmp_path / "p.csv"], capsys)
    assert code == 2 and "no out-of-fold predictions" in err and "vatrack cv" in err
    code, _, err = run_cli(["ensemble", "--runs", mean_run, "--data", folder / "test.csv", "--out", tmp_path / "p.csv"], capsys)
    assert code == 2 and "at least 2" in err
    code, _, err = run_cli(["ensemble", "--runs", mean_run, user_run, "--data", folder / "test.csv", "--out",
                            tmp_path / "p.csv", "--weights", "best"], capsys)
    assert code == 2 and "--weights" in err
