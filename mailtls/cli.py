"""The command line: parse options, call one function, render, exit. No logic lives here."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from mailtls import __version__
from mailtls.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, MailtlsError, UsageError
from mailtls.models import Report, Severity

if TYPE_CHECKING:
    from mailtls.audit import AuditOptions

EXIT_CODES = """Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it;
2 usage error, unreadable configuration or internal error."""
FIX_EXIT_CODES = """Exit codes: 0 nothing to fix, or all fixed; 1 problems remain that mailtls
could not fix (each said why); 2 usage or configuration error, or a write that failed (the
file is left as it was)."""

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Audit and repair the TLS certificates of Dovecot and Postfix.\n\n" + EXIT_CODES,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rich's formatter (rich, markdown-it) took 95 ms of the
    # 200 of `mailtls --help`, and a renewal hook's log has no use for boxes.
    rich_markup_mode=None,
)


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    YAML = "yaml"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailtls {__version__}")
        raise typer.Exit()


CaFile = Annotated[
    list[str] | None,
    typer.Option("--ca-file", help="Also trust the roots in this file (repeatable)."),
]
Intermediates = Annotated[
    list[str] | None,
    typer.Option("--intermediates", help="Files or folders to find missing intermediates in."),
]
At = Annotated[
    str | None, typer.Option("--at", help="Judge validity at this time (ISO 8601, UTC), not now.")
]
SystemTrust = Annotated[
    bool, typer.Option("--system-trust/--no-system-trust", help="Trust the system's CAs.")
]
Paths = Annotated[
    list[str] | None,
    typer.Argument(
        help="Dovecot or Postfix config files or folders, or certificate files"
        " (default: /etc/dovecot /etc/postfix)"
    ),
]
KeyFile = Annotated[
    str | None,
    typer.Option("--key", help="For a certificate file: its private key (else not checked)."),
]
Names = Annotated[
    list[str] | None,
    typer.Option("--name", help="For a certificate file: a name it must cover (repeatable)."),
]


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Audit and repair the TLS certificates of Dovecot and Postfix."""


@app.command(epilog=EXIT_CODES)
def audit(
    paths: Paths = None,
    output: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.TEXT,
    fail_on: Annotated[
        Severity, typer.Option("--fail-on", help="Lowest severity that makes the exit code 1.")
    ] = Severity.ERROR,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Finding code to leave out (repeatable).")
    ] = None,
    ca_file: CaFile = None,
    intermediates: Intermediates = None,
    at: At = None,
    warn_days: Annotated[
        int | None,
        typer.Option(
            "--warn-days",
            help="Warn this many days before expiry (default: a third"
            " of the certificate's lifetime).",
        ),
    ] = None,
    system_trust: SystemTrust = True,
    live: Annotated[
        bool,
        typer.Option("--live", help="Also connect to each listener and compare what it serves."),
    ] = False,
    host: Annotated[
        str | None,
        typer.Option("--host", help="With --live: connect here, not to the listen address."),
    ] = None,
    key: KeyFile = None,
    name: Names = None,
) -> None:
    """Read the configuration as the daemons do and check every certificate, key and chain."""
    from mailtls.audit import audit
    from mailtls.config.discover import read_all

    options = _audit_options(ca_file, intermediates, at, warn_days, system_trust)
    config = read_all(paths or [], os.environ, key_file=key, names=name or ())
    result = audit(config, options)
    if live:
        from mailtls.probe.live import live_report

        result = live_report(result, config.listeners, host)
    result = result.without(ignore or ())
    _emit(result, output)
    failing = [f for f in result.findings if f.severity.rank >= fail_on.rank]
    raise typer.Exit(EXIT_FINDINGS if failing else EXIT_OK)


def _audit_options(
    ca_file: list[str] | None,
    intermediates: list[str] | None,
    at: str | None,
    warn_days: int | None,
    system_trust: bool,
) -> AuditOptions:
    from mailtls.audit import AuditOptions
    from mailtls.clock import parse_time

    return AuditOptions(
        at=parse_time(at),
        ca_files=tuple(ca_file or ()),
        intermediates=tuple(intermediates or ()),
        warn_days=warn_days,
        system_trust=system_trust,
    )


