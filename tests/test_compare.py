"""vatrack.experiments.compare: paired statistics and verdicts, targets, config diff, the
per-version cache, and `vatrack compare` end to end on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vatrack.errors import VatrackError
from vatrack.evaluation.fold_stats import HEADLINE, paired_test
from vatrack.experiments.compare import (
    VersionResult,
    compare_results,
    config_diff,
    prepare_compare_dir,
    run_version,
)
from vatrack.experiments.targets import load_targets
from vatrack.experiments.versions import Version, config_hash, data_fingerprint, parse_versions

from conftest import run_cli



METRICS = [HEADLINE, "all.valence.r_composite", "all.arousal.r_composite", "all.valence.rmse"]


def synthetic_runs(name: str, base: np.ndarray, shift: float = 0.0, noise: float = 0.0, seed: int = 0) -> VersionResult:
    """Per-fold figures for 3 seeds × 3 folds: ``base`` + ``shift`` + noise."""
    rng = np.random.default_rng(seed)
    keys = pd.DataFrame([(s, f) for s in range(3) for f in range(3)], columns=["seed", "fold"])
    values = base + shift + rng.normal(0.0, noise, size=base.shape) if noise else base + shift
    per_fold = keys.assign(**{m: values[:, j] for j, m in enumerate(METRICS)})
    per_fold["all.valence.rmse"] = 1.0 - per_fold[HEADLINE]  # lower is better, moves against r
    return VersionResult(Version(name, "method", name), {"method": name}, "", per_fold, pd.DataFrame())


@pytest.fixture(scope="module")
def base_scores():
    # Fold-to-fold spread (0.08) much larger than the planted effect (0.03): only pairing finds it.
    return np.random.default_rng(42).normal(0.45, 0.08, size=(9, len(METRICS)))


def test_planted_difference_is_significant_and_identical_versions_within_noise(base_scores):
    ref = synthetic_runs("ref", base_scores)
    better = synthetic_runs("better", base_scores, shift=0.03, noise=0.005, seed=1)
    worse = synthetic_runs("worse", base_scores, shift=-0.03, noise=0.005, seed=2)
    same = synthetic_runs("same", base_scores)
    noisy = synthetic_runs("noisy", base_scores, noise=0.08, seed=3)  # no true difference, much noise
    comparison = compare_results([ref, better, worse, same, noisy], reference="ref")
    verdict = comparison.tests.set_index(["version", "metric"])["verdict"]
    assert verdict["better", HEADLINE] == "significant (better)"
    assert verdict["worse", HEADLINE] == "significant (worse)"
    assert verdict["better", "all.valence.rmse"] == "significant (better)"   # RMSE fell
    assert verdict["same", HEADLINE] == "within noise"
    assert verdict["noisy", HEADLINE] == "within noise"
    row = comparison.tests.set_index(["version", "metric"]).loc[("better", HEADLINE)]
    assert row["n_pairs"] == 9 and row["delta"] == pytest.approx(0.03, abs=0.005)
    assert row["ci_low"] > 0 and row["p_wilcoxon"] < 0.05
    # The unpaired intervals of ref and better overlap: a naive comparison would call this noise.
    ref_stat, better_stat = comparison.stat("ref", HEADLINE), comparison.stat("better", HEADLINE)
    assert better_stat["ci_low"] < ref_stat["ci_high"]
    assert comparison.best == "better"


def test_paired_test_uses_only_shared_seed_fold_pairs(base_scores):
    a = synthetic_runs("a", base_scores).per_fold
    b = synthetic_runs("b", base_scores, shift=0.1).per_fold.iloc[:1]
    result = paired_test(a, b, HEADLINE)
    assert result["n_pairs"] == 1 and result["verdict"] == "n/a (1 pair)"
    assert paired_test(a, b.iloc[:0], HEADLINE)["verdict"].startswith("n/a")


def test_targets_are_judged_on_the_named_candidate_never_on_the_maximum(base_scores):
    ref = synthetic_runs("ref", base_scores)
    better = synthetic_runs("better", base_scores, shift=0.2)
    targets = [{"name": "high", "metric": HEADLINE, "threshold": float(base_scores[:, 0].mean() + 0.1)}]
    # No candidate: the maximum ('better', which passes) is not silently used.
    unnamed = compare_results([ref, better], reference="ref", targets=targets)
    assert unnamed.best == "better" and unnamed.candidate is None
    assert unnamed.targets.iloc[0]["status"].startswith("not judged") and unnamed.targets.iloc[0]["version"] is None
    named = compare_results([ref, better], reference="ref", targets=targets, candidate="ref")
    assert named.targets.iloc[0]["version"] == "ref" and named.targets.iloc[0]["status"] == "miss"
    assert named.summary()["candidate"] == "ref"
    # A target that names its own version keeps it.
    own = compare_results([ref, better], targets=[{**targets[0], "version": "better"}], candidate="ref")
    assert own.targets.iloc[0]["version"] == "better" and own.targets.iloc[0]["status"] == "pass"
    with pytest.raises(VatrackError, match="^`candidate` 'nope' is not one of the versions"):
        compare_results([ref, better], candidate="nope")


def test_a_single_version_is_not_called_named_in_advance(base_scores):
    """With one version the criteria are judged on it, but the report said 'named in advance'."""
    from vatrack.reporting.analysis import _final_results, _targets
    from vatrack.reporting.document import Report

    targets = [{"name": "t", "metric": HEADLINE, "threshold": 0.1}]
    report = Report("x")
    only = compare_results([synthetic_runs("only", base_scores)], targets=targets)
    _final_results(report, only)
    _targets(report, only)
    text = " ".join(str(getattr(b, "text", "")) for b in report.blocks)
    assert "the only version: only" in text and "named in advance" not in text and "the only version compared" in text


def test_targets_pass_miss_and_clear_errors(tmp_path, base_scores):
    path = tmp_path / "targets.yaml"
    path.write_text("- {name: easy, metric: all.avg.r_composite, threshold: 0.2}\n"
                    "- {name: hard, metric: all.avg.r_composite, threshold: 0.9}\n"
                    "- {name: low rmse, metric: all.valence.rmse, threshold: 0.9}\n")
    targets = load_targets(path)
    comparison = compare_results([synthetic_runs("ref", base_scores)], targets=targets)
    status = comparison.targets.set_index("name")
    assert status.loc["easy", "status"] == "pass" and status.loc["easy", "ci_clears"]
    assert status.loc["hard", "status"] == "miss" and status.loc["hard", "delta"] < 0
    assert status.loc["low rmse", "direction"] == "<=" and status.loc["low rmse", "status"] == "pass"
    for text, message in [("- {name: x, metric: all.avg.bogus, threshold: 1}\n", "unknown metric"),
                          ("- {name: x, metric: all.avg.ccc, threshold: high}\n", "threshold must be a number"),
                          ("- {name: x, metric: all.avg.ccc}\n", "missing key"),
                          ("- {name: x, metric: all.avg.ccc, threshold: 1, colour: red}\n", "unknown key")]:
            path.write_text(text)
            with pytest.raises(VatrackError, match=message):
                load_targets(path)


def test_config_diff_lists_only_differing_keys():
    diff, same = config_diff({"v3.0": {"name": "v3.0", "lr": 8e-5, "fusion": [512, 256], "dropout": 0.2},
                              "v3.4": {"name": "v3.4", "lr": 8e-5, "fusion": [512, 256], "dropout": 0.3}})
    assert diff.to_dict(orient="records") == [{"key": "dropout", "v3.0": "0.2", "v3.4": "0.3"}]
    assert same == 2  # lr, fusion; the name never counts


def test_versions_are_validated_before_any_run():
    with pytest.raises(VatrackError, match="unknown method"):
        parse_versions(methods="user-mean,telepathy")[1].config()
    with pytest.raises(VatrackError, match="twice"):
        parse_versions(methods="mean,mean")
    with pytest.raises(VatrackError, match="nothing to compare"):
        parse_versions()
    versions = parse_versions(presets="v3.3", methods="mean", ensemble="equal")
    assert [v.kind for v in versions] == ["preset", "method", "ensemble"]
    assert versions[-1].members == ("v3.3", "mean")


def test_cache_key_ignores_the_name_but_not_config_or_data(synthetic_split):
    frame = synthetic_split[0]
    fp = data_fingerprint(frame)
    a, b = Version("a", "method", "mean"), Version("b", "method", "mean")
    assert config_hash(a, {"method": "mean", "name": "a"}, fp, 5) == config_hash(b, {"method": "mean", "name": "b"}, fp, 5)
    assert config_hash(a, {"method": "mean"}, fp, 5) != config_hash(a, {"method": "user-mean"}, fp, 5)
    assert config_hash(a, {"method": "mean"}, fp, 5) != config_hash(a, {"method": "mean"}, fp, 3)
    changed = frame.assign(valence=frame["valence"].where(frame.index != 0, -frame["valence"].iloc[0] + 0.5))
    assert data_fingerprint(changed) != fp


def test_cache_reuses_seeds_and_runs_only_new_ones(tmp_path, synthetic_split):
    frame = synthetic_split[0]
    version = Version("user-mean", "method", "user-mean")
    events: list[str] = []
    first = run_version(frame, version, 2, [0], tmp_path, on_event=events.append)
    assert any("seed 0 fold 1" in e for e in events)
    assert {"train.avg.ccc", "gap.avg.ccc", "info.fit_time_s", HEADLINE} <= set(first.per_fold.columns)
    events.clear()
    second = run_version(frame, version, 2, [0, 1], tmp_path, on_event=events.append)
    assert any("reusing seed(s) [0]" in e for e in events)
    assert not any("seed 0 fold" in e for e in events) and any("seed 1 fold 0" in e for e in events)
    pd.testing.assert_frame_equal(second.per_fold[second.per_fold["seed"] == 0].reset_index(drop=True),
                                  first.per_fold, check_dtype=False)
    assert sorted(second.predictions["seed"].unique()) == [0, 1]
    # The same configuration under another name shares the folder; asking for fewer seeds uses a subset.
    events.clear()
    alias = run_version(frame, Version("alias", "method", "user-mean"), 2, [1], tmp_path, on_event=events.append)
    assert alias.folder == second.folder and list(alias.per_fold["seed"].unique()) == [1]
    assert not any("fold" in e and "reusing" not in e for e in events)


def test_two_comparisons_sharing_a_cache_keep_each_others_seeds(tmp_path, synthetic_split):
    """A comparison that started before another one saved a seed must not drop that seed when
    it saves its own (found on real runs: a confirmation run erased a development seed)."""
    frame = synthetic_split[0]
    version = Version("user-mean", "method", "user-mean")
    run_version(frame, version, 2, [0], tmp_path)

    def meanwhile(event: str) -> None:  # another process finishes seed 2 while seed 1 runs
        if "seed 1 fold 1" in event:
            run_version(frame, version, 2, [2], tmp_path)

    result = run_version(frame, version, 2, [1], tmp_path, on_event=meanwhile)
    per_fold = pd.read_csv(result.folder / "per_fold.csv")
    predictions = pd.read_csv(result.folder / "oof_predictions.csv")
    assert sorted(per_fold["seed"].unique()) == sorted(predictions["seed"].unique()) == [0, 1, 2]


def test_compare_refuses_an_unrelated_folder_without_force(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(VatrackError, match="`force=True`"):
        prepare_compare_dir(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    assert prepare_compare_dir(tmp_path) == tmp_path and (tmp_path / "notes.txt").exists()


@pytest.mark.slow
def test_compare_cli_writes_every_file_and_reuses_runs(tmp_path, task_files, tiny_bert_dir, capsys):
    """Two baselines, a tiny sequence preset (epochs give a history) and their CV ensemble."""
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  - {name: composite above zero, metric: all.avg.r_composite, threshold: 0.0}\n")
    out = tmp_path / "report"
    args = ["compare", "--data", task_files["train"], "--out", out, "--presets", "v3.3", "--methods", "mean,user-mean",
            "--ensemble", "cv", "--seeds", "2", "--folds", "2", "--targets", targets, "--encoder", tiny_bert_dir,
            "--set", "epochs=2", "--set", "lstm_hidden=8", "--set", "lstm_layers=1", "--set", "fusion=[16]",
            "--set", "user_emb=4", "--set", "batch_size=32", "--set", "val_folds=2", "--set", "lr=3e-3"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    for name in ("report.md", "report.html", "summary.json", "plots/versions_per_fold.png", "plots/curves_v3.3.png",
                 "plots/users_user-mean.png", "plots/seen_unseen.png"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == "v3.3" and set(summary["versions"]) == {"v3.3", "mean", "user-mean", "ensemble"}
    assert summary["versions"]["v3.3"]["runs"] == 4
    verdicts = {v: m[HEADLINE]["verdict"] for v, m in summary["comparisons_vs_reference"].items()}
    assert set(verdicts) == {"mean", "user-mean", "ensemble"}
    assert all(v.startswith(("significant", "within noise")) for v in verdicts.values())
    assert summary["targets"][0]["name"] == "composite above zero"
    markdown = (out / "report.md").read_text()
    for section in ("Final results", "Success criteria", "Version comparison", "Seen vs unseen", "Per-user",
                    "epoch by epoch", "Configuration differences", "Ensemble weights"):
        assert section in markdown, section
    stamp = next((out / "cache").glob("mean-*/per_fold.csv")).stat().st_mtime_ns
    # Again into the same folder (one version, to stay quick): its runs come from the cache.
    code, stdout, err = run_cli([*args[:5], "--methods", "mean", "--seeds", "2", "--folds", "2", "--encoder", tiny_bert_dir],
                                capsys)
    assert code == 0, err
    assert "mean: reusing seed(s) [0, 1]" in stdout and " fold 0: composite" not in stdout
    assert next((out / "cache").glob("mean-*/per_fold.csv")).stat().st_mtime_ns == stamp
    assert set(json.loads((out / "summary.json").read_text())["versions"]) == {"mean"}


def test_compare_confirm_runs_confirmation_seeds_and_names_the_candidate(tmp_path, task_files, capsys):
    out = tmp_path / "report"
    code, stdout, err = run_cli(["compare", "--data", task_files["train"], "--out", out, "--methods", "mean,user-mean",
                                 "--seeds", "1", "--folds", "2", "--confirm", "--candidate", "user-mean"], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [1000] and summary["seed_set"] == "confirmation" and summary["candidate"] == "user-mean"
    assert {t["version"] for t in summary["targets"]} == {"user-mean"}
    markdown = (out / "report.md").read_text()
    assert "confirmation seeds" in markdown and "Judged on: user-mean" in markdown
    assert "success criteria judged on: user-mean" in stdout


def test_compare_cli_errors_are_one_line(tmp_path, task_files, capsys):
    code, _, err = run_cli(["compare", "--data", task_files["train"], "--out", tmp_path / "r", "--methods", "mean",
                            "--reference", "nope"], capsys)
    assert code == 2 and "--reference 'nope'" in err and "Traceback" not in err
    code, _, err = run_cli(["compare", "--data", task_files["train"], "--out", tmp_path / "r", "--presets", "v9.9"], capsys)
    assert code == 2 and "unknown preset" in err


@pytest.mark.slow
def test_parallel_folds_give_the_same_runs_as_one_at_a_time(tmp_path, task_files, tiny_bert_dir):
    """--jobs 2 trains folds in two worker processes; with the same threads per training the
    per-fold figures, histories and out-of-fold predictions equal a sequential run's."""
    from vatrack.data import load_diary
    from vatrack.experiments.compare import run_version
    from vatrack.experiments.versions import parse_versions

    frame = load_diary(task_files["train"], require_labels=True)
    tiny = ["epochs=2", "lstm_hidden=8", "lstm_layers=1", "fusion=[16]", "user_emb=4", "batch_size=32", "val_folds=2"]
    version = parse_versions("v3.3", encoder=str(tiny_bert_dir), overrides=tiny)[0]
    runs = {jobs: run_version(frame, version, 2, [0], tmp_path / f"cache{jobs}", jobs=jobs) for jobs in (1, 2)}
    timing = [c for c in runs[1].per_fold.columns if "time" in c]
    pd.testing.assert_frame_equal(runs[1].per_fold.drop(columns=timing), runs[2].per_fold.drop(columns=timing))
    pd.testing.assert_frame_equal(runs[1].predictions, runs[2].predictions)
    history = [c for c in runs[1].histories.columns if "time" not in c]
    assert len(runs[2].histories) == 4   # 2 folds x 2 epochs came back from the workers
    pd.testing.assert_frame_equal(runs[1].histories[history], runs[2].histories[history])


def test_a_reused_compare_folder_keeps_its_cache_not_its_old_report(tmp_path, task_files, capsys):
    """The earlier comparison's plots stayed beside the new report; a bad --reference left an
    empty folder with a lock file although the names are checked before any run."""
    from conftest import run_cli

    out = tmp_path / "cmp"
    base = ["compare", "--data", task_files["train"], "--seeds", "1", "--folds", "2", "--out", out]
    assert run_cli([*base, "--methods", "mean,user-mean"], capsys)[0] == 0
    assert list((out / "plots").glob("*user-mean*"))
    code, _, err = run_cli([*base, "--methods", "mean"], capsys)
    assert code == 0, err
    assert not list((out / "plots").glob("*user-mean*")) and (out / "cache").is_dir()
    fresh = tmp_path / "never"
    code, _, err = run_cli(["compare", "--data", task_files["train"], "--methods", "mean,user-mean", "--reference", "nosuch",
                            "--seeds", "1", "--folds", "2", "--out", fresh], capsys)
    assert code == 2 and "--reference" in err and not fresh.exists()
