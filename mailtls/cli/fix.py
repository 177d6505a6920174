"""`mailtls fix` and `restore`: the commands that write certificate files."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Annotated

import typer

from mailtls.cli.options import (
    At,
    BackupDir,
    CaFile,
    ConfigFile,
    DovecotReload,
    Intermediates,
    KeyFile,
    Names,
    Offline,
    Paths,
    PostfixReload,
    SystemTrust,
    merged,
)
from mailtls.merge import Given
from mailtls.models import ConfigResult
from mailtls.report.escape import safe


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

    given, run = merged(
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


def restore(
    file: Annotated[str, typer.Argument(help="A file mailtls fix changed.")],
    backup_dir: Annotated[
        str | None, typer.Option("--backup-dir", help="Where the backups are.")
    ] = None,
) -> None:
    """Put the newest mailtls backup of FILE back in place, atomically."""
    from mailtls.fix.backups import restore as put_back
    from mailtls.fix.lock import run_lock

    with run_lock():
        used = put_back(file, backup_dir)
    sys.stdout.write(safe(f"restored {file} from {used}") + "\n")