@app.command(epilog=FIX_EXIT_CODES)
def fix(
    paths: Paths = None,
    backup: Annotated[
        bool, typer.Option("--backup/--no-backup", help="Keep a copy of each file changed.")
    ] = True,
    backup_dir: Annotated[
        str | None, typer.Option("--backup-dir", help="Put backups here, not beside the file.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing; say what would change.")
    ] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show each chain before and after.")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not fetch intermediates from AIA URLs.")
    ] = False,
    reload: Annotated[
        bool, typer.Option("--reload", help="Reload the daemons whose files changed.")
    ] = False,
    dovecot_reload: Annotated[
        str | None,
        typer.Option("--dovecot-reload", help="Command instead of doveadm [-c CONF] reload."),
    ] = None,
    postfix_reload: Annotated[
        str | None,
        typer.Option("--postfix-reload", help="Command instead of postfix [-c DIR] reload."),
    ] = None,
    ca_file: CaFile = None,
    intermediates: Intermediates = None,
    at: At = None,
    system_trust: SystemTrust = True,
    key: KeyFile = None,
    name: Names = None,
) -> None:
    """Complete and reorder certificate chains in place: safely, with backups."""
    from mailtls.config.discover import read_all
    from mailtls.fix.run import FixOptions, exit_code
    from mailtls.fix.run import fix as run_fix
    from mailtls.report import fix_text

    options = FixOptions(
        audit=_audit_options(ca_file, intermediates, at, None, system_trust),
        backup=backup,
        backup_dir=backup_dir,
        dry_run=dry_run,
        offline=offline,
        reload=reload,
        dovecot_command=dovecot_reload,
        postfix_command=postfix_reload,
    )
    config = read_all(paths or [], os.environ, key_file=key, names=name or ())
    result = run_fix(config, options)
    sys.stdout.write(fix_text.render(result, dry_run=dry_run, diff=diff))
    raise typer.Exit(exit_code(result, dry_run))


@app.command()
def restore(
    file: Annotated[str, typer.Argument(help="A file mailtls fix changed.")],
    backup_dir: Annotated[
        str | None, typer.Option("--backup-dir", help="Where the backups are.")
    ] = None,
) -> None:
    """Put the newest mailtls backup of FILE back in place, atomically."""
    from mailtls.fix.apply import restore as put_back
    from mailtls.fix.lock import run_lock

    with run_lock():
        used = put_back(file, backup_dir)
    sys.stdout.write(f"restored {file} from {used}\n")


@app.command(epilog=EXIT_CODES)
def probe(
    address: Annotated[str, typer.Argument(help="HOST or HOST:PORT (no port: every mail port)")],
    starttls: Annotated[
        str | None,
        typer.Option("--starttls", help="imap, pop3, smtp, submission, sieve or lmtp"),
    ] = None,
    servername: Annotated[
        str | None, typer.Option("--servername", help="The SNI name to send.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds per listener, all steps.")
    ] = 10.0,
    output: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.TEXT,
    ca_file: CaFile = None,
    at: At = None,
    system_trust: SystemTrust = True,
) -> None:
    """Connect like a mail client and judge the chain the server actually sends."""
    from mailtls.probe.run import probe_report, targets

    options = _audit_options(ca_file, None, at, None, system_trust)
    report = probe_report(targets(address, starttls, servername), options, timeout)
    _emit(report, output)
    failing = [f for f in report.findings if f.severity is Severity.ERROR]
    raise typer.Exit(EXIT_FINDINGS if failing else EXIT_OK)


def _emit(report: Report, output: Format) -> None:
    if output is Format.JSON:
        from mailtls.report import json

        for piece in json.chunks(report):  # a big host's report is never whole in memory
            sys.stdout.write(piece)
        return
    sys.stdout.write(_render(report, output))


def _render(report: Report, output: Format) -> str:
    if output is Format.YAML:
        from mailtls.report import yaml

        return yaml.render(report)
    from mailtls.report import text

    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    return text.render(report, colour=colour)


@app.command()
def explain(
    code: Annotated[str, typer.Argument(help="A finding code, e.g. missing-intermediate")],
) -> None:
    """Say what a finding code means, why it matters, and how to fix it by hand."""
    from mailtls.checks.explain import explain as text_of
    from mailtls.checks.registry import CODES

    text = text_of(code)
    if text is None:
        raise UsageError(f"no finding code {code!r}; the codes are: {', '.join(sorted(CODES))}")
    sys.stdout.write(text)


def main() -> None:
    """Entry point: mailtls' own errors become one line on stderr and exit code 2."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except MailtlsError as error:
        print(f"mailtls: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if debug:
            raise
        print(
            f"mailtls: internal error: {type(error).__name__}: {error} (--debug shows where)",
            file=sys.stderr,
        )
        sys.exit(EXIT_ERROR)
