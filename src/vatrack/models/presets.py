"""The sequence model's configuration: named groups, presets, and the one way to resolve them.

A config is data in five groups plus a blend::

    encoder   which text encoder, frozen or fine-tuned, token limit
    features  what each window step carries (vatrack.features.FeatureSpec)
    net       the network's sizes
    optim     loss weights, optimiser and schedule
    trainer   epochs, batches, early stopping, the visible-label simulation, refit
    blend     other models averaged with the network, as {method: weight}

A preset is a YAML file of these groups (``vatrack/presets/*.yaml``, package data). Every
config is made by :func:`resolve_config` — base (preset name, YAML path, dict or config)
plus overrides — and by nothing else: the CLI's ``--preset/--set``, ``make_model``, sweeps,
compare and run folders all call it.

Keys are written ``group.key`` (``optim.lr``) or, since every key name is unique across the
groups, bare (``lr``); old flat files (run folders' ``config.yaml`` before the groups) load
the same way. Three old names are aliases: ``encoder`` (a string) is ``encoder.name``,
``encoder_mode`` is ``encoder.mode``, ``blend_ridge_user: w`` is ``blend: {ridge+user: w}``.
Override values (``key=value`` strings) are parsed per key type: numbers and booleans as YAML
scalars, lists as YAML (``[256,128]``) or comma lists (``256,128``), strings verbatim. An
unknown key, a wrong type or an out-of-range value is one VatrackError line naming the
source and the key.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vatrack.errors import VatrackError
from vatrack.features import FeatureSpec
from vatrack.models.baselines import blend_problem

# Package data (pyproject: [tool.setuptools.package-data]); a test installs the wheel and trains from it.
PACKAGE_PRESETS = Path(__file__).resolve().parents[1] / "presets"


# --- the groups -------------------------------------------------------------------------------

class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EncoderConfig(_Group):
    name: str = "minilm"                               # or several: "minilm+mpnet" (frozen mode)
    mode: Literal["frozen", "finetune"] = "frozen"
    max_length: int = Field(128, ge=8, le=512)

    @model_validator(mode="after")
    def _names(self):
        if not all(part.strip() for part in self.name.split("+")):
            raise ValueError(f"encoder '{self.name}' names an empty encoder; use minilm, mpnet, minilm+mpnet, "
                             "a Hugging Face id or a local model folder")
        if self.mode == "finetune" and len(self.names()) > 1:
            raise ValueError(f"fine-tune mode takes one encoder, got '{self.name}'; combine encoders in frozen mode")
        return self

    def names(self) -> list[str]:
        """'minilm+mpnet' -> ['minilm', 'mpnet'] (frozen mode concatenates their vectors)."""
        return [part.strip() for part in self.name.split("+") if part.strip()]


class NetConfig(_Group):
    user_emb: int = Field(32, ge=0, le=1024)           # 0 = no user embedding
    lstm_hidden: int = Field(192, ge=2, le=4096)
    lstm_layers: int = Field(2, ge=1, le=8)
    attn_heads: int = Field(4, ge=1, le=64)
    fusion: list[int] = Field(default_factory=lambda: [512, 256], min_length=1, max_length=6)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _shapes(self):
        if (2 * self.lstm_hidden) % self.attn_heads:
            raise ValueError(f"attention width 2*lstm_hidden = {2 * self.lstm_hidden} is not divisible by "
                             f"attn_heads = {self.attn_heads}")
        if any(w < 1 or w > 16384 for w in self.fusion):
            raise ValueError(f"fusion widths must be between 1 and 16384, got {self.fusion}")
        return self


class OptimConfig(_Group):
    lr: float = Field(8e-5, gt=0.0, le=1.0)
    lr_encoder: float = Field(1.5e-5, gt=0.0, le=1.0)  # fine-tune mode: the encoder's LR
    weight_decay: float = Field(0.015, ge=0.0, le=1.0)
    warmup: float = Field(0.15, ge=0.0, lt=1.0)        # share of optimiser steps
    ccc_weight_valence: float = Field(0.65, ge=0.0, le=1.0)   # loss = w (1 - CCC) + (1 - w) MSE
    ccc_weight_arousal: float = Field(0.75, ge=0.0, le=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, le=0.5)
    freeze_encoder_epochs: int = Field(0, ge=0, le=1000)


class TrainerConfig(_Group):
    epochs: int = Field(20, ge=1, le=1000)
    patience: int = Field(5, ge=1, le=1000)
    batch_size: int = Field(10, ge=1, le=8192)
    batch_order: Literal["auto", "shuffle", "contiguous"] = "auto"  # auto: contiguous when fine-tuning
    grad_clip: float = Field(0.5, ge=0.0, le=1000.0)   # 0 = off
    grad_accum: int = Field(1, ge=1, le=256)
    mixup_alpha: float = Field(0.0, ge=0.0, le=10.0)   # 0 = off
    monitor: Literal["composite", "ccc"] = "composite"
    # visible-label simulation and the unknown-user slot (see vatrack.training.data)
    unseen_prob: float = Field(0.3, ge=0.0, le=1.0)
    min_visible_frac: float = Field(0.3, ge=0.0, le=1.0)
    user_dropout: float = Field(0.1, ge=0.0, le=1.0)
    # validation inside fit (an official-style inner fold), refit on all rows for the best epoch count
    val_folds: int = Field(5, ge=2, le=50)
    refit: bool = False
    eval_batch_size: int = Field(512, ge=1, le=65536)




class SequenceConfig(BaseModel):
    """A validated configuration of the sequence model; each preset holds one."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = "custom"
    description: str = ""
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    net: NetConfig = Field(default_factory=NetConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    # vatrack extra (not in the seed): final = (1 - sum w) network + sum w * method, each
    # method a baseline fitted on the same rows with the network's first encoder; {} = the network alone
    blend: dict[str, float] = Field(default_factory=dict)

    @field_validator("blend")
    @classmethod
    def _blend(cls, value: dict) -> dict:
        problem = blend_problem(value)
        if problem:
            raise ValueError(problem)
        return {method: w for method, w in value.items() if w > 0}

    def flat(self) -> dict:
        """Every key with its bare name, the blend as its old ``blend_ridge_user`` key: the
        form of cache keys, config-diff tables and logged hyperparameters (stable across the
        move to groups, so earlier cached runs still match)."""
        out = {"name": self.name, "description": self.description, "encoder": self.encoder.name,
               "encoder_mode": self.encoder.mode, "max_length": self.encoder.max_length}
        for group in ("features", "net", "optim", "trainer"):
            out.update(getattr(self, group).model_dump())
        out["blend_ridge_user"] = self.blend.get("ridge+user", 0.0)
        out.update({f"blend_{method}": w for method, w in self.blend.items() if method != "ridge+user"})
        return out


GROUPS = {"encoder": EncoderConfig, "features": FeatureSpec, "net": NetConfig, "optim": OptimConfig,
          "trainer": TrainerConfig}
_TOP = ("name", "description", "blend")
_ALIASES = {"encoder": ("encoder", "name"), "encoder_mode": ("encoder", "mode"), "mode": ("encoder", "mode"),
            "max_length": ("encoder", "max_length")}
# bare key -> (group, key); every key but encoder.name is unique across the groups
_BARE = {key: (group, key) for group, model in GROUPS.items() for key in model.model_fields if key != "name"}
_BARE.update(_ALIASES)


def config_keys() -> list[str]:
    """Every settable key as ``group.key`` (plus name, description, blend)."""
    return [*_TOP, *(f"{g}.{k}" for g, model in GROUPS.items() for k in model.model_fields)]


def key_annotation(key: str, source: str = "key"):
    """The type of a key (dotted or bare); a VatrackError names an unknown key."""
    if key in ("name", "description"):
        return str
    if key in ("blend", "blend_ridge_user"):
        return dict[str, float] if key == "blend" else float
    group, leaf = _place(key, source)
    return GROUPS[group].model_fields[leaf].annotation


def _place(key: str, source: str) -> tuple[str, str]:
    if "." in key:
        group, _, leaf = key.partition(".")
        if group in GROUPS and leaf in GROUPS[group].model_fields:
            return group, leaf
    elif key in _BARE:
        return _BARE[key]
    raise VatrackError(f"{source}: unknown key '{key}'; valid keys: {', '.join(config_keys())} "
                       "(the part after the dot alone works too, e.g. lr)")


# --- building a config ---------------------------------------------------------------------------

def _nest(values: dict, source: str) -> dict:
    """Grouped, dotted or flat keys -> the grouped mapping SequenceConfig takes."""
    nested: dict = {}
    for key, value in values.items():
        if key in ("name", "description"):
            nested[key] = value
        elif key == "blend":
            nested["blend"] = _blend_value(value, source)
        elif key == "blend_ridge_user":
            nested["blend"] = _blend_value({"ridge+user": value}, source)
        elif key in GROUPS and isinstance(value, dict):
            for leaf, leaf_value in value.items():
                group, leaf = _place(f"{key}.{leaf}", source)
                nested.setdefault(group, {})[leaf] = _number(GROUPS[group].model_fields[leaf].annotation, leaf_value)
        else:
            group, leaf = _place(str(key), source)
            nested.setdefault(group, {})[leaf] = _number(GROUPS[group].model_fields[leaf].annotation, value)
    return nested


def _blend_value(value, source: str) -> dict:
    if value in (None, 0, 0.0):
        return {}
    if not isinstance(value, dict):
        raise VatrackError(f"{source}: key 'blend': expected a mapping of method: weight, e.g. {{ridge+user: 0.5}}")
    return {str(k): _number(float, v) for k, v in value.items()}


def _number(annotation, value):
    """YAML 1.1 reads 1e-5 (no dot) as a string and 3 as an int; a float key accepts both."""
    if annotation is float and not isinstance(value, bool):
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
    return value


def make_config(values: dict, source: str = "config") -> SequenceConfig:
    """A validated config from grouped, dotted or flat keys."""
    try:
        return SequenceConfig(**_nest(values, source))
    except ValidationError as err:
        raise config_error(err, source) from None


def config_error(err: ValidationError, source: str) -> VatrackError:
    """A pydantic ValidationError as one line: '<source>: key 'x': what is wrong (got ...)'."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first.get("loc", ())) or "config"
    got = first.get("input")
    got_text = "" if isinstance(got, dict) else f" (got {got!r})"
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = f"unknown key; valid keys: {', '.join(config_keys())}"
        got_text = ""
    return VatrackError(f"{source}: key '{key}': {message}{got_text}")


def parse_overrides(items) -> dict:
    """['epochs=3', 'net.fusion=[64,32]'] -> {'epochs': 3, 'net.fusion': [64, 32]}, typed per key."""
    if isinstance(items, dict):
        return dict(items)
    parsed = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise VatrackError(f"override '{item}': expected key=value, e.g. epochs=5")
        parsed[key] = _coerce(key, raw.strip(), f"override '{item}'")
    return parsed


def _coerce(key: str, raw: str, source: str):
    annotation = key_annotation(key, source)
    if annotation is str or typing.get_origin(annotation) is Literal:
        return raw
    if typing.get_origin(annotation) is list and not raw.startswith("["):
        raw = f"[{raw}]"
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise VatrackError(f"override {key}={raw}: value is not readable") from None
    return _number(annotation, value)


def resolve_config(base="v3.3", overrides=None, *, encoder: str | None = None, mode: str | None = None,
                   max_length: int | None = None) -> SequenceConfig:
    """THE way to make a config: ``base`` (preset name, YAML path, dict or SequenceConfig) +
    ``overrides`` (dict or 'key=value' strings) + the three encoder shortcuts."""
    if isinstance(base, SequenceConfig):
        config, source = base, f"preset {base.name}"
    elif isinstance(base, dict):
        config, source = make_config(base, "config"), "config"
    else:
        config, source = load_preset(base), f"preset {base}"
    changes = {k: v for k, v in {"encoder": encoder, "encoder_mode": mode, "max_length": max_length}.items()
               if v is not None}
    changes.update(parse_overrides(overrides))
    if not changes:
        return config
    grouped = config.model_dump()
    for group, leaves in _nest(changes, source).items():
        if isinstance(leaves, dict) and group in GROUPS:
            grouped[group] = {**grouped[group], **leaves}
        else:
            grouped[group] = leaves
    return make_config(grouped, source)


class _PresetDumper(yaml.SafeDumper):
    """Groups as blocks (one key per line, like the shipped presets), lists inline ([512, 256])."""


_PresetDumper.add_representer(list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value,
                                                                                    flow_style=True))


def config_yaml(config: SequenceConfig) -> str:
    """The resolved config as a preset file (groups in schema order)."""
    return yaml.dump(config.model_dump(), Dumper=_PresetDumper, sort_keys=False, default_flow_style=False)


# --- preset files -----------------------------------------------------------------------------

def preset_dirs() -> list[Path]:
    """Where names are looked up, in order: the folders of $VATRACK_PRESETS, then the package's presets."""
    dirs = [Path(p) for p in os.environ.get("VATRACK_PRESETS", "").split(os.pathsep) if p]
    return [d for d in (*dirs, PACKAGE_PRESETS) if d.is_dir()]


def available_presets() -> list[str]:
    names = {p.stem for d in preset_dirs() for p in d.glob("*.yaml")}
    return sorted(names)


def preset_path(name_or_path) -> Path:
    """The YAML file of a preset name, or the given path when it is a file."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise VatrackError(f"{path}: preset file not found")
        return path
    for folder in preset_dirs():
        candidate = folder / f"{text}.yaml"
        if candidate.is_file():
            return candidate
    raise VatrackError(f"unknown preset '{text}'; choose one of: {', '.join(available_presets()) or '(none found)'} "
                       "or give the path of a YAML file")


def read_yaml(path: Path) -> dict:
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise VatrackError(f"{path}: not UTF-8 text; save the preset as UTF-8 YAML") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise VatrackError(f"{path}:{where}: {problem}; fix the YAML syntax") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise VatrackError(f"{path}: a preset must be a mapping of key: value lines, got {type(values).__name__}")
    return values


def load_preset(name_or_path, overrides=None) -> SequenceConfig:
    """Validated config of a preset name or YAML file (grouped, or flat as in older run
    folders), with optional overrides (dict or list of 'key=value')."""
    path = preset_path(name_or_path)
    values = read_yaml(path)
    if "method" in values:
        raise VatrackError(f"preset '{name_or_path}' configures the `{values['method']}` method, not the sequence "
                           "model; this command needs a sequence-model preset (v3.0, v3.2, v3.3, v3.4, best)")
    values.setdefault("name", path.stem)
    config = make_config(values, str(path))
    return resolve_config(config, overrides) if overrides else config


# --- method presets ---------------------------------------------------------------------------

class MethodPreset(BaseModel):
    """A preset of a model other than the sequence network: a ``method`` that
    ``vatrack.models.make_model`` knows (e.g. ``finetune``) and the constructor ``params`` it
    is built with. Its YAML file has the keys name, description, method and params."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    method: str
    params: dict = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value):
        return {} if value is None else value  # a `params:` line with nothing under it

    def flat(self) -> dict:
        """Every setting in one mapping (cache keys, config-diff tables)."""
        return {"name": self.name, "description": self.description, "method": self.method, **self.params}


