"""The configuration file and the command line merged: an option given on the command line
replaces the file's value; the file replaces the built-in default."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mailtls.errors import UsageError
from mailtls.settings import MAX_WARN_DAYS, Settings, load_settings

if TYPE_CHECKING:
    from mailtls.audit import AuditOptions
    from mailtls.fix.run import FixOptions
    from mailtls.models import Report


@dataclass(frozen=True)
class Given:
    """What the command line said: None where an option was not given."""

    config: str | None = None
    paths: tuple[str, ...] = ()
    ca_files: list[str] | None = None
    intermediates: list[str] | None = None
    at: str | None = None
    warn_days: int | None = None
    system_trust: bool | None = None
    ignore: list[str] | None = None
    backup_dir: str | None = None
    dovecot_reload: str | None = None
    postfix_reload: str | None = None
    host: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Effective:
    """The values a command runs with."""

    settings: Settings  # the file's own
    paths: tuple[str, ...]  # empty: the system's /etc/dovecot and /etc/postfix
    audit: AuditOptions
    ignore: tuple[str, ...]
    host: str | None
    timeout: float

    def filtered(self, report: Report) -> Report:
        """The report without the ignored codes, everywhere or for the paths matching a glob."""
        report = report.without(self.ignore)
        globs = self.settings.ignore_paths
        if not globs:
            return report

        def ignored(code: str, path: str | None) -> bool:
            return path is not None and any(
                code in codes and fnmatch.fnmatchcase(path, glob) for glob, codes in globs
            )

        kept = tuple(f for f in report.findings if not ignored(f.code, f.path))
        return replace(report, findings=kept)


def merged(given: Given, env: Mapping[str, str]) -> Effective:
    """Read the file (--config, MAILTLS_CONFIG or /etc/mailtls/config.yaml) and lay the
    command line over it."""
    from mailtls.audit import AuditOptions
    from mailtls.clock import parse_time

    if given.warn_days is not None and not 0 <= given.warn_days <= MAX_WARN_DAYS:
        raise UsageError(f"--warn-days {given.warn_days}: give 0 to {MAX_WARN_DAYS} days")
    file = load_settings(given.config, env)
    audit = AuditOptions(
        at=parse_time(given.at),
        ca_files=tuple(file.ca_files if given.ca_files is None else given.ca_files),
        intermediates=tuple(
            file.intermediates if given.intermediates is None else given.intermediates
        ),
        warn_days=file.warn_days if given.warn_days is None else given.warn_days,
        system_trust=file.system_trust if given.system_trust is None else given.system_trust,
    )
    return Effective(
        settings=file,
        paths=given.paths or (*file.dovecot, *file.postfix),
        audit=audit,
        ignore=tuple(file.ignore if given.ignore is None else given.ignore),
        host=given.host or file.probe_host,
        timeout=file.probe_timeout if given.timeout is None else given.timeout,
    )


def fix_options(
    given: Given,
    effective: Effective,
    *,
    backup: bool = True,
    dry_run: bool = False,
    offline: bool = False,
    reload: bool = False,
) -> FixOptions:
    """FixOptions from both: backups and reload commands, and the flags only the command
    line has."""
    from mailtls.fix.run import FixOptions

    file = effective.settings
    return FixOptions(
        audit=effective.audit,
        backup_dir=given.backup_dir or file.backup_dir,
        keep_backups=file.keep_backups,
        dovecot_command=given.dovecot_reload or file.dovecot_reload,
        postfix_command=given.postfix_reload or file.postfix_reload,
        backup=backup,
        dry_run=dry_run,
        offline=offline,
        reload=reload,
    )
