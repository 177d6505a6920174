"""`mailtls fix`: audit, plan one change per file, write under a lock, audit again."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from mailtls.audit import AuditOptions, audit, chain_context
from mailtls.fix.aia import AiaFetcher
from mailtls.fix.apply import WriteError, Written, sweep_stale
from mailtls.fix.backups import apply_change, open_backup_dir, prune_backups
from mailtls.fix.config_plan import ConfigEdit, Repoint
from mailtls.fix.config_write import EditOutcome, plan_edits, write_edit
from mailtls.fix.lock import run_lock
from mailtls.fix.plan import FileChange, Refusal
from mailtls.fix.plan_files import files_to_fix, plan_file, skip
from mailtls.fix.reload import Outcome, Step, run_steps, steps_after
from mailtls.fix.sni_write import rebuild, rebuild_and_look_up
from mailtls.fix.target import FileChanged, Target, open_folder
from mailtls.models import ConfigResult, Finding, Report
from mailtls.pki.load import FileCache


@dataclass(frozen=True)
class FixOptions:
    audit: AuditOptions
    backup: bool = True
    backup_dir: str | None = None
    dry_run: bool = False
    offline: bool = False
    lock_file: str | None = None
    reload: bool = False
    dovecot_command: str | None = None
    postfix_command: str | None = None
    edit_config: bool = False  # repoint lines naming a lineage's cert.pem at its full chain
    reread: Callable[[], ConfigResult] | None = None  # the configuration, read again
    keep_backups: int | None = None  # None: keep every backup


@dataclass(frozen=True)
class Failure:
    """A file that could not be written; it is as it was."""

    path: str
    reason: str


@dataclass
class FixResult:
    before: Report
    changes: list[FileChange] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    after: Report | None = None
    skipped: list[Finding] = field(default_factory=list)  # changed-during-fix, symlink refusals
    failed: list[Failure] = field(default_factory=list)
    repoints: list[Repoint] = field(default_factory=list)
    config_edits: list[ConfigEdit] = field(default_factory=list)  # planned (--edit-config)
    edited: list[EditOutcome] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)  # older backups removed (keep_backups)


def fix(config: ConfigResult, options: FixOptions, fetcher: AiaFetcher | None = None) -> FixResult:
    cache = FileCache()
    context = chain_context(options.audit, cache)  # the trust store is loaded once
    result = FixResult(audit(config, options.audit, cache, context))
    online = None if options.offline else (fetcher or AiaFetcher())
    targets: dict[str, Target] = {}
    edits: list[tuple[ConfigEdit, Target]] = []
    try:
        for path, (endpoints, group) in files_to_fix(result.before, cache).items():
            outcome = plan_file(path, endpoints, group, cache, context, online, targets)
            if isinstance(outcome, FileChange):
                result.changes.append(outcome)
            elif isinstance(outcome, Refusal):
                result.refusals.append(outcome)
            elif isinstance(outcome, Finding):
                result.skipped.append(outcome)
            elif isinstance(outcome, Repoint):
                result.repoints.append(outcome)
                result.suggestions.append(outcome.suggestion)
        if options.edit_config:
            edits += _plan_edits(result)
        result.config_edits = [edit for edit, _ in edits]
        if not options.dry_run:
            _write_all(config, options, result, targets, edits)
    finally:
        for target in [*targets.values(), *(t for _, t in edits)]:
            target.close()
    return result


def _plan_edits(result: FixResult) -> list[tuple[ConfigEdit, Target]]:
    """The configuration edits that replace suggestions; a refused one says why in its
    suggestion."""
    edits, refused = plan_edits(result.repoints, result.before.endpoints)
    for repoint, reason in refused.items():
        index = result.suggestions.index(repoint.suggestion)
        result.suggestions[index] += f" (--edit-config: not rewritten: {reason})"
    return edits


def _write_edits(
    options: FixOptions,
    result: FixResult,
    edits: list[tuple[ConfigEdit, Target]],
    backup_dir: tuple[str, int] | None,
    now: dt.datetime,
) -> set[str]:
    """Each configuration edit written and validated; the repointed certificate files, whose
    daemons need a reload."""
    for edit, target in edits:
        check, again = (rebuild_and_look_up, rebuild) if edit.table else (None, None)
        result.edited.append(
            write_edit(
                edit,
                target,
                backup=options.backup,
                backup_dir=backup_dir,
                now=now,
                check=check,  # an SNI map: its index rebuilt and looked up, not postconf -n
                after_rollback=again,
            )
        )
    done = {e for outcome in result.edited if outcome.written for e in outcome.edit.endpoints}
    repointed = set()
    for repoint in result.repoints:
        if repoint.endpoints and set(repoint.endpoints) <= done:
            result.suggestions.remove(repoint.suggestion)
            repointed.add(os.path.realpath(repoint.cert))
    return repointed


def _write_all(
    config: ConfigResult,
    options: FixOptions,
    result: FixResult,
    targets: dict[str, Target],
    edits: list[tuple[ConfigEdit, Target]],
) -> None:
    """Under the lock: clear what a killed run left, write each file (one failing does not
    stop the others), rebuild and reload for those written, and audit again."""
    now = dt.datetime.now(dt.UTC)
    with run_lock(options.lock_file) as since:
        backup_dir = _backup_dir(options) if result.changes or edits else None
        repointed: set[str] = set()
        try:
            _sweep(config, backup_dir, since)
            for change in result.changes:
                _write_one(change, targets[change.configured], options, backup_dir, now, result)
            for _, target in edits:  # what a killed edit left beside the configuration
                sweep_stale(target.folder, since)
            repointed = _write_edits(options, result, edits, backup_dir, now)
        finally:
            if backup_dir is not None:
                os.close(backup_dir[1])
        if result.failed and not result.written and not repointed:
            first = result.failed[0]
            more = f" (and {len(result.failed) - 1} more)" if len(result.failed) > 1 else ""
            raise WriteError(first.reason + more)
        result.outcomes = run_steps(_steps(config, options, result, repointed))
    if repointed and options.reread is not None:
        config = options.reread()
    if result.written or repointed:
        result.after = audit(config, options.audit)


def _backup_dir(options: FixOptions) -> tuple[str, int] | None:
    if not options.backup or options.backup_dir is None:
        return None
    return options.backup_dir, open_backup_dir(options.backup_dir)


def _write_one(
    change: FileChange,
    target: Target,
    options: FixOptions,
    backup_dir: tuple[str, int] | None,
    now: dt.datetime,
    result: FixResult,
) -> None:
    try:
        written = apply_change(
            target,
            change.new,
            backup=options.backup,
            backup_dir=backup_dir,
            private=change.holds_key,
            now=now,
        )
    except WriteError as error:
        result.failed.append(Failure(change.path, str(error)))
        return
    except FileChanged as error:
        result.skipped.append(skip("changed-during-fix", change.path, change.endpoints, error))
        return
    result.written.append(written)
    if written.backup and options.keep_backups:
        folder, named = (backup_dir[1], backup_dir[0]) if backup_dir else (target.folder, None)
        with contextlib.suppress(OSError):  # a backup too many is no reason to fail the fix
            found = prune_backups(folder, written.path, named, options.keep_backups, written.backup)
            result.pruned += found


def _steps(
    config: ConfigResult, options: FixOptions, result: FixResult, repointed: set[str]
) -> list[Step]:
    """SNI indexes are rebuilt whenever a file they copy changed (postmap -F copies the files
    into the index); daemons are reloaded only when asked (and those that now read another
    file, as if it had changed). A map an SNI edit rebuilt is not rebuilt twice."""
    steps = steps_after(
        {w.path for w in result.written} | repointed,
        config.endpoints,
        options.dovecot_command,
        options.postfix_command,
    )
    rebuilt = {o.edit.table for o in result.edited if o.written and o.edit.table}
    steps = [s for s in steps if s.argv[0] != "postmap" or s.argv[-1] not in rebuilt]
    return steps if options.reload else [s for s in steps if s.argv[0] == "postmap"]


def _sweep(config: ConfigResult, backup_dir: tuple[str, int] | None, since: float) -> None:
    """Stale temporary files of ours, beside every certificate and in --backup-dir."""
    folders = {
        os.path.dirname(os.path.realpath(e.cert_file)) for e in config.endpoints if e.cert_file
    }
    for folder in sorted(folders):
        with contextlib.suppress(OSError):  # a folder we cannot open holds nothing of ours
            fd = open_folder(folder)
            try:
                sweep_stale(fd, since)
            finally:
                os.close(fd)
    if backup_dir is not None:
        with contextlib.suppress(OSError):
            sweep_stale(backup_dir[1], since)


def exit_code(result: FixResult, dry_run: bool) -> int:
    """0: nothing to fix, or all fixed; 1: something remains (each said why); 2: a write
    failed (that file is as it was; the others written are said)."""
    if result.failed or any(o.error and (o.written or o.rolled_back) for o in result.edited):
        return 2  # a write failed, an edit the parser rejected was not undone, or its index
        # was not rebuilt after it was
    if (
        result.skipped
        or result.refusals
        or result.suggestions
        or not all(o.ok for o in result.outcomes)
    ):
        return 1
    if dry_run:
        return 1 if result.changes else 0
    final = result.after or result.before
    return 1 if any(f.severity.value == "error" for f in final.findings) else 0
