"""`vatrack breakdown` and its library (official figures per subgroup), and ridge+user+types.

Synthetic diaries only: no row of the task data may appear in a test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from vatrack.data import make_diaries, write_csv_like_official
from vatrack.evaluation.breakdown import breakdown_per_fold, label_structure, summarise_breakdown
from vatrack.evaluation.metrics import subtask1_metrics
from vatrack.models import load_model, make_model


def _oof(diary: pd.DataFrame, seeds=(0, 1), folds=2, seed: int = 0) -> pd.DataFrame:
    """Out-of-fold-shaped predictions: per (seed, fold) a random half of the users' rows, gold + noise."""
    rng = np.random.default_rng(seed)
    parts = []
    users = diary["user_id"].unique()
    for s in seeds:
        seen = set(rng.choice(users, size=len(users) // 2, replace=False))
        for f in range(folds):
            rows = diary[rng.random(len(diary)) < 0.5]
            pred = rows[["valence", "arousal"]].to_numpy(float) + rng.normal(0, 0.8, (len(rows), 2))
            parts.append(pd.DataFrame({
                "user_id": rows["user_id"].to_numpy(), "text_id": rows["text_id"].to_numpy(),
                "valence": rows["valence"].to_numpy(), "arousal": rows["arousal"].to_numpy(),
                "is_seen_user": rows["user_id"].isin(seen).to_numpy(),
                "pred_valence": np.clip(pred[:, 0], -2, 2), "pred_arousal": np.clip(pred[:, 1], 0, 2),
                "seed": s, "fold": f}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def diary():
    return make_diaries(n_users=24, seed=5)


def _by_hand(oof: pd.DataFrame, diary: pd.DataFrame, seed: int, fold: int, keep) -> dict:
    part = oof[(oof.seed == seed) & (oof.fold == fold)].merge(diary[["user_id", "text_id", "is_words", "collection_phase", "text"]],
                                                               on=["user_id", "text_id"])
    return subtask1_metrics(part[keep(part)][["user_id", "valence", "arousal", "pred_valence", "pred_arousal"]])


def test_figures_per_subgroup_match_official_metrics_on_that_subgroup(diary):
    oof = _oof(diary)
    table = breakdown_per_fold(oof, diary)
    words = diary["text"].str.split().str.len().to_numpy()
    low, high = np.percentile(words, [100 / 3, 200 / 3])
    length = lambda p: p["text"].str.split().str.len()  # noqa: E731
    cases = {
        "all": lambda p: np.ones(len(p), dtype=bool),
        "seen": lambda p: p["is_seen_user"].to_numpy(bool),
        "unseen": lambda p: ~p["is_seen_user"].to_numpy(bool),
        "essays": lambda p: ~p["is_words"].to_numpy(bool),
        "feeling words": lambda p: p["is_words"].to_numpy(bool),
        "phase 2": lambda p: (p["collection_phase"] == 2).to_numpy(bool),
        "length short": lambda p: (length(p) <= low).to_numpy(),
        "length mid": lambda p: ((length(p) > low) & (length(p) <= high)).to_numpy(),
        "length long": lambda p: (length(p) > high).to_numpy(),
    }
    assert set(cases) <= set(table["group"])
    assert {(s, f) for s, f in zip(table.seed, table.fold)} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    for (seed, fold) in [(0, 1), (1, 0)]:
        for group, keep in cases.items():
            expected = _by_hand(oof, diary, seed, fold, keep)
            got = table[(table.seed == seed) & (table.fold == fold) & (table.group == group)].set_index("dim")
            for dim in ("valence", "arousal"):
                for metric in ("r_composite", "r_within", "r_between", "ccc", "mae"):
                    assert got.loc[dim, metric] == pytest.approx(expected[dim][metric], nan_ok=True), (group, dim, metric)
            assert got.loc["avg", "r_composite"] == pytest.approx(expected["avg"]["r_composite"], nan_ok=True)
            assert got.loc["valence", "n_rows"] == expected["n_rows"] and got.loc["valence", "n_users"] == expected["n_users"]


def test_summary_is_mean_and_std_over_runs_in_a_fixed_group_order(diary):
    table = breakdown_per_fold(_oof(diary), diary)
    summary = summarise_breakdown(table)
    row = summary[(summary.group == "essays") & (summary.dim == "arousal")].iloc[0]
    runs = table[(table.group == "essays") & (table.dim == "arousal")]["r_composite"]
    assert row["runs"] == 4
    assert row["r_composite_mean"] == pytest.approx(runs.mean())
    assert row["r_composite_std"] == pytest.approx(runs.std(ddof=1))
    groups = list(dict.fromkeys(summary["group"]))
    assert groups[:5] == ["all", "seen", "unseen", "essays", "feeling words"]
    phases = [g for g in groups if g.startswith("phase")]
    assert phases == sorted(phases, key=lambda g: int(g.split()[1]))
    assert groups[-3:] == ["length short", "length mid", "length long"]


def test_label_structure_within_share_by_hand(diary):
    table = label_structure(diary).set_index(["dim", "texts"])
    values = diary["arousal"].to_numpy(float)
    user_mean = diary.groupby("user_id")["arousal"].transform("mean").to_numpy(float)
    assert table.loc[("arousal", "all"), "within_share"] == pytest.approx(np.mean((values - user_mean) ** 2) / values.var())
    assert table.loc[("arousal", "all"), "distinct"] == diary["arousal"].nunique()
    assert table.loc[("valence", "essays"), "rows"] == int((~diary["is_words"]).sum())
    shares = []
    for _, values in diary.groupby("user_id")["arousal"]:
        v = values.to_numpy()
        same = (v[:, None] == v[None, :]).sum() - len(v)
        shares.append(same / (len(v) * (len(v) - 1)))
    assert table.loc[("arousal", "all"), "tied_pairs"] == pytest.approx(np.mean(shares))


def test_user_level_stability_by_hand(diary):
    from vatrack.evaluation.breakdown import user_level_stability
    from vatrack.evaluation.metrics import pearson

    oof = _oof(diary)
    table = user_level_stability(oof, diary)
    assert len(table) == 4 * 2
    part = oof[(oof.seed == 1) & (oof.fold == 0)]
    seen = part[part["is_seen_user"]]
    held = set(zip(part.user_id, part.text_id))
    other = diary[[k not in held for k in zip(diary.user_id, diary.text_id)]]
    other = other[other.user_id.isin(set(seen.user_id))]
    means = seen.groupby("user_id")["arousal"].mean().to_frame().join(other.groupby("user_id")["arousal"].mean().rename("before"),
                                                                        how="inner")
    row = table[(table.seed == 1) & (table.fold == 0) & (table.dim == "arousal")].iloc[0]
    assert row["r"] == pytest.approx(pearson(means["before"], means["arousal"]))
    assert row["n_users"] == len(means)


def test_predictions_with_keys_the_diary_lacks_are_refused(diary):
    from vatrack.errors import VatrackError

    oof = _oof(diary)
    oof.loc[0, "text_id"] = "not-in-the-diary"
    with pytest.raises(VatrackError, match="keys the diary lacks"):
        breakdown_per_fold(oof, diary)
    with pytest.raises(VatrackError, match="lack column"):
        breakdown_per_fold(oof.drop(columns=["fold"]), diary)


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, diary):
    data = tmp_path / "train.csv"
    write_csv_like_official(diary, data)
    a, b = tmp_path / "a" / "oof_predictions.csv", tmp_path / "b.csv"
    a.parent.mkdir()
    _oof(diary, seed=1).to_csv(a, index=False)
    _oof(diary, seed=2).to_csv(b, index=False)
    return {"data": data, "a": a, "b": b}


def test_cli_writes_the_report(files, tmp_path, capsys, diary):
    out = tmp_path / "report"
    code, stdout, stderr = run_cli(["breakdown", "--predictions", files["a"].parent, "--predictions", f"other={files['b']}",
                                    "--data", files["data"], "--out", out], capsys)
    assert code == 0, stderr
    assert "a: composite r arousal all" in stdout and "other: composite r arousal all" in stdout
    for name in ("report.md", "report.html", "breakdown_summary.csv", "label_structure.csv", "user_level_stability.csv",
                 "breakdown_per_fold_a.csv", "breakdown_per_fold_other.csv", "plots/groups_r_composite.png", "plots/labels.png"):
        assert (out / name).is_file(), name
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "Arousal per subgroup" in md and "carry over" in md and "feeling words" in md and "comp other" in md
    assert "data:image/png;base64," in (out / "report.html").read_text(encoding="utf-8")
    # aggregate figures only: no text of the diary reaches the report
    assert not any(text in md for text in diary["text"] if len(text) > 20)
    summary = pd.read_csv(out / "breakdown_summary.csv")
    assert set(summary["version"]) == {"a", "other"}
    # default names: a run folder's name, or a plain file's stem
    from vatrack.reporting.breakdown import version_name

    assert version_name(files["a"]) == version_name(files["a"].parent) == "a" and version_name(files["b"]) == "b"
    # a second run into the same folder needs --force
    code, _, stderr = run_cli(["breakdown", "--predictions", files["b"], "--data", files["data"], "--out", out], capsys)
    assert code == 2 and "--force" in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["missing file", "empty name", "same name", "foreign keys", "missing column", "no data",
                                  "no confirmation runs"])
def test_cli_bad_input_is_one_line_exit_2(files, tmp_path, capsys, case):
    args = {"missing file": ["--predictions", tmp_path / "nope.csv"],
            "empty name": ["--predictions", f"={files['b']}"],
            "same name": ["--predictions", f"x={files['a']}", "--predictions", f"x={files['b']}"],
            "foreign keys": ["--predictions", tmp_path / "foreign.csv"],
            "missing column": ["--predictions", tmp_path / "nocol.csv"],
            "no data": ["--predictions", files["b"]],
            "no confirmation runs": ["--predictions", files["b"], "--seed-set", "confirmation"]}[case]
    oof = pd.read_csv(files["b"], dtype={"user_id": str, "text_id": str})
    oof.assign(user_id="stranger").to_csv(tmp_path / "foreign.csv", index=False)
    oof.drop(columns=["pred_arousal"]).to_csv(tmp_path / "nocol.csv", index=False)
    data = tmp_path / "absent.csv" if case == "no data" else files["data"]
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["breakdown", *args, "--data", data, "--out", out], capsys)
    assert code == 2, (stdout, stderr)
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("error:"), stderr
    assert "Traceback" not in stderr
    assert not (out / "report.md").exists()
    if case == "no confirmation runs":
        assert "--seed-set" in stderr


def test_cli_keeps_one_seed_set(files, tmp_path, capsys, diary):
    oof = pd.read_csv(files["b"], dtype={"user_id": str, "text_id": str})
    both = pd.concat([oof, oof.assign(seed=oof["seed"] + 1000)], ignore_index=True)
    both.to_csv(tmp_path / "both.csv", index=False)
    code, _, stderr = run_cli(["breakdown", "--predictions", tmp_path / "both.csv", "--data", files["data"],
                               "--out", tmp_path / "out", "--seed-set", "confirmation"], capsys)
    assert code == 0, stderr
    per_fold = pd.read_csv(tmp_path / "out" / "breakdown_per_fold.csv")
    assert set(per_fold["seed"]) == {1000, 1001}
    assert "(confirmation)" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


# --- ridge+user+types ------------------------------------------------------------------------


def test_ridge_user_types_fits_one_ridge_per_text_type(tiny_bert_dir, tmp_path, diary):
    from vatrack.protocols import strip_labels

    train, test = diary.iloc[: len(diary) * 3 // 4], diary.iloc[len(diary) * 3 // 4:]
    model = make_model("ridge+user+types", encoder=str(tiny_bert_dir)).fit(train)
    assert set(model.state["type_ridges"]) == {"words", "essays"}
    pred = model.predict(strip_labels(test))
    assert list(pred.columns) == ["user_id", "text_id", "pred_valence", "pred_arousal"] and len(pred) == len(test)
    assert np.isfinite(pred[["pred_valence", "pred_arousal"]].to_numpy()).all()
    assert pred["pred_arousal"].between(0, 2).all()
    plain = make_model("ridge+user", encoder=str(tiny_bert_dir)).fit(train).predict(strip_labels(test))
    assert not np.allclose(plain["pred_arousal"], pred["pred_arousal"])
    model.save(tmp_path / "bundle")
    again = load_model(tmp_path / "bundle").predict(strip_labels(test))
    pd.testing.assert_frame_equal(again, pred)


def test_ridge_user_types_keeps_the_shared_ridge_for_a_type_too_small(tiny_bert_dir, diary):
    from vatrack.protocols import strip_labels

    essays = diary[~diary["is_words"]]
    model = make_model("ridge+user+types", encoder=str(tiny_bert_dir)).fit(essays)
    assert set(model.state["type_ridges"]) == {"essays"}
    words = diary[diary["is_words"]].head(5)
    pred = model.predict(strip_labels(words))
    shared = model.state["ridge"].predict(model._features(words))
    offsets = model._apply_offsets(words, np.zeros((len(words), 2)))
    expected = np.clip(shared + offsets, [-2, 0], [2, 2])
    assert np.allclose(pred[["pred_valence", "pred_arousal"]].to_numpy(), expected)
    assert not math.isnan(float(pred["pred_valence"].sum()))
