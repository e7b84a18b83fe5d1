"""The `vatrack` command line: one thin function per command.

Each command parses and validates its arguments, calls the library, prints. Errors the
user can fix (VatrackError) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from vatrack.errors import VatrackError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Track emotional valence and arousal over time from diary texts.")
console = Console()
err_console = Console(stderr=True)


def main() -> None:
    """Console-script entry point: runs the app and turns user errors into exit code 2."""
    try:
        app(standalone_mode=False)
    except VatrackError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("error: aborted", markup=False)
        sys.exit(130)
    except Exception as err:  # click usage errors and the like
        import click

        if isinstance(err, click.exceptions.ClickException):
            err_console.print(f"error: {err.format_message()}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(2)
        raise


# --- commands (one block each; keep them thin) -------------------------------------------
