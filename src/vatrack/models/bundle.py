"""Model bundles: one folder per fitted model, readable only by a matching vatrack.

``model.json`` names the model kind and the bundle format version; the rest is the
model's own state. Loading checks both and fails with one clear line otherwise.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from vatrack.errors import VatrackError
from vatrack.io import atomic_path, write_json

BUNDLE_FORMAT = 1


def save_bundle(folder, kind: str, state, meta: dict | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "state.pkl") as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    write_json(folder / "model.json", {"kind": kind, "format": BUNDLE_FORMAT, **(meta or {})})
    return folder


def read_meta(folder) -> dict:
    folder = Path(folder)
    path = folder / "model.json"
    if not path.exists():
        raise VatrackError(f"{folder}: no model bundle here (model.json missing); pass a folder written by vatrack train/baseline")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VatrackError(f"{path}: corrupted model bundle (model.json is not valid JSON); retrain the model") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str) or "format" not in meta:
        raise VatrackError(f"{path}: not a vatrack bundle description (expected an object with 'kind' and 'format'); "
                           "retrain the model")
    if meta.get("format") != BUNDLE_FORMAT:
        raise VatrackError(f"{folder}: bundle format {meta.get('format')!r} was written by another vatrack version (this one reads {BUNDLE_FORMAT}); retrain the model")
    return meta


def load_state(folder, keys=()):
    """The pickled state of a bundle; ``keys``: what the model kind needs in it (checked)."""
    path = Path(folder) / "state.pkl"
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)
    except FileNotFoundError:
        raise VatrackError(f"{path}: model state missing; the run folder is incomplete, retrain the model") from None
    except Exception as err:  # truncated or foreign pickle
        raise VatrackError(f"{path}: corrupted model state ({type(err).__name__}); retrain the model") from None
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise VatrackError(f"{path}: not the state of this model kind (no {', '.join(missing)}); the bundle's files do not "
                           "belong together, retrain the model")
    return state
