"""Presets and the config: the seed table, groups, one resolve path, old flat files,
validation errors as one line, --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from vatrack.errors import VatrackError
from vatrack.models.presets import (
    GROUPS,
    SequenceConfig,
    available_presets,
    config_yaml,
    load_preset,
    make_config,
    parse_overrides,
    resolve_config,
)

from conftest import run_cli

DOCS = Path(__file__).resolve().parents[1] / "docs" / "presets.md"
# The seed versions' settings as docs/presets.md states them, written out here a second time
# by hand: the documented table is checked against this, and every preset file against the
# table, so neither the docs nor a YAML file can drift alone.
# user emb, hidden, layers, fusion, dropout, epochs, patience, lr encoder, lr, wd, warmup, CCC V, CCC A, clip
SEED_TABLE = {
    "v3.0": (64, 256, 2, [512, 256], 0.2, 20, 7, 1.5e-5, 8e-5, 0.01, 0.15, 0.65, 0.70, 0.5),
    "v3.2": (0, 128, 1, [256, 128], 0.4, 30, 6, 1e-5, 6e-5, 0.02, 0.20, 0.60, 0.85, 1.0),
    "v3.3": (32, 192, 2, [512, 256], 0.3, 20, 5, 1.5e-5, 8e-5, 0.015, 0.15, 0.65, 0.75, 0.5),
    "v3.4": (48, 224, 2, [512, 256], 0.3, 20, 6, 1.5e-5, 8e-5, 0.015, 0.15, 0.65, 0.70, 0.5),
}


def documented_table() -> dict[str, tuple]:
    """The seed-version table of docs/presets.md, parsed into SEED_TABLE's shape."""
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| v3."):
            continue
        name, emb, lstm, fusion, dropout, epochs, lrs, wd, warmup, ccc, clip = cells
        hidden, layers = (int(v) for v in lstm.split("×"))
        first, patience = (int(v) for v in epochs.split("/"))
        lr_encoder, lr = (float(v) for v in lrs.split("/"))
        ccc_v, ccc_a = (float(v) for v in ccc.split("/"))
        rows[name] = (0 if emb == "none" else int(emb), hidden, layers, [int(v) for v in fusion.split("→")],
                      float(dropout), first, patience, lr_encoder, lr, float(wd), float(warmup), ccc_v, ccc_a, float(clip))
    return rows


def test_documented_table_states_the_seed_settings():
    assert documented_table() == SEED_TABLE


@pytest.mark.parametrize("name", sorted(SEED_TABLE))
def test_seed_presets_match_the_documented_table(name):
    c = load_preset(name)
    net, optim, run = c.net, c.optim, c.trainer
    got = (net.user_emb, net.lstm_hidden, net.lstm_layers, net.fusion, net.dropout, run.epochs, run.patience,
           optim.lr_encoder, optim.lr, optim.weight_decay, optim.warmup, optim.ccc_weight_valence,
           optim.ccc_weight_arousal, run.grad_clip)
    expected = documented_table()[name]
    assert got[3] == expected[3]
    assert got[:3] + got[4:] == pytest.approx(expected[:3] + expected[4:])
    # "All four" line of docs/presets.md
    assert (c.features.seq_length, run.batch_size, net.attn_heads, c.encoder.max_length) == (7, 10, 4, 128)
    assert c.name == name


def test_v32_extras():
    def extras(c):
        return (c.trainer.grad_accum, c.trainer.mixup_alpha, c.optim.label_smoothing, c.optim.freeze_encoder_epochs)

    assert extras(load_preset("v3.2")) == (4, 0.2, 0.05, 3)
    for name in ("v3.0", "v3.3", "v3.4"):  # documented as v3.2-only
        assert extras(load_preset(name)) == (1, 0.0, 0.0, 0)


def test_every_preset_lists_every_knob():
    assert {"best", "v3.0", "v3.2", "v3.3", "v3.4"} <= set(available_presets())
    import yaml

    from vatrack.models.presets import preset_path

    for name in available_presets():
        values = yaml.safe_load(preset_path(name).read_text())
        if "method" in values:  # a method preset: every constructor parameter but the seed
            from vatrack.models import MODELS

            accepted = set(MODELS[values["method"]]._get_param_names())
            assert accepted - NOT_IN_METHOD_PRESETS <= set(values["params"]) <= accepted - {"seed"}, name
            continue
        assert set(values) == set(SequenceConfig.model_fields), (name, set(SequenceConfig.model_fields) ^ set(values))
        for group, model in GROUPS.items():
            assert set(values[group]) == set(model.model_fields), (name, group, set(model.model_fields) ^ set(values[group]))


