"""Run mailtls as `python -m mailtls`."""

from mailtls.cli import main

main()
