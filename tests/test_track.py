"""`vatrack track`: a psychologist's own diary, rated and unrated entries, per-person trajectories."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from vatrack.data import parse_format
from vatrack.data.synthetic import make_ema_export
from vatrack.evaluation.trajectory import series_statistics
from vatrack.experiments.track import run_track

MAPPING = ["user_id=participant", "text_id=entry", "timestamp=date", "text=diary_text",
           "valence=sam_valence", "arousal=sam_arousal"]
OPTIONS = [*(a for m in MAPPING for a in ("--column", m)), "--scale", "valence=1:9", "--scale", "arousal=1:9",
           "--dayfirst", "--quiet"]
FORMAT = parse_format(MAPPING, ["valence=1:9", "arousal=1:9"], dayfirst=True)
TINY_PRESET = ["epochs=2", "lstm_hidden=8", "lstm_layers=1", "fusion=[8]", "user_emb=4", "seq_length=3",
               "val_folds=2", "refit=false"]


@pytest.fixture(scope="module")
def export():
    frame = make_ema_export(n_people=10, entries=(8, 11), seed=4, unrated_share=0.3)
    frame["site"] = np.where(np.arange(len(frame)) % 2, "Leuven", "Gent")   # a column of their own
    return frame


@pytest.fixture(scope="module")
def tracked(export, tmp_path_factory):
    folder = tmp_path_factory.mktemp("track")
    path = folder / "diary.csv"
    export.to_csv(path, index=False, sep=";")
    return folder, path


def test_track_writes_every_row_in_input_order_on_the_users_scale(tracked, export, capsys):
    folder, path = tracked
    out = folder / "out"
    code, stdout, stderr = run_cli(["track", "--data", path, "--out", out, *OPTIONS], capsys)
    assert code == 0, stderr
    # The user's file is a semicolon export: the tables come back in its dialect (decimal commas).
    pred = pd.read_csv(out / "predictions.csv", sep=";", decimal=",", dtype=str, keep_default_na=False)
    original = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    assert list(pred.columns) == [*original.columns, "pred_valence", "pred_arousal", "pred_kind"]
    pd.testing.assert_frame_equal(pred[list(original.columns)], original)       # order and every cell kept
    assert pred["pred_valence"].str.contains(",").any() and not pred["pred_valence"].str.contains(r"\.").any()
    values = pred[["pred_valence", "pred_arousal"]].apply(lambda c: c.str.replace(",", ".").astype(float))
    assert values.apply(lambda c: c.between(1, 9)).all().all() and values["pred_valence"].std() > 0.3
    rated = (original["sam_valence"] != "") & (original["sam_arousal"] != "")
    assert (pred["pred_kind"] == np.where(rated, "out_of_fold", "unrated")).all()

    people = pd.read_csv(out / "people.csv", sep=";", decimal=",")
    assert len(people) == 2 * export["participant"].nunique() and people["mean"].dtype == float
    assert list(people.columns[:9]) == ["participant", "dimension", "n_entries", "n_rated", "mean", "sd", "rmssd",
                                        "autocorr_lag1", "trend_per_week"]
    quality = pd.read_csv(out / "quality.csv", sep=";", decimal=",")
    assert set(quality["model"]) == {"ridge+user", "person mean (reference)"}
    assert json.loads((out / "scales.json").read_text())["arousal"]["user"] == [1.0, 9.0]
    assert (out / "model" / "model.json").exists() or any((out / "model").iterdir())
    page = (out / "report.html").read_text()
    images = list((out / "plots").glob("*.png"))
    assert len(images) == 2 + export["participant"].nunique()
    assert page.count('src="data:image/png;base64,') == len(images) and "plots/" not in page
    assert "How well the model did" in page and "Per-person statistics" in page
    assert "report.html" in stdout


def test_track_refuses_an_existing_folder_without_force(tracked, capsys):
    folder, path = tracked
    out = folder / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, stderr = run_cli(["track", "--data", path, "--out", out, *OPTIONS], capsys)
    assert code == 2 and "--force" in stderr and (out / "keep.txt").read_text() == "mine"


def test_force_replaces_a_track_folder_only_once_the_new_one_is_complete(tracked, capsys):
    """--force used to empty the folder before any work: a rerun that failed (here: the scale
    forgotten) lost the earlier results. Now they come back untouched."""
    folder, path = tracked
    out = folder / "forced"
    code, _, stderr = run_cli(["track", "--data", path, "--out", out, *OPTIONS], capsys)
    assert code == 0, stderr
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    no_scale = [*(a for m in MAPPING for a in ("--column", m)), "--dayfirst", "--quiet"]
    code, _, stderr = run_cli(["track", "--data", path, "--out", out, *no_scale, "--force"], capsys)
    assert code == 2 and "outside the valence scale" in stderr
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    code, _, stderr = run_cli(["track", "--data", path, "--out", out, *OPTIONS, "--force", "--folds", "3"], capsys)
    assert code == 0, stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".vatrack-replaced")]   # nothing set aside is left
    assert json.loads((out / "track.json").read_text())["folds"] == 3


def test_force_never_replaces_a_folder_vatrack_did_not_write_nor_the_commands_inputs(tracked, tmp_path, capsys):
    folder, path = tracked
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.txt").write_text("three years of work")
    code, _, stderr = run_cli(["track", "--data", path, "--out", mine, *OPTIONS, "--force"], capsys)
    assert code == 2 and "vatrack did not write" in stderr and (mine / "thesis.txt").exists()
    run = tmp_path / "run"
    code, _, stderr = run_cli(["track", "--data", path, "--out", run, *OPTIONS], capsys)
    assert code == 0, stderr
    mapping = [a for m in MAPPING[:4] for a in ("--column", m)]
    code, _, stderr = run_cli(["track", "--data", path, "--run", run, "--out", run, *mapping, "--dayfirst", "--force"],
                              capsys)
    assert code == 2 and "--run" in stderr and "inside" in stderr and (run / "model").is_dir()
    inside = run / "diary.csv"
    inside.write_bytes(Path(path).read_bytes())
    code, _, stderr = run_cli(["track", "--data", inside, "--out", run, *OPTIONS, "--force"], capsys)
    assert code == 2 and "--data" in stderr and inside.exists()


@pytest.mark.parametrize("method,preset", [("ridge+user", None), (None, "v3.3")])
def test_a_rated_entry_is_never_predicted_by_a_model_that_saw_its_rating(export, method, preset):
    """Perturb the ratings of one out-of-fold group: that group's predictions stay byte-identical,
    and the other groups' predictions move (so the test can see a leak)."""
    from vatrack.experiments.track import _fold_groups

    frame = export.copy()
    overrides = TINY_PRESET if preset else ()
    base = run_track(frame, FORMAT, method=method, preset=preset, folds=3, seed=0, overrides=overrides)
    assert base.meta["overrides"] == list(overrides)   # track.json records what the fit was given
    rated = base.diary.rated
    groups = _fold_groups(int(rated.sum()), 3, 0)
    in_group = np.zeros(len(rated), bool)
    in_group[np.flatnonzero(rated)[groups == 0]] = True
    # Rows of diary.frame -> rows of the export (the file order).
    file_rows = base.diary.row[in_group]
    changed = frame.copy()
    changed.loc[file_rows, "sam_valence"] = 10 - changed.loc[file_rows, "sam_valence"].astype(int)
    changed.loc[file_rows, "sam_arousal"] = 10 - changed.loc[file_rows, "sam_arousal"].astype(int)
    after = run_track(changed, FORMAT, method=method, preset=preset, folds=3, seed=0, overrides=overrides)
    assert np.array_equal(base.predictions[in_group], after.predictions[in_group])
    others = rated & ~in_group
    assert not np.allclose(base.predictions[others], after.predictions[others])