def _write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,expected", [
    ("epochs: 5\nlstm_hiden: 3\n", "unknown key 'lstm_hiden'"),
    ("net:\n  lstm_hiden: 3\n", "unknown key 'net.lstm_hiden'"),
    ("epochs: five\n", "key 'trainer.epochs': Input should be a valid integer (got 'five')"),
    ("trainer: {epochs: five}\n", "key 'trainer.epochs': Input should be a valid integer (got 'five')"),
    ("dropout: 1.5\n", "key 'net.dropout': Input should be less than 1"),
    ("fusion: 512\n", "key 'net.fusion'"),
    ("encoder_mode: warm\n", "key 'encoder.mode'"),
    ("use_lags: maybe\n", "key 'features.use_lags'"),
    ("lstm_hidden: 3\nattn_heads: 4\n", "not divisible by attn_heads"),
    ("blend: {forest: 0.5}\n", "cannot blend with forest"),
    ("- a\n- b\n", "must be a mapping"),
    ("epochs: [1,\n", "fix the YAML syntax"),
])
def test_bad_preset_files_are_one_line_errors(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(VatrackError) as err:
        load_preset(path)
    message = str(err.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_scientific_notation_and_ints_are_accepted_for_floats(tmp_path):
    c = load_preset(_write(tmp_path, "lr: 1e-3\nweight_decay: 0\n"))
    assert c.optim.lr == 1e-3 and c.optim.weight_decay == 0.0


def test_overrides_are_typed_per_key():
    assert parse_overrides(["epochs=3", "lr=1e-3", "fusion=64,32", "use_lags=false", "encoder=./my-bert",
                            "fusion=[8, 4]"]) == {"epochs": 3, "lr": 1e-3, "fusion": [8, 4], "use_lags": False,
                                                  "encoder": "./my-bert"}
    c = resolve_config("v3.3", encoder="mpnet", mode="finetune", overrides=["dropout=0.1"])
    assert (c.encoder.name, c.encoder.mode, c.net.dropout, c.net.lstm_hidden) == ("mpnet", "finetune", 0.1, 192)
    assert resolve_config("v3.3", ["net.dropout=0.1", "optim.lr=1e-3"]) == resolve_config("v3.3", ["dropout=0.1", "lr=1e-3"])


@pytest.mark.parametrize("items,expected", [
    (["epochs"], "expected key=value"),
    (["nope=1"], "unknown key 'nope'"),
])
def test_bad_overrides(items, expected):
    with pytest.raises(VatrackError, match=expected):
        parse_overrides(items)


def test_out_of_range_override_names_the_key():
    with pytest.raises(VatrackError, match="key 'trainer.epochs': Input should be greater than or equal to 1"):
        load_preset("v3.3", ["epochs=0"])


def test_unknown_preset_lists_the_choices():
    with pytest.raises(VatrackError, match="unknown preset 'v9'.*v3.3"):
        load_preset("v9")
    with pytest.raises(VatrackError, match="preset file not found"):
        load_preset("missing.yaml")


def test_resolved_config_round_trips_through_yaml(tmp_path):
    c = resolve_config("v3.2", overrides=["epochs=2"])
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(c))
    assert load_preset(path) == c


def test_cli_rejects_bad_settings_with_exit_code_2(tmp_path, capsys, task_files):
    for extra in (["--set", "epochs=zero"], ["--set", "bogus=1"], ["--preset", "v9"], ["--val", "maybe"],
                  ["--mode", "warm"]):
        code, out, err = run_cli(["train", "--data", task_files["train"], "--out", tmp_path / "run", *extra], capsys)
        assert code == 2, (extra, err)
        assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "run").exists()


# --- the grouped config and its one resolve path ---------------------------------------------------

def test_old_flat_run_folder_config_loads_to_the_same_config(tmp_path):
    """A run folder written before the groups holds a flat config.yaml: it must still load,
    and to exactly the config its grouped preset gives."""
    import yaml

    grouped = load_preset("best")
    flat = grouped.flat()
    assert flat["blend_ridge_user"] == 0.5 and flat["encoder"] == "minilm+mpnet" and "lr" in flat
    path = _write(tmp_path, yaml.safe_dump(flat))
    assert load_preset(path) == grouped
    assert make_config(flat) == grouped


def test_no_config_key_is_declared_twice():
    """Each key lives in one group; the features group is the feature layer's own FeatureSpec
    (not a copy of its fields)."""
    from vatrack.features import FeatureSpec

    assert SequenceConfig.model_fields["features"].annotation is FeatureSpec
    leaves = [k for model in GROUPS.values() for k in model.model_fields if k != "name"]
    assert len(leaves) == len(set(leaves))


