"""The command line: parse options, call one function, render, exit. No logic lives here."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from mailtls import __version__
from mailtls.cli_config import ConfigFile, config_app
from mailtls.errors import EXIT_ERROR, MailtlsError, UsageError
from mailtls.merge import Given
from mailtls.models import ConfigResult, Severity
from mailtls.report.emit import Format, emit
from mailtls.report.escape import safe

if TYPE_CHECKING:
    from mailtls.merge import Effective

EXIT_CODES = """Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it;
2 usage error, unreadable configuration or internal error."""
FIX_EXIT_CODES = """Exit codes: 0 nothing to fix, or all fixed; 1 problems remain that mailtls
could not fix (each said why); 2 usage or configuration error, or a write that failed (the
file is left as it was)."""

HOOK_EXIT_CODES = """Exit codes: 0 all is well (one line on stdout); 1 problems remain, or a
listener does not serve what is on disk (the backups were put back); 2 usage or configuration
error, a write or a reload that failed (the backups were put back)."""

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
    bool | None,
    typer.Option(
        "--system-trust/--no-system-trust",
        help="Trust the system's CAs (default: yes, or system_trust in the config file).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        help="text, json, yaml; nagios (status line and perfdata, exit 0-3);"
        " prometheus (for node_exporter's textfile collector, with --output).",
    ),
]
OutputFile = Annotated[
    str | None,
    typer.Option("--output", help="Write the report to this file (atomically), not stdout."),
]
Paths = Annotated[
    list[str] | None,
    typer.Argument(
        help="Dovecot or Postfix config files or folders, or certificate files"
        " (default: /etc/dovecot /etc/postfix)"
    ),
]
BackupDir = Annotated[
    str | None, typer.Option("--backup-dir", help="Put backups here, not beside the file.")
]
Offline = Annotated[
    bool, typer.Option("--offline", help="Do not fetch intermediates from AIA URLs.")
]
DovecotReload = Annotated[
    str | None,
    typer.Option("--dovecot-reload", help="Command instead of doveadm [-c CONF] reload."),
]
PostfixReload = Annotated[
    str | None,
    typer.Option("--postfix-reload", help="Command instead of postfix [-c DIR] reload."),
]
KeyFile = Annotated[
    str | None,
    typer.Option("--key", help="For a certificate file: its private key (else not checked)."),
]
Names = Annotated[
    list[str] | None,
    typer.Option("--name", help="For a certificate file: a name it must cover (repeatable)."),
]


app.add_typer(config_app, name="config")


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
) -> None:
    """Read the configuration as the daemons do and check every certificate, key and chain."""
    from mailtls.audit import audit
    from mailtls.config.discover import read_all

    started = time.monotonic()
    _, run = _merged(
        config,
        paths,
        ca_file,
        intermediates,
        at,
        system_trust,
        Given(warn_days=warn_days, ignore=ignore, host=host),
    )
    read = read_all(list(run.paths), os.environ, key_file=key, names=name or ())
    result = audit(read, run.audit)
    if live:
        from mailtls.probe.live import live_report

        result = live_report(result, read.listeners, run.host, run.timeout)
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


def _merged(
    config: str | None,
    paths: list[str] | None,
    ca_file: list[str] | None,
    intermediates: list[str] | None,
    at: str | None,
    system_trust: bool | None,
    more: Given | None = None,
) -> tuple[Given, Effective]:
    """The configuration file under the command line (mailtls/merge.py); `more` holds the
    options only some commands have."""
    from mailtls.merge import merged

    given = replace(
        more or Given(),
        config=config,
        paths=tuple(paths or ()),
        ca_files=ca_file,
        intermediates=intermediates,
        at=at,
        system_trust=system_trust,
    )
    return given, merged(given, os.environ)


@app.command(epilog=FIX_EXIT_CODES)
def fix(
    paths: Paths = None,
    backup: Annotated[
        bool, typer.Option("--backup/--no-backup", help="Keep a copy of each file changed.")
    ] = True,
    backup_dir: BackupDir = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing; say what would change.")
    ] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show each chain before and after.")] = False,
    offline: Offline = False,
    reload: Annotated[
        bool, typer.Option("--reload", help="Reload the daemons whose files changed.")
    ] = False,
    dovecot_reload: DovecotReload = None,
    postfix_reload: PostfixReload = None,
    edit_config: Annotated[
        bool,
        typer.Option(
            "--edit-config",
            help="Repoint a config line naming a renewal lineage's cert.pem at its full chain"
            " (validated with doveconf/postconf -n; put back if they reject it).",
        ),
    ] = False,
    ca_file: CaFile = None,
    intermediates: Intermediates = None,
    at: At = None,
    system_trust: SystemTrust = None,
    config: ConfigFile = None,
    key: KeyFile = None,
    name: Names = None,
) -> None:
    """Complete and reorder certificate chains in place: safely, with backups."""
    from mailtls.config.discover import read_all
    from mailtls.fix.run import exit_code
    from mailtls.fix.run import fix as run_fix
    from mailtls.merge import fix_options
    from mailtls.report import fix_text

    given, run = _merged(
        config,
        paths,
        ca_file,
        intermediates,
        at,
        system_trust,
        Given(backup_dir=backup_dir, dovecot_reload=dovecot_reload, postfix_reload=postfix_reload),
    )
    options = fix_options(
        given, run, backup=backup, dry_run=dry_run, offline=offline, reload=reload
    )

    def reread() -> ConfigResult:
        return read_all(list(run.paths), os.environ, key_file=key, names=name or ())

    result = run_fix(reread(), replace(options, edit_config=edit_config, reread=reread))
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
    sys.stdout.write(safe(f"restored {file} from {used}") + "\n")


@app.command(epilog=HOOK_EXIT_CODES)
def hook(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Dovecot or Postfix config files or folders (default: /etc/dovecot /etc/postfix),"
            " then, from dehydrated, its arguments (deploy_cert DOMAIN KEYFILE CERTFILE ...)",
            metavar="PATH... [deploy_cert DOMAIN ...]",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every endpoint, not only the renewal's.")
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="Probe here, not at each listen address.")
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds reloaded daemons get to serve the new chain.")
    ] = 20.0,
    backup_dir: BackupDir = None,
    offline: Offline = False,
    dovecot_reload: DovecotReload = None,
    postfix_reload: PostfixReload = None,
    ca_file: CaFile = None,
    intermediates: Intermediates = None,
    at: At = None,
    system_trust: SystemTrust = None,
    config: ConfigFile = None,
) -> None:
    """Deploy hook of certbot, acme.sh and dehydrated: fix, reload, check what is served.
    `mailtls hook install|uninstall certbot|acme.sh|dehydrated` puts it in place."""
    from mailtls.hook.env import split_dehydrated
    from mailtls.hook.log import hook_logger
    from mailtls.hook.run import HookOptions, run_hook
    from mailtls.merge import fix_options

    paths, dehydrated = split_dehydrated(list(args or ()))
    given, run = _merged(
        config,
        paths,
        ca_file,
        intermediates,
        at,
        system_trust,
        Given(
            backup_dir=backup_dir,
            dovecot_reload=dovecot_reload,
            postfix_reload=postfix_reload,
            host=host,
        ),
    )
    options = HookOptions(
        fix_options(given, run, offline=offline),
        every=every,
        host=run.host,
        wait=wait,
        timeout=run.timeout,
    )
    args = [*run.paths, *dehydrated]
    result = run_hook(args, dict(os.environ), options, hook_logger().info)
    if result is not None:
        sys.stdout.write("\n".join([result.summary, *result.problems]) + "\n")
        raise typer.Exit(result.code)


# `mailtls hook install|uninstall CLIENT`: its own small app, since `mailtls hook PATH...`
# takes free arguments (main() sends `hook install`/`hook uninstall` here).
hook_setup = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Install or remove mailtls' hook for certbot, acme.sh or dehydrated.\n\n"
    "Exit codes: 0 done, or nothing to do (said so); 2 something else is at the hook's place"
    " (--force replaces it), or usage error.",
)  # fmt: skip
Client = Annotated[str, typer.Argument(help="certbot, acme.sh or dehydrated")]
Domain = Annotated[
    str | None, typer.Option("--domain", help="acme.sh: the certificate (its main domain).")
]
Root = Annotated[str, typer.Option("--root", help="Prefix every path with this folder.")]


@hook_setup.command("install")
def hook_install(
    client: Client,
    domain: Domain = None,
    root: Root = "",
    force: Annotated[
        bool, typer.Option("--force", help="Replace what else is at the hook's place.")
    ] = False,
) -> None:
    """Put the hook where the renewal client looks for it (again: nothing changes)."""
    from mailtls.hook.install import install, this_mailtls

    home = os.environ.get("LE_CONFIG_HOME") or os.path.expanduser("~/.acme.sh")
    done = install(client, root=root, domain=domain, force=force, executable=this_mailtls(),
                   acme_home=home)  # fmt: skip
    sys.stdout.write("".join(safe(line) + "\n" for line in done.lines))


@hook_setup.command("uninstall")
def hook_uninstall(client: Client, domain: Domain = None, root: Root = "") -> None:
    """Remove the hook mailtls installed; anything else there is left alone."""
    from mailtls.hook.install import uninstall

    home = os.environ.get("LE_CONFIG_HOME") or os.path.expanduser("~/.acme.sh")
    done = uninstall(client, root=root, domain=domain, acme_home=home)
    sys.stdout.write("".join(safe(line) + "\n" for line in done.lines))


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
    _, run = _merged(config, None, ca_file, None, at, system_trust, Given(timeout=timeout))
    report = probe_report(targets(address, starttls, servername), run.audit, run.timeout)
    report = run.filtered(report)
    raise typer.Exit(emit(report, output, to_file=to_file, fail_on=Severity.ERROR, started=started))


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


dane_app = typer.Typer(
    help="DANE: the TLSA records for the certificates Postfix serves on port 25.",
    no_args_is_help=True,
)
app.add_typer(dane_app, name="dane")


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