def test_series_statistics_by_hand():
    times = pd.date_range("2025-03-01", periods=4, freq="D")
    stats = series_statistics([1, 3, 2, 5], times)
    assert stats["mean"] == pytest.approx(2.75)
    assert stats["sd"] == pytest.approx(np.sqrt(8.75 / 3))
    assert stats["rmssd"] == pytest.approx(np.sqrt(14 / 3))
    assert stats["autocorr_lag1"] == pytest.approx(-2.3125 / 8.75)
    assert stats["trend_per_week"] == pytest.approx(1.1 * 7)
    short = series_statistics([4.0], times[:1])
    assert short["mean"] == 4.0 and np.isnan(short["sd"]) and np.isnan(short["autocorr_lag1"])
    flat = series_statistics([2, 2, 2], times[:3])
    assert flat["sd"] == 0 and flat["rmssd"] == 0 and np.isnan(flat["autocorr_lag1"]) and flat["trend_per_week"] == 0


def test_people_csv_uses_time_order_and_ratings_where_present(tmp_path, capsys):
    """A person whose rows come unsorted: the statistics follow real time and use the ratings."""
    rows = []
    for person in range(12):
        for k in range(5):
            rows.append({"participant": f"P{person}", "entry": k, "date": f"{10 + k:02d}/03/2025 09:00",
                         "diary_text": ["sad", "ok", "happy", "calm", "tired"][(k + person) % 5],
                         "sam_valence": 1 + (k * 2 + person) % 9, "sam_arousal": 1 + (k + person) % 9})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=1)
    path = tmp_path / "diary.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    code, _, stderr = run_cli(["track", "--data", path, "--out", out, "--method", "user-mean", *OPTIONS], capsys)
    assert code == 0, stderr
    people = pd.read_csv(out / "people.csv")
    p0 = people[(people["participant"] == "P0") & (people["dimension"] == "valence")].iloc[0]
    series = np.array([1, 3, 5, 7, 9], float)   # P0's valence in time order: every entry is rated
    assert p0["n_entries"] == 5 and p0["n_rated"] == 5
    assert p0["mean"] == pytest.approx(5) and p0["sd"] == pytest.approx(series.std(ddof=1))
    assert p0["rmssd"] == pytest.approx(2) and p0["trend_per_week"] == pytest.approx(14)


