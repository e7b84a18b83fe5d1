"""Presets: named, validated YAML configurations of the sequence model.

A preset is a flat YAML mapping of :class:`vatrack.models.sequence.SequenceConfig` keys.
``load_preset("v3.3")`` reads ``vatrack/presets/v3.3.yaml``, package data installed with
vatrack (``src/vatrack/presets/`` in the repository, the only copy);
``load_preset("path/to/my.yaml")`` reads any file (a run's resolved ``config.yaml`` too).
Keys a file leaves out take the schema's defaults; an unknown key, a wrong type or an
out-of-range value is one VatrackError line naming the file and the key.

Overrides (``key=value`` strings, the CLI's ``--set``, or a dict) are parsed per key type: numbers and booleans as YAML
scalars, lists as YAML (``[256,128]``) or comma lists (``256,128``), strings verbatim.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path

import yaml

from vatrack.errors import VatrackError
from vatrack.models.sequence import SequenceConfig, SequenceRegressor, make_config

# Package data (pyproject: [tool.setuptools.package-data]); a test installs the wheel and trains from it.
PACKAGE_PRESETS = Path(__file__).resolve().parents[1] / "presets"


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
    """Validated config of a preset, with optional overrides (dict or list of 'key=value')."""
    path = preset_path(name_or_path)
    values = read_yaml(path)
    values.setdefault("name", path.stem)
    fields = SequenceConfig.model_fields
    values = {k: _numeric(fields[k].annotation, v) if k in fields else v for k, v in values.items()}
    config = make_config(values, str(path))
    return apply_overrides(config, overrides) if overrides else config


def parse_overrides(items) -> dict:
    """['epochs=3', 'fusion=[64,32]'] -> {'epochs': 3, 'fusion': [64, 32]}, typed per key."""
    if isinstance(items, dict):
        return dict(items)
    parsed = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise VatrackError(f"override '{item}': expected key=value, e.g. epochs=5")
        if key not in SequenceConfig.model_fields:
            raise VatrackError(f"override '{item}': unknown key '{key}'; valid keys: {', '.join(SequenceConfig.model_fields)}")
        parsed[key] = _coerce(key, raw.strip())
    return parsed


def _coerce(key: str, raw: str):
    annotation = SequenceConfig.model_fields[key].annotation
    if annotation is str or typing.get_origin(annotation) is typing.Literal:
        return raw
    if typing.get_origin(annotation) is list and not raw.startswith("["):
        raw = f"[{raw}]"
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise VatrackError(f"override {key}={raw}: value is not readable") from None
    return _numeric(annotation, value)


def _numeric(annotation, value):
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


def apply_overrides(config: SequenceConfig, overrides) -> SequenceConfig:
    changes = parse_overrides(overrides)
    if not changes:
        return config
    shown = ", ".join(f"{k}={v}" for k, v in changes.items())
    return make_config({**config.model_dump(), **changes}, f"override {shown}")


def config_yaml(config: SequenceConfig) -> str:
    """The resolved config as a preset file (keys in schema order)."""
    return yaml.safe_dump(config.model_dump(), sort_keys=False, default_flow_style=None)


def resolve_config(preset, encoder: str | None = None, mode: str | None = None, overrides=None) -> SequenceConfig:
    """Preset (name, path, dict or config) + encoder/mode + overrides -> validated config."""
    if isinstance(preset, SequenceConfig):
        config = preset
    elif isinstance(preset, dict):
        config = make_config(preset, "config")
    else:
        config = load_preset(preset)
    changes = {k: v for k, v in {"encoder": encoder, "encoder_mode": mode}.items() if v is not None}
    changes.update(parse_overrides(overrides))
    return make_config({**config.model_dump(), **changes}, f"preset {config.name}") if changes else config


def estimator_from_preset(preset, encoder: str | None = None, seed: int = 0, overrides=None, mode: str | None = None,
                          **kwargs) -> SequenceRegressor:
    """A fresh SequenceRegressor for CV and scripts (``kwargs``: val, trainer, run_dir, progress)."""
    return SequenceRegressor(resolve_config(preset, encoder, mode, overrides), seed=seed, **kwargs)