def method_preset(base, overrides=None, *, encoder: str | None = None) -> MethodPreset | None:
    """The preset ``base`` (name or YAML path) as a MethodPreset when its file declares a
    ``method``, with ``encoder`` and ``overrides`` ('key=value' strings or a dict) applied to
    its params; None for a sequence-model preset (or a dict / SequenceConfig)."""
    if not isinstance(base, (str, Path)):
        return None
    path = preset_path(base)
    values = read_yaml(path)
    if "method" not in values:
        return None
    values.setdefault("name", path.stem)
    try:
        preset = MethodPreset(**values)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first.get("loc", ())) or "preset"
        raise VatrackError(f"{path}: key '{key}': {first.get('msg', 'invalid value')}; a method preset has "
                           "name, description, method and params") from None
    return with_params(preset, overrides, encoder=encoder)


def with_params(preset: MethodPreset, overrides=None, *, encoder: str | None = None) -> MethodPreset:
    """``preset`` with ``encoder`` and ``overrides`` ('key=value' strings or a dict) applied to its params."""
    params = dict(preset.params)
    if encoder is not None:
        params["encoder"] = encoder
    if isinstance(overrides, dict):
        params.update(overrides)
    else:
        for item in overrides or []:
            key, sep, raw = str(item).partition("=")
            if not sep or not key.strip():
                raise VatrackError(f"override '{item}': expected key=value, e.g. epochs=2")
            try:
                params[key.strip()] = yaml.safe_load(raw.strip())
            except yaml.YAMLError:
                raise VatrackError(f"override {item}: value is not readable") from None
    return preset.model_copy(update={"params": params})