def test_unrated_file_predicted_with_a_trained_run(tracked, export, tmp_path, capsys):
    folder, path = tracked
    out = folder / "out-for-run"
    code, _, stderr = run_cli(["track", "--data", path, "--out", out, *OPTIONS], capsys)
    assert code == 0, stderr
    unrated = export.drop(columns=["sam_valence", "sam_arousal"])
    new = tmp_path / "new.csv"
    unrated.to_csv(new, index=False)
    mapping = [a for m in MAPPING[:4] for a in ("--column", m)]
    code, _, stderr = run_cli(["track", "--data", new, "--out", tmp_path / "again", "--run", out, *mapping,
                               "--dayfirst", "--quiet"], capsys)
    assert code == 0, stderr
    pred = pd.read_csv(tmp_path / "again" / "predictions.csv")
    assert (pred["pred_kind"] == "run").all() and pred["pred_valence"].between(1, 9).all()  # the run's scale
    assert not (tmp_path / "again" / "quality.csv").exists()
    # Settings of a fit mean nothing to a trained run: refused, they used to be ignored.
    for extra, flag in ((["--encoder", "mpnet"], "--encoder"), (["--set", "alpha=3"], "--set"), (["--folds", "3"], "--folds"),
                        (["--seed", "5"], "--seed")):
        code, _, stderr = run_cli(["track", "--data", new, "--out", tmp_path / "third", "--run", out, *mapping,
                                   "--dayfirst", "--quiet", *extra], capsys)
        assert code == 2 and flag in stderr and "trained run" in stderr and not (tmp_path / "third").exists()