def test_only_the_config_module_builds_configs():
    """One resolve path: outside models/presets.py nothing constructs a SequenceConfig or
    merges a dumped config by hand."""
    import re

    src = Path(__file__).resolve().parents[1] / "src" / "vatrack"
    offenders = []
    for path in src.rglob("*.py"):
        if path.name == "presets.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"SequenceConfig\(|\*\*\w+\.model_dump\(\)|model_copy\(update", text):
            offenders.append(str(path.relative_to(src)))
    assert offenders == []


def test_make_model_takes_overrides_like_the_cli():
    from vatrack.models import make_model

    model = make_model("sequence", config="v3.3", overrides=["epochs=1", "optim.lr=1e-3"])
    assert model.config.trainer.epochs == 1 and model.config.optim.lr == 1e-3
    with pytest.raises(VatrackError, match="unknown key 'epoch'"):
        make_model("sequence", config="v3.3", overrides=["epoch=1"])
    with pytest.raises(VatrackError, match="trainer.epochs"):
        make_model("sequence", config="v3.3", overrides={"epochs": 0})


def test_blend_is_declared_as_data():
    c = load_preset("best")
    assert c.blend == {"ridge+user": 0.5}
    assert resolve_config(c, ["blend={}"]).blend == {}
    assert resolve_config(c, ["blend_ridge_user=0"]).blend == {}


# Method-preset parameters a preset may leave out: the seed (--seed; never in a preset), the
# progress bar, the fit cache switch, and the blend's two (set only where a preset blends).
NOT_IN_METHOD_PRESETS = {"seed", "progress", "cache", "blend", "blend_encoder"}


def test_a_method_preset_builds_its_method(tmp_path):
    from vatrack.models import FineTunedRegressor, model_from_preset

    model = model_from_preset("finetune", seed=3, overrides=["epochs=2", "lr_head=2e-3"], encoder="mpnet")
    assert isinstance(model, FineTunedRegressor) and model.kind == "finetune+ridge"
    assert (model.seed, model.epochs, model.lr_head, model.encoder, model.batch_size) == (3, 2, 2e-3, "mpnet", 16)
    assert model.blend == {"ridge+user": 0.8} and model.blend_encoder == "minilm+mpnet"


@pytest.mark.parametrize(("text", "message"), [
    ("method: finetune\nparams: {epochz: 2}\n", "`finetune` has no parameter epochz"),
    ("method: nope\n", "unknown method 'nope'"),
    ("method: finetune\nparams: [1]\n", "key 'params'"),
    ("method: finetune\nextra: 1\n", "key 'extra'"),
    ("method: finetune\nparams: {seed: 7}\n", "the seed is not a preset parameter .*give it with `seed=N`"),
])
def test_a_bad_method_preset_is_one_clear_line(tmp_path, text, message):
    from vatrack.models import model_from_preset

    with pytest.raises(VatrackError, match=message):
        model_from_preset(_write(tmp_path, text))


def test_a_seed_set_on_a_method_preset_is_refused():
    """It used to be recorded in config.yaml and metrics.json, yet the `seed` argument won."""
    from vatrack.models import model_from_preset

    with pytest.raises(VatrackError, match="the seed is not a preset parameter") as caught:
        model_from_preset("finetune", overrides=["seed=7"])
    assert caught.value.params == ("seed",)


def test_an_empty_params_is_no_params(tmp_path):
    from vatrack.models import FineTunedRegressor, model_from_preset

    model = model_from_preset(_write(tmp_path, "method: finetune\nparams:\n"), seed=2)
    assert model.get_params() == FineTunedRegressor(seed=2).get_params()


def test_a_sequence_only_command_names_the_method_preset():
    with pytest.raises(VatrackError, match="configures the `finetune\\+ridge` method, not the sequence model"):
        load_preset("finetune")



def test_set_with_a_method_is_applied_or_refused_never_ignored(tmp_path):
    """`--method finetune --set epochs=1` used to train 3 epochs, and `--set nonsense=1` passed:
    cv and track built the method without its overrides."""
    from vatrack.experiments.cv import estimator_factory

    model = estimator_factory("finetune", None, None, ["epochs=1", "blend={}"])(4)
    assert (model.epochs, model.blend, model.seed) == (1, {}, 4)
    assert estimator_factory("ridge+user", None, "minilm+mpnet", [])(0).encoder == "minilm+mpnet"
    for bad, says in ((["nonsense=1"], "has no parameter nonsense"), (["epochs=banana"], "epochs"),
                      (["seed=7"], "seed")):
        with pytest.raises(VatrackError, match=says):
            estimator_factory("finetune", None, None, bad)
