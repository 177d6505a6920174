"""`fix --edit-config`, the write: the configuration file replaced by fix/apply's writer, then
judged by the daemon's own parser (doveconf -n, postconf -n) and put back if it rejects it."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from mailtls.errors import MailtlsError
from mailtls.fix.apply import WriteError, write_atomically
from mailtls.fix.backups import apply_change, restore
from mailtls.fix.config_plan import ConfigEdit, Repoint, group_by_file, plan_file
from mailtls.fix.reload import find_binary
from mailtls.fix.target import FileChanged, Target, open_target, symlink_risk
from mailtls.models import Endpoint

VALIDATE_SECONDS = 60.0
# `doveconf: Fatal: ...`, `postconf: fatal: ...`; a `postconf: warning:` does not reject.
_SEVERE = re.compile(r"^\S+: (?:fatal|error|panic)\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Validation:
    argv: tuple[str, ...]  # empty: no validator installed
    ok: bool
    output: str


@dataclass(frozen=True)
class EditOutcome:
    edit: ConfigEdit
    written: bool  # the new bytes are in place now
    backup: str | None = None
    validation: Validation | None = None
    rolled_back: bool = False
    error: str = ""


def open_config(path: str) -> Target | str:
    """The configuration file, its folder held open; or why it is not edited."""
    real = os.path.realpath(path)
    risk = symlink_risk(path, real)
    if risk:
        return f"{path} leads to {real} and {risk}"
    try:
        return open_target(real)
    except (FileChanged, OSError) as error:
        return str(error)


def plan_edits(
    repoints: list[Repoint], endpoints: tuple[Endpoint, ...]
) -> tuple[list[tuple[ConfigEdit, Target]], dict[Repoint, str]]:
    """Each configuration file to edit, opened; each repoint that cannot be done, and why.
    A repoint is done whole or not at all: one refused file refuses it in every file."""
    files, refused = group_by_file(repoints, endpoints)
    planned: dict[str, tuple[ConfigEdit, Target]] = {}
    for path, pairs in files.items():
        opened = open_config(path)
        planned_edit = plan_file(path, opened.data, pairs) if isinstance(opened, Target) else opened
        if isinstance(planned_edit, str):
            for repoint, _ in pairs:
                refused.setdefault(repoint, planned_edit)
        if isinstance(opened, Target):
            if isinstance(planned_edit, str):
                opened.close()
            else:
                planned[path] = (planned_edit, opened)
    kept = []
    for path, (edit, target) in planned.items():
        if any(repoint in refused for repoint, _ in files[path]):
            target.close()  # its line is right, but the same leaf stays named elsewhere
        else:
            kept.append((edit, target))
    return kept, refused


def validator(edit: ConfigEdit) -> tuple[str, ...]:
    """The daemon's own parser for the configuration, or () when it is not installed."""
    name = "doveconf" if edit.service == "dovecot" else "postconf"
    found = find_binary(name)
    return (found, "-c", edit.config, "-n") if found else ()


def validate(argv: tuple[str, ...]) -> Validation:
    """Rejected when the parser exits non-zero or says fatal/error (warnings pass)."""
    if not argv:
        return Validation(argv, True, "not validated: the daemon's parser is not installed")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=VALIDATE_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Validation(argv, False, str(error))
    said = done.stderr.strip()
    rejected = done.returncode != 0 or _SEVERE.search(said) is not None
    return Validation(argv, not rejected, said or f"exit {done.returncode}")


def write_edit(
    edit: ConfigEdit,
    target: Target,
    *,
    backup: bool,
    backup_dir: tuple[str, int] | None,
    now: dt.datetime,
    check: Callable[[ConfigEdit], Validation] | None = None,
    after_rollback: Callable[[ConfigEdit], Validation] | None = None,
) -> EditOutcome:
    """Write, validate (the daemon's parser, or `check`), and put the old bytes back if it
    rejects the new ones; then `after_rollback` (an SNI map's index rebuilt from them)."""
    try:
        written = apply_change(
            target, edit.new, backup=backup, backup_dir=backup_dir, private=False, now=now
        )
    except (WriteError, FileChanged) as error:
        return EditOutcome(edit, written=False, error=str(error))
    checked = check(edit) if check else validate(validator(edit))
    if checked.ok:
        return EditOutcome(edit, True, written.backup, checked)
    try:
        _roll_back(edit, target.path, written.backup, backup_dir)
    except MailtlsError as error:
        return EditOutcome(edit, True, written.backup, checked, error=f"NOT rolled back: {error}")
    again = after_rollback(edit) if after_rollback else None
    if again is not None and not again.ok:
        said = f"{' '.join(again.argv)}: {again.output}"
        return EditOutcome(
            edit, False, written.backup, checked, True, f"the index was NOT rebuilt: {said}"
        )
    return EditOutcome(edit, False, written.backup, checked, rolled_back=True)


def _roll_back(
    edit: ConfigEdit, real: str, saved: str | None, backup_dir: tuple[str, int] | None
) -> None:
    if saved is not None:
        restore(real, backup_dir[0] if backup_dir else None, backup=saved)
        return
    # --no-backup: the old bytes are still in memory; only over the file this run wrote.
    target = open_target(real)
    try:
        if target.data != edit.new:
            raise MailtlsError(f"{real} changed after it was written")
        try:
            write_atomically(target, edit.old)
        except OSError as error:
            raise WriteError(f"{real}: could not write ({error.strerror})") from None
    finally:
        target.close()
