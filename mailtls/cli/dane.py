"""`mailtls dane records`: the TLSA records to publish."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mailtls.cli.options import Paths
from mailtls.report.escape import safe

dane_app = typer.Typer(
    help="DANE: the TLSA records for the certificates Postfix serves on port 25.",
    no_args_is_help=True,
)


@dane_app.command("records")
def dane_records(
    paths: Paths = None,
    next_file: Annotated[
        str | None,
        typer.Option(
            "--next",
            help="The key (or certificate) to be deployed next: its records too, to publish first.",
        ),
    ] = None,
    names: Annotated[
        list[str] | None,
        typer.Option("--name", help="Print the records of this host name only (repeatable)."),
    ] = None,
) -> None:
    """Print the TLSA records to publish (zone-file syntax): 3 1 1 of each leaf's key,
    2 1 1 of its issuing CA's key."""
    from mailtls.config.discover import read_all
    from mailtls.dane.publish import plan, render

    result = plan(read_all(paths or [], os.environ).endpoints, names or [], next_file)
    for note in result.notes:
        print(f"mailtls: {safe(note)}", file=sys.stderr)
    sys.stdout.write(render(result))