def test_too_few_ratings_and_an_unrated_file_without_a_run(tmp_path, capsys):
    frame = make_ema_export(n_people=3, entries=(3, 3), seed=2, unrated_share=0.0)
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    code, _, stderr = run_cli(["track", "--data", path, "--out", tmp_path / "o", *OPTIONS], capsys)
    assert code == 2 and "only 9 entries have both ratings" in stderr and len(stderr.strip().splitlines()) == 1
    frame.drop(columns=["sam_valence", "sam_arousal"]).to_csv(path, index=False)
    mapping = [a for m in MAPPING[:4] for a in ("--column", m)]
    code, _, stderr = run_cli(["track", "--data", path, "--out", tmp_path / "o2", *mapping, "--dayfirst"], capsys)
    assert code == 2 and "no valence or arousal column" in stderr and "--run" in stderr


def test_rating_columns_left_unmapped_are_named_not_counted(tmp_path, capsys):
    """The ratings are there under the user's names: the message says to map them (it used to
    say 'only 0 entries have both ratings', as if the diary were unrated)."""
    path = tmp_path / "diary.csv"
    make_ema_export(n_people=4, entries=(5, 5), seed=2, unrated_share=0.0).to_csv(path, index=False)
    mapping = [a for m in MAPPING[:4] for a in ("--column", m)]
    code, _, stderr = run_cli(["track", "--data", path, "--out", tmp_path / "o", *mapping, "--dayfirst"], capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "no valence or arousal column" in stderr and "sam_valence" in stderr and "--column valence=" in stderr
    assert not (tmp_path / "o").exists()


def test_blank_entries_are_noted_with_their_row(tmp_path, capsys):
    frame = make_ema_export(n_people=4, entries=(5, 5), seed=2, unrated_share=0.0)
    frame.loc[[3, 7], "diary_text"] = ["", "   "]
    path = tmp_path / "diary.csv"
    frame.to_csv(path, index=False)
    code, _, stderr = run_cli(["track", "--data", path, "--out", tmp_path / "o", *OPTIONS[:-1]], capsys)
    assert code == 0, stderr
    assert "column 'diary_text': 2 entries have no text (first: row 4)" in stderr


def test_report_html_renders_every_image_in_chromium(tracked, tmp_path, capsys):
    from test_reporting import CHROMIUM, _chromium

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    folder, path = tracked
    out = folder / "out-chromium"
    code, _, stderr = run_cli(["track", "--data", path, "--out", out, *OPTIONS], capsys)
    assert code == 0, stderr
    probe = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
             " const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
             " document.body.setAttribute('data-images', ok + '/' + imgs.length); });</script></body>")
    checked = tmp_path / "checked.html"
    checked.write_text((out / "report.html").read_text().replace("</body>", probe), encoding="utf-8")
    done = _chromium("--virtual-time-budget=10000", "--dump-dom", checked.as_uri(), user_dir=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    loaded, total = map(int, re.search(r'data-images="(\d+)/(\d+)"', done.stdout).groups())
    assert total == len(list((out / "plots").glob("*.png"))) and loaded == total


def test_an_entry_with_one_rating_is_partly_rated_and_keeps_it(export):
    frame = export.copy()
    rated_rows = np.flatnonzero(frame["sam_valence"].notna().to_numpy())
    row = rated_rows[0]
    frame.loc[row, "sam_arousal"] = pd.NA
    result = run_track(frame, FORMAT, method="user-mean", folds=3)
    table = result.table()
    assert table.loc[row, "pred_kind"] == "partly_rated"
    series = result.series()
    at = int(np.flatnonzero(result.diary.row == row)[0])
    assert series.loc[at, "valence_filled"] == float(frame.loc[row, "sam_valence"])
    assert np.isnan(series.loc[at, "arousal_rating"]) and series.loc[at, "arousal_filled"] == series.loc[at, "arousal_prediction"]
