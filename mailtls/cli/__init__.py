"""The command line: parse options, call one function, render, exit. No logic lives here."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mailtls import __version__
from mailtls.cli.audit import audit, explain, probe
from mailtls.cli.config import config_app
from mailtls.cli.dane import dane_app
from mailtls.cli.fix import fix, restore
from mailtls.cli.hook import hook, hook_setup
from mailtls.cli.options import EXIT_CODES, FIX_EXIT_CODES, HOOK_EXIT_CODES
from mailtls.errors import EXIT_ERROR, MailtlsError
from mailtls.report.escape import safe

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Audit and repair the TLS certificates of Dovecot and Postfix.\n\n" + EXIT_CODES,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rich's formatter (rich, markdown-it) took 95 ms of the
    # 200 of `mailtls --help`, and a renewal hook's log has no use for boxes.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailtls {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Audit and repair the TLS certificates of Dovecot and Postfix."""


app.add_typer(config_app, name="config")
app.add_typer(dane_app, name="dane")
app.command(epilog=EXIT_CODES)(audit)
app.command(epilog=FIX_EXIT_CODES)(fix)
app.command()(restore)
app.command(epilog=HOOK_EXIT_CODES)(hook)
app.command(epilog=EXIT_CODES)(probe)
app.command()(explain)


def _asked_format(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg.startswith("--format="):
            return arg.partition("=")[2]
        if arg == "--format" and index + 1 < len(argv):
            return argv[index + 1]
    return None


def main() -> None:
    """Entry point: mailtls' own errors become one line on stderr and exit code 2."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    # A monitoring system reads a plugin's stdout and exit code: UNKNOWN (3) when it could
    # not check at all, the reason on the status line.
    nagios = _asked_format(sys.argv) == "nagios"
    try:
        if sys.argv[1:2] == ["hook"] and sys.argv[2:3] in (["install"], ["uninstall"]):
            hook_setup(args=sys.argv[2:], prog_name="mailtls hook")
        else:
            app()
    except MailtlsError as error:
        print(f"mailtls: error: {safe(str(error))}", file=sys.stderr)
        if nagios:
            from mailtls.report.nagios import UNKNOWN, unknown

            sys.stdout.write(unknown(str(error)))
            sys.exit(UNKNOWN)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if debug:
            raise
        print(
            f"mailtls: internal error: {type(error).__name__}: {safe(str(error))}"
            " (--debug shows where)",
            file=sys.stderr,
        )
        sys.exit(EXIT_ERROR)
