"""One exception type for every problem the user can fix.

The CLI catches :class:`VatrackError`, prints its message as a single line and exits
with code 2. Library code raises it with a message that names the file, the column and
the first offending row where they apply, and says what to do.

A message names the *parameters* of the library call, never the CLI's flags, in one
recognisable form: in backticks, alone or with the value to pass, as Python spells it
(`` `force=True` ``, `` `n_folds` ``, `` `val='none'` ``, `` `columns={'user_id': 'YOURS'}` ``).
A Python caller reads the message as it is; the CLI rewrites the names it knows into its
flags (``--force``, ``--folds``, ``--val none``, ``--column user_id=YOURS``) with its one
table, ``vatrack.cli.FLAGS``, before printing. ``VatrackError.params`` lists the names.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading

# A parameter named in a message: `name` or `name=value` (value as Python spells it).
PARAM = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:=([^`]*))?`")


class VatrackError(Exception):
    """A user-facing error: bad input, bad config, a run folder that cannot be used."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep it to one line whatever the caller passed in.
        super().__init__(" ".join(str(message).split()))

    @property
    def params(self) -> tuple[str, ...]:
        """The parameters the message names (`force=True` -> 'force'), in order, once each."""
        return tuple(dict.fromkeys(m.group(1) for m in PARAM.finditer(str(self))))


class RunInterrupted(VatrackError):
    """Training stopped by a signal (a scheduler's SIGTERM, Ctrl+C): one line saying how to
    continue, and the shell's exit code for that signal, so job scripts can tell it from success."""

    def __init__(self, signal_name: str, message: str):
        super().__init__(message)
        self.signal_name = signal_name
        self.exit_code = {"SIGTERM": 143, "SIGINT": 130}.get(signal_name, 1)

    def __reduce__(self):  # picklable across worker processes despite the two-argument __init__
        return type(self), (self.signal_name, str(self))


def where(path, column: str | None = None, row: int | None = None) -> str:
    """Format a location: ``file.csv, column 'valence', row 12`` (row = 1-based data row)."""
    parts = [str(path)]
    if column is not None:
        parts.append(f"column '{column}'")
    if row is not None:
        parts.append(f"row {row}")
    return ", ".join(parts)


# --- signals -------------------------------------------------------------------------------
# A signal that stops a command is not a bug and not a user error: the CLI prints one line and
# exits with the shell's code for it (128 + signal number), and `with atomic_path(...)` blocks
# remove their temp files on the way out. SIGINT already arrives as KeyboardInterrupt; the CLI
# turns SIGTERM into ``Interrupted`` with ``raise_on_sigterm``.


class Interrupted(BaseException):
    """A command stopped by SIGTERM or Ctrl+C outside a training loop.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way up
    (e.g. "corrupted file" handlers) can mistake it for a problem with the data.
    """

    def __init__(self, signal_name: str = "SIGTERM"):
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = {"SIGTERM": 143, "SIGINT": 130}.get(signal_name, 1)

    def __str__(self) -> str:
        return f"stopped by {self.signal_name}"


def _raise_sigterm(signum, frame):
    raise Interrupted("SIGTERM")


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises :class:`Interrupted` in the main thread (CLI entry point)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_sigterm)


@contextlib.contextmanager
def sigterm_deferred():
    """Inside the block a SIGTERM is only noted, and raised as Interrupted when the block ends.

    For code that stops cleanly by itself on SIGTERM (Lightning finishes the step, raises its
    own exception, which the training layer reports with a `resume=True` hint): an exception in
    the middle of a checkpoint write would leave a half-written file. A no-op unless
    ``raise_on_sigterm`` is active.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not _raise_sigterm:
        yield
        return
    received = []
    signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        yield
    except BaseException:
        signal.signal(signal.SIGTERM, _raise_sigterm)
        raise
    signal.signal(signal.SIGTERM, _raise_sigterm)
    if received:
        raise Interrupted("SIGTERM")
