"""What several commands share: their options, exit code texts, and the settings merge."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from mailtls.merge import Given
from mailtls.report.emit import Format

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
Dane = Annotated[
    bool,
    typer.Option(
        "--dane",
        help="Look up the TLSA records of Postfix's names (_25._tcp.NAME) and match them"
        " against the chains (needs pip install 'mailtls[dane]').",
    ),
]
Resolver = Annotated[
    str | None,
    typer.Option(
        "--resolver",
        help="With --dane: the validating resolver to ask, IP[:PORT] (default: resolv.conf's).",
    ),
]

ConfigFile = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Settings file (default: $MAILTLS_CONFIG, else /etc/mailtls/config.yaml).",
    ),
]


def merged(
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
    from mailtls.merge import merged as effective

    given = replace(
        more or Given(),
        config=config,
        paths=tuple(paths or ()),
        ca_files=ca_file,
        intermediates=intermediates,
        at=at,
        system_trust=system_trust,
    )
    return given, effective(given, os.environ)
