"""One exception type for every problem the user can fix.

The CLI catches :class:`VatrackError`, prints its message as a single line and exits
with code 2. Library code raises it with a message that names the file, the column and
the first offending row where they apply, and says what to do.
"""

from __future__ import annotations


class VatrackError(Exception):
    """A user-facing error: bad input, bad config, a run folder that cannot be used."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep it to one line whatever the caller passed in.
        super().__init__(" ".join(str(message).split()))


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
