"""Progress of long phases (embedding texts, training epochs), on stderr, switchable off.

One switch for the whole process: the CLI's ``--quiet`` turns it off. A bar shows items/s
and the time left when stderr is a terminal; in a log file (no terminal) a phase prints one
line when it starts and one when it ends instead, so a long first pass is never silent.
"""

from __future__ import annotations

import sys
import time

_enabled = True


def enabled() -> bool:
    return _enabled


def set_enabled(on: bool) -> None:
    global _enabled
    _enabled = bool(on)


class bar:
    """``with bar(total, "encoding 450 texts with minilm", unit="texts") as advance: advance(n)``."""

    def __init__(self, total: int, label: str, unit: str = "items", enabled: bool = True):
        self.total, self.label, self.unit = total, label, unit
        self.on = enabled and _enabled and total > 0
        self._bar = None
        self._start = 0.0

    def __enter__(self):
        if not self.on:
            return lambda n: None
        self._start = time.perf_counter()
        if not sys.stderr.isatty():
            print(f"{self.label}: {self.total} {self.unit} ...", file=sys.stderr, flush=True)
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
        from rich.text import Text

        unit = self.unit

        class Rate(ProgressColumn):
            def render(self, task):
                return Text(f"{task.speed:.0f} {unit}/s" if task.speed else f"- {unit}/s")

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                             TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, kind, *rest):
        if self._bar is not None:
            self._bar.__exit__(kind, *rest)
        if self.on and kind is None:
            took = time.perf_counter() - self._start
            print(f"{self.label}: {self.total} {self.unit} in {took:.0f} s ({self.total / max(took, 1e-9):.0f} {self.unit}/s)",
                  file=sys.stderr, flush=True)
        return False
