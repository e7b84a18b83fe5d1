"""Forecasting (subtasks 2A / 2B): exact instance targets, no future in any feature, CV folds,
every forecaster's contract, the CV runner and the two commands. Synthetic data only; the
tests marked ``data`` read the real files (skipped when absent) and copy nothing from them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli, shared_file
from vatrack.data import load_diary, make_diaries, write_csv_like_official
from vatrack.errors import VatrackError
from vatrack.experiments.forecasting import forecast_file, forecast_table, run_forecast_cv
from vatrack.models.forecasters import (
    FORECASTERS,
    NUMERIC_FEATURES,
    FeatureContext,
    clip_change,
    history_features,
    load_forecaster,
    make_forecaster,
    ridge_path,
    sequence_windows,
    text_features,
)
from vatrack.protocols.forecasting import (
    PREDICTION_COLUMNS,
    TARGET_COLUMNS,
    disposition_change_instances,
    forecast_queries,
    forecasting_folds,
    history_view,
    state_change_instances,
    training_instances,
)

FAST_METHODS = ("zero", "linear-prev", "linear-prev-fit", "mean-reversion", "ridge-notext")


def hand_history() -> pd.DataFrame:
    """Three users: 'a' with 5 texts, 'b' with 1, 'c' with 4; timestamps deliberately out of file order."""
    rows = [
        ("a", "a3", "2021-01-03 09:00", 2.0, 1.0),
        ("a", "a1", "2021-01-01 09:00", 0.0, 1.0),
        ("a", "a2", "2021-01-02 09:00", 1.0, 0.0),
        ("a", "a4", "2021-01-04 09:00", -1.0, 2.0),
        ("a", "a5", "2021-01-05 09:00", -2.0, 1.0),
        ("b", "b1", "2021-01-01 10:00", 1.0, 1.0),
        ("c", "c1", "2021-02-01 10:00", 0.0, 0.0),
        ("c", "c2", "2021-02-02 10:00", 2.0, 2.0),
        ("c", "c3", "2021-02-03 10:00", 1.0, 1.0),
        ("c", "c4", "2021-02-04 10:00", -1.0, 0.0),
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "text_id", "timestamp", "valence", "arousal"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["text"] = "entry " + frame["text_id"]
    return history_view(frame)


def targets(table: pd.DataFrame, user: str) -> list[tuple]:
    own = table[table.user_id == user]
    return [(int(t), int(f), float(v), float(a)) for t, f, v, a in
            own[["prefix_len", "future_len", "target_valence", "target_arousal"]].itertuples(index=False)]


# --- instance builders ----------------------------------------------------------------------


def test_state_change_instances_exact():
    table = state_change_instances(hand_history())
    # user a in time order: V 0, 1, 2, -1, -2 and A 1, 0, 1, 2, 1
    assert targets(table, "a") == [(1, 1, 1.0, -1.0), (2, 1, 1.0, 1.0), (3, 1, -3.0, 1.0), (4, 1, -1.0, -1.0)]
    assert targets(table, "b") == []  # one text: nothing to forecast
    assert targets(table, "c") == [(1, 1, 2.0, 2.0), (2, 1, -1.0, -1.0), (3, 1, -2.0, -1.0)]


def test_disposition_change_instances_exact():
    table = disposition_change_instances(hand_history())
    # a (n=5): t=1 -> mean(V[1]) - V[0]; t=2 -> mean(V[2:4]) - mean(V[:2]); t=3 = the official halves 3 | 2
    assert targets(table, "a") == [
        (1, 1, 1.0 - 0.0, 0.0 - 1.0),
        (2, 2, (2.0 - 1.0) / 2 - 0.5, 1.5 - 0.5),
        (3, 2, (-1.0 - 2.0) / 2 - 1.0, 1.5 - 2.0 / 3),
    ]
    assert targets(table, "b") == []
    # c (n=4): halves 2 | 2 is the last instance
    assert targets(table, "c") == [(1, 1, 2.0, 2.0), (2, 2, 0.0 - 1.0, 0.5 - 1.0)]


def test_last_2b_instance_is_the_official_halves_target():
    history = history_view(make_diaries(n_users=12, seed=5))
    table = training_instances(history, "subtask2b")
    for user, rows in history.groupby("user_id", sort=False):
        n = len(rows)
        first = math.ceil(n / 2)  # the training file's group 1
        y = rows[["valence", "arousal"]].to_numpy()
        last = table[table.user_id == user].iloc[-1]
        assert last.prefix_len == first and last.future_len == n - first
        np.testing.assert_allclose([last.target_valence, last.target_arousal], y[first:].mean(0) - y[:first].mean(0))


def test_history_view_drops_derived_columns_and_needs_labels():
    frame = make_diaries(n_users=3, seed=1).assign(state_change_valence=9.0, group=1, is_forecasting_user=True)
    view = history_view(frame)
    assert "state_change_valence" not in view and "group" not in view and "is_forecasting_user" not in view
    frame.loc[4, "arousal"] = np.nan
    with pytest.raises(VatrackError, match="arousal"):
        history_view(frame)


def test_official_column_names_match_the_evaluation_layer():
    from vatrack.evaluation.metrics import GOLD_COLUMNS, PRED_COLUMNS

    for task in TARGET_COLUMNS:
        assert TARGET_COLUMNS[task] == GOLD_COLUMNS[task]
        assert PREDICTION_COLUMNS[task] == PRED_COLUMNS[task]


# --- no future in any feature -------------------------------------------------------------------


def _change_after(history: pd.DataFrame, vectors: np.ndarray, start: int, t: int, n: int, rng):
    """Rewrite every row of one user after its prefix: labels, text, vectors, later times, phase, words."""
    changed, vec = history.copy(), vectors.copy()
    rows = np.arange(start + t, start + n)
    changed.loc[rows, "valence"] = rng.integers(-2, 3, len(rows)).astype(float)
    changed.loc[rows, "arousal"] = rng.integers(0, 3, len(rows)).astype(float)
    changed.loc[rows, "text"] = "something else entirely"
    changed.loc[rows, "is_words"] = ~changed.loc[rows, "is_words"]
    changed.loc[rows, "collection_phase"] = 7
    shift = pd.to_timedelta(rng.uniform(1, 500, len(rows)).cumsum(), unit="h")
    changed.loc[rows, "timestamp"] = changed.loc[rows, "timestamp"].to_numpy() + shift.to_numpy()
    vec[rows] = rng.normal(size=(len(rows), vec.shape[1]))
    return changed, vec


@pytest.mark.parametrize("task", ["subtask2a", "subtask2b"])
def test_changing_rows_after_a_prefix_changes_no_feature_of_its_instance(task):
    rng = np.random.default_rng(0)
    history = history_view(make_diaries(n_users=6, texts_per_user=(8, 14), seed=4))
    vectors = rng.normal(size=(len(history), 8))
    ctx = FeatureContext(prior_mean=np.array([0.3, 1.0]), prior_k=np.array([3.0, 4.0]))
    instances = training_instances(history, task)
    for i in range(len(instances)):
        inst = instances.iloc[[i]]
        start, t = int(inst.start.iloc[0]), int(inst.prefix_len.iloc[0])
        n = int((history.user_id == inst.user_id.iloc[0]).sum())
        changed, vec = _change_after(history, vectors, start, t, n, rng)
        assert history_view(changed).equals(changed)  # still sorted: row positions unchanged
        np.testing.assert_array_equal(history_features(history, inst, ctx), history_features(changed, inst, ctx))
        np.testing.assert_array_equal(text_features(vectors, inst), text_features(vec, inst))
        before = sequence_windows(history, inst, vectors, 7, np.zeros(2), np.ones(2))
        after = sequence_windows(changed, inst, vec, 7, np.zeros(2), np.ones(2))
        for a, b in zip(before, after):
            np.testing.assert_array_equal(a, b)


def test_features_are_finite_for_one_text_prefixes():
    history = hand_history()
    ctx = FeatureContext(prior_mean=np.zeros(2), prior_k=np.ones(2))
    x = history_features(history, forecast_queries(history), ctx)
    assert x.shape == (3, len(NUMERIC_FEATURES)) and np.isfinite(x).all()


# --- forecasting CV folds -----------------------------------------------------------------------


@pytest.mark.parametrize("task", ["subtask2a", "subtask2b"])
def test_fold_holds_out_tails_and_forecasts_from_prefixes(task):
    history = history_view(make_diaries(n_users=30, texts_per_user=(2, 12), seed=7))
    folds = forecasting_folds(history, n_folds=5, seed=1)
    held = [u for f in folds for u in f.held_users]
    assert sorted(held) == sorted(history.user_id.unique())  # every user (all have >= 2 texts) once
    assert [f.held_users for f in folds] == [f.held_users for f in forecasting_folds(history, 5, seed=1)]
    for fold in folds:
        train, query, gold = fold.split(history, task)
        assert list(gold.columns) == ["user_id", *TARGET_COLUMNS[task]]
        assert sorted(gold.user_id) == sorted(fold.held_users)
        for user in fold.held_users:
            rows = history[history.user_id == user]
            n, t = len(rows), math.ceil(len(rows) / 2)
            t = min(t, n - 1)
            seen = query[query.user_id == user]
            assert list(seen.text_id) == list(rows.text_id[:t])                       # the observed prefix
            assert list(train[train.user_id == user].text_id) == list(rows.text_id[:t])  # no tail row in training
            y = rows[["valence", "arousal"]].to_numpy()
            want = y[t] - y[t - 1] if task == "subtask2a" else y[t:].mean(0) - y[:t].mean(0)
            np.testing.assert_allclose(gold.loc[gold.user_id == user, list(TARGET_COLUMNS[task])].to_numpy()[0], want)
        others = history[~history.user_id.isin(fold.held_users)]
        assert len(train) == len(others) + len(query)


def test_held_out_tails_never_reach_the_forecast():
    history = history_view(make_diaries(n_users=20, seed=8))
    fold = forecasting_folds(history, n_folds=4, seed=0)[0]
    train, query, _ = fold.split(history, "subtask2a")
    tails = history.merge(query[["user_id", "text_id"]], how="left", indicator=True)
    tails = (tails._merge == "left_only").to_numpy() & history.user_id.isin(fold.held_users).to_numpy()
    scrambled = history.copy()
    scrambled.loc[tails, ["valence", "arousal"]] = scrambled.loc[tails, ["valence", "arousal"]].to_numpy()[::-1]
    train2, query2, _ = fold.split(scrambled, "subtask2a")
    a = make_forecaster("ridge-notext", "subtask2a").fit(train).predict(query)
    b = make_forecaster("ridge-notext", "subtask2a").fit(train2).predict(query2)
    pd.testing.assert_frame_equal(a, b)


def test_folds_need_enough_users():
    with pytest.raises(VatrackError, match="at least 10 users"):
        forecasting_folds(history_view(make_diaries(n_users=6, seed=0)), n_folds=5)


# --- forecasters ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split():
    history = history_view(make_diaries(n_users=24, texts_per_user=(6, 20), seed=11))
    return forecasting_folds(history, n_folds=4, seed=0)[0], history


def test_linear_prev_is_minus_last_value_and_minus_observed_mean():
    history = hand_history()
    a = make_forecaster("linear-prev", "subtask2a").fit(history).predict(history)
    b = make_forecaster("linear-prev", "subtask2b").fit(history).predict(history)
    last = history.groupby("user_id").tail(1).set_index("user_id")
    mean = history.groupby("user_id")[["valence", "arousal"]].mean()
    np.testing.assert_allclose(a[list(PREDICTION_COLUMNS["subtask2a"])].to_numpy(), -last.loc[a.user_id, ["valence", "arousal"]].to_numpy())
    np.testing.assert_allclose(b[list(PREDICTION_COLUMNS["subtask2b"])].to_numpy(), -mean.loc[b.user_id].to_numpy())


def test_clip_keeps_the_implied_future_on_the_scale():
    out = clip_change(np.array([[-5.0, 3.0], [np.nan, np.inf]]), np.array([[1.0, 1.5], [0.0, 2.0]]))
    np.testing.assert_allclose(out, [[-3.0, 0.5], [0.0, 0.0]])


def test_ridge_path_matches_sklearn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(60, 5)), rng.normal(size=(60, 2)), rng.uniform(0.5, 2, 60)
    coefs, intercepts = ridge_path(x, y, w, [0.3, 30.0])
    for k, alpha in enumerate([0.3, 30.0]):
        ref = Ridge(alpha=alpha).fit(x, y, sample_weight=w)
        np.testing.assert_allclose(coefs[k].T, ref.coef_, atol=1e-10)
        np.testing.assert_allclose(intercepts[k], ref.intercept_, atol=1e-10)


@pytest.mark.parametrize("task", ["subtask2a", "subtask2b"])
@pytest.mark.parametrize("method", FAST_METHODS)
def test_forecaster_contract(method, task, split, tmp_path):
    fold, history = split
    train, query, gold = fold.split(history, task)
    model = make_forecaster(method, task).fit(train)
    pred = model.predict(query)
    assert list(pred.columns) == ["user_id", *PREDICTION_COLUMNS[task]]
    assert sorted(pred.user_id) == sorted(fold.held_users)
    values = pred[list(PREDICTION_COLUMNS[task])].to_numpy()
    assert np.isfinite(values).all()
    model.save(tmp_path / "fc")
    pd.testing.assert_frame_equal(load_forecaster(tmp_path / "fc").predict(query), pred)


@pytest.mark.parametrize("method", ["ridge", "gbm"])
def test_text_forecasters_with_a_local_encoder(method, split, tiny_bert_dir, tmp_path):
    fold, history = split
    train, query, _ = fold.split(history, "subtask2a")
    model = make_forecaster(method, "subtask2a", encoder=str(tiny_bert_dir)).fit(train)
    pred = model.predict(query)
    assert np.isfinite(pred.iloc[:, 1:].to_numpy()).all() and len(pred) == len(fold.held_users)
    model.save(tmp_path / "fc")
    pd.testing.assert_frame_equal(load_forecaster(tmp_path / "fc").predict(query), pred)


@pytest.mark.slow
def test_sequence_forecaster_trains_saves_and_is_deterministic(split, tiny_bert_dir, tmp_path):
    fold, history = split
    train, query, _ = fold.split(history, "subtask2b")
    options = dict(encoder=str(tiny_bert_dir), seed=3, epochs=3, patience=2, lstm_hidden=16, fusion=[16])
    model = make_forecaster("sequence", "subtask2b", **options).fit(train)
    pred = model.predict(query)
    assert np.isfinite(pred.iloc[:, 1:].to_numpy()).all()
    assert model.state["fit_info"]["val_instances"] > 0
    model.save(tmp_path / "fc")
    pd.testing.assert_frame_equal(load_forecaster(tmp_path / "fc").predict(query), pred)
    again = make_forecaster("sequence", "subtask2b", **options).fit(train).predict(query)
    pd.testing.assert_frame_equal(again, pred)


def test_unknown_method_and_too_little_history():
    with pytest.raises(VatrackError, match="unknown forecasting method"):
        make_forecaster("prophet", "subtask2a")
    with pytest.raises(VatrackError, match="unknown forecasting task"):
        make_forecaster("zero", "subtask3")
    with pytest.raises(VatrackError, match="unknown option.*text_weight"):
        make_forecaster("ridge-notext", "subtask2a", text_weight=0.5)
    with pytest.raises(VatrackError, match="unknown option.*lstm_size"):
        make_forecaster("sequence", "subtask2a", lstm_size=8)
    one_each = hand_history().groupby("user_id").head(1)
    with pytest.raises(VatrackError, match="instance"):
        make_forecaster("ridge-notext", "subtask2a").fit(one_each)
    assert set(FAST_METHODS) | {"ridge", "gbm", "sequence"} == set(FORECASTERS)


# --- CV runner and commands ---------------------------------------------------------------------


def test_cv_runner_compares_with_linear_prev():
    frame = make_diaries(n_users=20, seed=2)
    result = run_forecast_cv(frame, "subtask2b", methods=["linear-prev", "mean-reversion"], n_folds=2, seeds=[0, 1])
    assert len(result.per_fold) == 2 * 2 * 2
    assert set(result.predictions.method) == {"linear-prev", "mean-reversion"}
    table = forecast_table(result)
    assert list(table.method) == ["linear-prev", "mean-reversion"]
    assert table.iloc[0]["Δr vs linear(prev)"] == "reference"
    assert "folds better" in table.iloc[1]["Δr vs linear(prev)"]


@pytest.fixture
def marker_file(tmp_path):
    frame = make_diaries(n_users=16, seed=6)
    flagged = {"2", "5", "9", "13"}
    frame["is_forecasting_user"] = frame.user_id.isin(flagged)
    path = tmp_path / "marker.csv"
    write_csv_like_official(frame, path)
    return path, flagged


@pytest.mark.parametrize("task", ["subtask2a", "subtask2b"])
def test_forecast_command_writes_the_official_file_for_flagged_users(task, marker_file, tmp_path, capsys):
    path, flagged = marker_file
    out = tmp_path / f"pred_{task}.csv"
    code, stdout, err = run_cli(["forecast", "--task", task, "--data", path, "--out", out, "--method", "mean-reversion"], capsys)
    assert code == 0, err
    written = pd.read_csv(out, dtype={"user_id": str})
    assert list(written.columns) == ["user_id", *PREDICTION_COLUMNS[task]]
    assert set(written.user_id) == flagged and len(written) == len(flagged)
    assert np.isfinite(written.iloc[:, 1:].to_numpy()).all()
    assert "wrote 4 forecasts" in stdout


def test_forecast_command_needs_the_marker_column(tmp_path, capsys):
    path = tmp_path / "plain.csv"
    write_csv_like_official(make_diaries(n_users=5, seed=0), path)
    code, _, err = run_cli(["forecast", "--task", "subtask2a", "--data", path, "--out", tmp_path / "p.csv",
                            "--method", "zero"], capsys)
    assert code == 2 and "is_forecasting_user" in err and "Traceback" not in err
    assert not (tmp_path / "p.csv").exists()


def test_forecast_cv_command_prints_every_method(marker_file, capsys, tmp_path):
    path, _ = marker_file
    code, stdout, err = run_cli(["forecast-cv", "--task", "subtask2a", "--data", path, "--folds", "2", "--seeds", "1",
                                 "--methods", "zero,mean-reversion", "--out", tmp_path / "cv"], capsys)
    assert code == 0, err
    for name in ("linear-prev", "zero", "mean-reversion", "reference"):
        assert name in stdout
    assert (tmp_path / "cv" / "table.md").exists()
    code, stdout, err = run_cli(["forecast-cv", "--task", "subtask2b", "--data", path, "--folds", "2", "--seeds", "1",
                                 "--methods", "mean-reversion", "--confirm", "--out", tmp_path / "confirm"], capsys)
    assert code == 0, err
    assert "confirmation seeds [1000]" in stdout
    assert set(pd.read_csv(tmp_path / "confirm" / "per_fold.csv")["seed"]) == {1000}


# --- the real task files (skipped when absent; nothing copied) --------------------------------


@pytest.mark.data
def test_instance_targets_reproduce_the_training_files():
    a = load_diary(shared_file("subtask2a_forecasting_user_marker.csv"), require_labels=True)
    instances = state_change_instances(history_view(a))
    history = history_view(a)
    # the file's state_change at row t-1 (0-based in the user) is our instance with prefix t
    rows = instances.start + instances.prefix_len - 1
    merged = history.iloc[rows].merge(a[["user_id", "text_id", "state_change_valence", "state_change_arousal"]])
    np.testing.assert_allclose(merged[["state_change_valence", "state_change_arousal"]].to_numpy(),
                               instances[["target_valence", "target_arousal"]].to_numpy())
    b = load_diary(shared_file("subtask2b_forecasting_user_marker.csv"), require_labels=True)
    official = disposition_change_instances(history_view(b)).groupby("user_id").tail(1).set_index("user_id")
    per_user = b.groupby("user_id")[["disposition_change_valence", "disposition_change_arousal"]].first()
    np.testing.assert_allclose(official.loc[per_user.index, ["target_valence", "target_arousal"]].to_numpy(), per_user.to_numpy())
    # the halves: the file's group 1 is our observed prefix of the last instance
    group1 = b[b.group == 1].groupby("user_id").size()
    assert (official.loc[group1.index, "prefix_len"] == group1).all()


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("task", ["subtask2a", "subtask2b"])
def test_forecast_file_on_the_real_marker_files(task, tmp_path):
    name = f"{task}_forecasting_user_marker.csv"
    path, pred, _ = forecast_file(task, shared_file(name), tmp_path / "pred.csv", method="mean-reversion")
    assert len(pred) == 46 and np.isfinite(pred.iloc[:, 1:].to_numpy()).all()


@pytest.mark.parametrize("task", ["subtask2a", "subtask2b"])
def test_randomised_future_columns_in_a_marker_file_change_no_forecast(task, tmp_path, capsys):
    """The marker files' state_change_* (2A) / disposition_change_* and group (2B) equal the
    forecasting CV's gold; randomising them must leave `forecast` and `forecast-cv` unchanged."""
    frame = make_diaries(n_users=16, seed=6)
    frame["is_forecasting_user"] = frame.user_id.isin({"2", "5", "9", "13"})
    rng = np.random.default_rng(1)
    honest = frame.assign(state_change_valence=0.0, state_change_arousal=0.0, disposition_change_valence=0.0,
                          disposition_change_arousal=0.0, group=1)
    noisy = frame.assign(state_change_valence=rng.normal(size=len(frame)), state_change_arousal=rng.normal(size=len(frame)),
                         disposition_change_valence=rng.normal(size=len(frame)),
                         disposition_change_arousal=rng.normal(size=len(frame)), group=rng.integers(1, 3, len(frame)))
    outputs = []
    for name, table in (("honest", honest), ("noisy", noisy)):
        path = tmp_path / f"{name}.csv"
        write_csv_like_official(table, path)
        forecasts = []
        for method in FAST_METHODS:
            out = tmp_path / f"{name}-{method}.csv"
            code, _, err = run_cli(["forecast", "--task", task, "--data", path, "--out", out, "--method", method], capsys)
            assert code == 0, err
            forecasts.append(out.read_bytes())
        code, _, err = run_cli(["forecast-cv", "--task", task, "--data", path, "--folds", "2", "--seeds", "1",
                                "--methods", ",".join(FAST_METHODS), "--out", tmp_path / f"cv-{name}"], capsys)
        assert code == 0, err
        outputs.append((forecasts, (tmp_path / f"cv-{name}" / "predictions.csv").read_bytes()))
    assert outputs[0] == outputs[1]
