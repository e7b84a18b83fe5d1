"""`python -m vatrack` runs the CLI."""

from vatrack.cli import main

main()
