"""Atomic file writing: a temp file in the target folder, then one rename; run folders.

A crash or a failure while writing never leaves a half-written file behind, and a write
that cannot happen (read-only folder, full disk, --out naming a folder) is one
VatrackError line. Run folders are claimed with an exclusive lock for as long as a command
writes them, so two commands can never mix their files in one folder.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from vatrack.errors import VatrackError


# Errors of the destination (not of the data): reported as one line naming the file.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG, errno.EISDIR,
                 errno.ENOTDIR}


def _cannot_write(path, err: OSError) -> VatrackError:
    return VatrackError(f"cannot write {path} ({err.strerror or err}); check the folder's permissions and free disk space, "
                        "or choose another `out`")


@contextmanager
def atomic_path(path, mode_suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + mode_suffix, dir=path.parent)
    except OSError as err:
        raise _cannot_write(path, err) from None
    os.close(fd)
    try:
        try:
            yield Path(tmp)
            # mkstemp creates 0600; give the file the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
        except OSError as err:
            if err.errno in _WRITE_ERRNOS:
                raise _cannot_write(path, err) from None
            raise
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_writable(path, inputs: dict | None = None) -> Path:
    """Fail now, before any work, when a file cannot be written at ``path`` (an --out), or
    when it is one of the command's ``inputs`` (parameter name -> path): writing it would
    replace the user's own file."""
    path = Path(path)
    if path.is_dir():
        raise VatrackError(f"{path} is a folder; `out` needs the path of a file")
    for name, given in (inputs or {}).items():
        if given is not None and os.path.realpath(given) == os.path.realpath(path):
            raise VatrackError(f"`out` ({path}) is the file given as `{name}`; writing it would replace your input: "
                               "choose another `out`")
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise VatrackError(f"cannot write {path}: {probe} is a file, not a folder; choose another `out`")
    if probe == path.parent:
        try:  # the only sure test: create (and remove) a file where the output will go
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=probe)
            os.close(fd)
            os.unlink(tmp)
        except OSError as err:
            raise _cannot_write(path, err) from None
    elif not os.access(probe, os.W_OK | os.X_OK):
        raise VatrackError(f"cannot write {path}: folder {probe} is not writable; choose another `out`")
    return path


