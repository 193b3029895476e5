"""`python -m manifestor` runs the command-line interface."""

from manifestor.cli import main

main()
