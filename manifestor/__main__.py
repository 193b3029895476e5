"""`python -m manifestor` runs the command-line interface."""

from manifestor.cli.app import main

main()