def check_new_folder(path, param: str = "save") -> Path:
    """Fail now, before any work, unless ``path`` can become a new folder (absent or empty):
    a model is never saved over a file or into a folder that holds something."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VatrackError(f"`{param}` ({path}) is a file; give the path of a new folder")
    if path.is_dir() and any(path.iterdir()):
        raise VatrackError(f"`{param}` ({path}) already exists and is not empty; choose a new folder")
    return path


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv(path, frame, **kwargs) -> Path:
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


def _json_default(obj):
    # numpy scalars and paths show up in metrics/configs; make them plain JSON.
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")



def slug(name: str) -> str:
    """A version name as a file-name part: the one rule for comparison cache folders and the
    report plots that name them (anything but letters, digits and ``._+-`` becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "version"


LOCK_NAME = ".vatrack.lock"   # inside a run folder; an flock on it marks the folder as being written
REPLACED_PREFIX = ".vatrack-replaced-"   # a run folder's earlier content, set aside until --force's new run is complete
_SET_ASIDE: dict[str, Path] = {}         # run folder (real path) -> where this process set its earlier content
_CLAIMS: dict[str, int] = {}   # run folder -> open descriptor of its lock, held by this process


def claim_run_dir(path) -> Path:
    """Create ``path`` if needed and hold its lock until :func:`release_run_dir` or the process
    ends (also by SIGKILL: the kernel drops the lock). Another process holding it -> exit 2."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VatrackError(f"{path} exists and is a file, not a folder; choose another `out`")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VatrackError(f"cannot create folder {path} ({err.strerror or err}); choose another `out`") from None
    lock = path / LOCK_NAME
    key = os.path.realpath(path)
    held = _CLAIMS.get(key)
    if held is not None:
        try:
            if os.fstat(held).st_ino == os.stat(lock).st_ino:
                return path  # this process holds it already
        except OSError:
            pass
        _release(key)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise VatrackError(f"cannot write in {path} ({err.strerror or err}); choose another `out`") from None
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # no flock (Windows): no protection against a second writer
        pass
    except OSError:
        os.close(fd)
        raise VatrackError(f"{path} is being written by another vatrack command right now; wait for it to finish "
                           "or choose another `out`") from None
    _CLAIMS[key] = fd
    return path


def release_run_dir(path) -> None:
    """Give up this process's lock on ``path`` (a no-op when it holds none)."""
    _release(os.path.realpath(Path(path)))


def _release(key: str) -> None:
    fd = _CLAIMS.pop(key, None)
    if fd is not None:
        os.close(fd)


def run_dir_entries(path) -> list[Path]:
    """What a run folder holds, its lock file and set-aside earlier content aside."""
    path = Path(path)
    return ([p for p in path.iterdir() if p.name != LOCK_NAME and not p.name.startswith(REPLACED_PREFIX)]
            if path.is_dir() else [])


def prepare_run_dir(path, force: bool = False, *, inputs: dict | None = None, until_done: bool = False) -> Path:
    """Claim a fresh run folder; refuse to reuse a non-empty one unless ``force``.

    The claim (create + exclusive lock) is atomic: of two commands started with the same
    --out, one gets the folder and the other exits 2. ``force`` replaces only a folder vatrack
    wrote (every claim leaves its lock file there), and never one holding this command's own
    ``inputs`` (parameter name -> a path or a list of paths). ``until_done``: the earlier
    content is set aside, not deleted, and comes back if the command fails
    (:func:`discard_run_dir`); :func:`finish_run_dir` deletes it once the new content is complete.
    """
    path = Path(path)
    written_by_vatrack = (path / LOCK_NAME).exists()
    path = claim_run_dir(path)
    entries = run_dir_entries(path)
    if not entries:
        return path
    problem = None
    if not force:
        problem = f"{path} already exists and is not empty; pass `force=True` to overwrite it or choose another `out`"
    elif not written_by_vatrack:
        problem = (f"{path} holds files vatrack did not write; `force=True` replaces only a vatrack output folder: "
                   "choose another `out`, or empty it yourself")
    else:
        inside = [(name, one) for name, given in (inputs or {}).items()
                  for one in (given if isinstance(given, (list, tuple)) else [given]) if one is not None and _within(one, path)]
        if inside:
            problem = (f"`{inside[0][0]}` ({inside[0][1]}) is inside {path}, which `force=True` would replace; "
                       "choose another `out`")
    if problem:
        release_run_dir(path)
        raise VatrackError(problem)
    if until_done:
        aside = Path(tempfile.mkdtemp(prefix=REPLACED_PREFIX, dir=path))
        for entry in entries:
            os.rename(entry, aside / entry.name)
        _SET_ASIDE[os.path.realpath(path)] = aside
        return path
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return path


def _within(inner, folder: Path) -> bool:
    inner, folder = os.path.realpath(inner), os.path.realpath(folder)
    return inner == folder or inner.startswith(folder.rstrip(os.sep) + os.sep)


def finish_run_dir(path) -> None:
    """The new content of ``path`` is complete: delete what :func:`prepare_run_dir` set aside
    (and any left there by a command killed before it could finish)."""
    path = Path(path)
    _SET_ASIDE.pop(os.path.realpath(path), None)
    for stale in path.glob(REPLACED_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def output_dir(path, force: bool = False, *, inputs: dict | None = None):
    """:func:`prepare_run_dir` for the life of a command: claimed before any work (a taken
    folder fails at once); if the command fails or is stopped, the folder is removed (if this
    command created it) or given back its earlier content — no half-written output is left,
    and ``force`` loses nothing until the new output is complete."""
    path = Path(path)
    created = not path.exists()
    prepare_run_dir(path, force=force, inputs=inputs, until_done=True)
    try:
        yield path
    except BaseException:
        discard_run_dir(path, created)
        raise
    finish_run_dir(path)


def discard_run_dir(path, created: bool) -> None:
    """Undo a run folder that holds nothing worth keeping: remove it if this command created
    it, else empty it and give it back what :func:`prepare_run_dir` set aside. Releases the claim."""
    path = Path(path)
    release_run_dir(path)
    aside = _SET_ASIDE.pop(os.path.realpath(path), None)
    if created:
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in run_dir_entries(path) + ([path / LOCK_NAME] if aside is None else []):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.exists():
            entry.unlink()
    if aside is not None and aside.is_dir():  # the earlier run's content (and its lock file) stay
        for entry in aside.iterdir():
            os.rename(entry, path / entry.name)
        aside.rmdir()
