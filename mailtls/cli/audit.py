"""`mailtls audit`, `probe` and `explain`: the commands that only read."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from mailtls.cli.options import (
    At,
    CaFile,
    ConfigFile,
    Dane,
    FormatOption,
    Intermediates,
    KeyFile,
    Names,
    OutputFile,
    Paths,
    Resolver,
    SystemTrust,
    merged,
)
from mailtls.errors import UsageError
from mailtls.merge import Given
from mailtls.models import Severity
from mailtls.report.emit import Format, emit
from mailtls.report.escape import safe


def audit(
    paths: Paths = None,
    output: FormatOption = Format.TEXT,
    to_file: OutputFile = None,
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
    system_trust: SystemTrust = None,
    config: ConfigFile = None,
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
    dane: Dane = False,
    resolver: Resolver = None,
    next_file: Annotated[
        str | None,
        typer.Option(
            "--next",
            help="With --dane: the key (or certificate) to be deployed next; records that"
            " match only it are tlsa-only-next.",
        ),
    ] = None,
) -> None:
    """Read the configuration as the daemons do and check every certificate, key and chain."""
    from mailtls.audit import audit
    from mailtls.config.discover import read_all
    from mailtls.dane.audit import Served, dane_report, look_up, prepare
    from mailtls.pki.load import FileCache

    started = time.monotonic()
    check = prepare(dane, resolver, next_file)
    _, run = merged(
        config,
        paths,
        ca_file,
        intermediates,
        at,
        system_trust,
        Given(warn_days=warn_days, ignore=ignore, host=host),
    )
    read = read_all(list(run.paths), os.environ, key_file=key, names=name or ())
    disk = look_up(read, check) if check else None  # before: the audit judges the chains
    cache = FileCache()
    result = audit(read, run.audit, cache, beside=disk)
    served = Served() if check else None
    if live:
        from mailtls.probe.live import live_report

        result = live_report(result, read.listeners, run.host, run.timeout, served)
    if disk is not None:
        result, notes = dane_report(result, disk, served, cache)
        for note in notes:
            print(f"mailtls: {safe(note)}", file=sys.stderr)
    result = run.filtered(result)
    code = emit(
        result,
        output,
        to_file=to_file,
        fail_on=fail_on,
        started=started,
        warn_days=run.audit.warn_days,
    )
    raise typer.Exit(code)


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
        float | None,
        typer.Option("--timeout", help="Seconds per listener, all steps (default: 10)."),
    ] = None,
    output: FormatOption = Format.TEXT,
    to_file: OutputFile = None,
    ca_file: CaFile = None,
    at: At = None,
    system_trust: SystemTrust = None,
    config: ConfigFile = None,
) -> None:
    """Connect like a mail client and judge the chain the server actually sends."""
    from mailtls.probe.run import probe_report, targets

    started = time.monotonic()
    _, run = merged(config, None, ca_file, None, at, system_trust, Given(timeout=timeout))
    report = probe_report(targets(address, starttls, servername), run.audit, run.timeout)
    report = run.filtered(report)
    raise typer.Exit(emit(report, output, to_file=to_file, fail_on=Severity.ERROR, started=started))


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
