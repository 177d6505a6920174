"""`mailtls fix`: audit, plan one change per file, write under a lock, audit again."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from mailtls.audit import AuditOptions, audit, chain_context
from mailtls.checks.chain import ChainContext
from mailtls.checks.files import Served, served_groups
from mailtls.checks.registry import CODES
from mailtls.fix.aia import AiaFetcher
from mailtls.fix.apply import (
    WriteError,
    Written,
    apply_change,
    open_backup_dir,
    prune_backups,
    sweep_stale,
)
from mailtls.fix.chain import Source, build_chain, live_cross_signs
from mailtls.fix.config_plan import ConfigEdit, Repoint
from mailtls.fix.config_write import EditOutcome, plan_edits, write_edit
from mailtls.fix.lock import run_lock
from mailtls.fix.plan import FileChange, Refusal, check_result, lineage, rewrite
from mailtls.fix.reload import Outcome, Step, run_steps, steps_after
from mailtls.fix.target import FileChanged, Target, open_folder, open_target, symlink_risk
from mailtls.models import ConfigResult, Endpoint, Finding, Report
from mailtls.pki.chain import describe, fingerprint
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
        for path, (endpoints, group) in _files_to_fix(result.before, cache).items():
            outcome = _plan_file(path, endpoints, group, cache, context, online, targets)
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
        result.edited.append(
            write_edit(edit, target, backup=options.backup, backup_dir=backup_dir, now=now)
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
        result.skipped.append(_skip("changed-during-fix", change.path, change.endpoints, error))
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
    file, as if it had changed)."""
    steps = steps_after(
        {w.path for w in result.written} | repointed,
        config.endpoints,
        options.dovecot_command,
        options.postfix_command,
    )
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


def _skip(code: str, path: str, endpoints: tuple[str, ...], why: object) -> Finding:
    said = str(why) if str(why).startswith(path) else f"{path}: {why}"
    return Finding(
        code,
        CODES[code].severity,
        said,
        path=path,
        endpoint=endpoints[0] if endpoints else None,
    )


def _files_to_fix(report: Report, cache: FileCache) -> dict[str, tuple[list[str], Served]]:
    """Each file with a fixable finding, once, however many endpoints serve it."""
    fixable = {f.endpoint for f in report.findings if f.endpoint and f.fixable}
    files: dict[str, tuple[list[str], Served]] = {}
    for endpoint in report.endpoints:
        if endpoint.id not in fixable:
            continue
        for group in _groups(endpoint, cache):
            entry = files.setdefault(group.cert_path, ([], group))
            entry[0].append(endpoint.id)
    return files


def _groups(endpoint: Endpoint, cache: FileCache) -> list[Served]:
    groups, _ = served_groups(endpoint, cache)
    return [g for g in groups if g.certs]


def _plan_file(
    path: str,
    endpoints: list[str],
    group: Served,
    cache: FileCache,
    context: ChainContext,
    fetcher: AiaFetcher | None,
    targets: dict[str, Target],
) -> FileChange | Refusal | Finding | Repoint | None:
    owners = tuple(endpoints)
    found = lineage(path)
    if found is not None:
        tool, fullchain = found
        if os.path.exists(fullchain) and os.path.realpath(fullchain) != os.path.realpath(path):
            return Repoint(path, fullchain, tool, owners)
        return Refusal(path, owners, f"{path} is in a {tool} lineage; fix it with {tool} itself")
    data = cache.get(path).data
    opened = _open(path, owners, data)
    if isinstance(opened, Finding):
        return opened
    targets[path] = opened
    leaf = group.certs[group.leaf_index()]
    built = build_chain(leaf, _lookups(group, leaf, context, fetcher), context.trust, context.at)
    if built.error:
        reason = built.error + _fetch_failures(fetcher)
        hint = "; give the CA's intermediate with --intermediates FILE"
        return Refusal(path, owners, reason + hint + "; nothing was changed")
    chain = [leaf] + [cert for cert, _ in built.intermediates]
    chain += live_cross_signs(group.certs, chain, context.trust, _above(group, context), context.at)
    new = rewrite(data, chain)
    if new == data:
        return None
    why_not = check_result(new, leaf, group.keys, context.store, context.at)
    if why_not:
        return Refusal(path, owners, why_not + "; nothing was changed")
    served = {fingerprint(c) for c in group.certs}
    return FileChange(
        path=opened.path,
        configured=path,
        old=data,
        new=new,
        endpoints=owners,
        before=tuple(describe(c) for c in group.certs),
        after=tuple(describe(c) for c in chain),
        added_from=tuple(w for c, w in built.intermediates if fingerprint(c) not in served),
        # What the bytes hold, not what the configuration says: a combined file named only
        # as the certificate still carries a key its backup must not spread.
        holds_key=bool(cache.get(path).keys) or cache.get(path).encrypted,
    )


def _open(path: str, owners: tuple[str, ...], data: bytes) -> Target | Finding:
    """The file, opened once before anything slow (AIA) happens: its real path is settled now
    and its folder held, so a symlink swapped in later is never followed."""
    real = os.path.realpath(path)
    risk = symlink_risk(path, real)
    if risk:
        return _skip("cert-symlink-unsafe", path, owners, f"it leads to {real} and {risk}")
    try:
        target = open_target(real)
    except (FileChanged, OSError) as error:
        return _skip("changed-during-fix", path, owners, error)
    if target.data != data:
        target.close()
        return _skip("changed-during-fix", path, owners, "it changed since the audit read it")
    return target


def _lookups(
    group: Served, leaf: x509.Certificate, context: ChainContext, fetcher: AiaFetcher | None
) -> list[Callable[[x509.Certificate], list[Source]]]:
    """Where issuers are looked for, in order: what the file already serves, --intermediates
    and files beside it, then the AIA URL (unless --offline)."""
    served = [(c, f"{group.cert_path} (already served)") for c in group.certs if c is not leaf]

    def in_file(cert: x509.Certificate) -> list[Source]:
        return [(c, s) for c, s in served if c.subject == cert.issuer]

    def on_disk(cert: x509.Certificate) -> list[Source]:
        return context.candidates.issuers_named(cert.issuer, group.cert_path)

    lookups: list[Callable[[x509.Certificate], list[Source]]] = [in_file, on_disk]
    if fetcher is not None:
        lookups.append(lambda cert: [(c, f"AIA {url}") for c, url in fetcher.issuers_of(cert)])
    return lookups


def _above(
    group: Served, context: ChainContext
) -> Callable[[x509.Certificate], list[x509.Certificate]]:
    """A certificate's issuers wherever mailtls sees one: served, trusted, or beside the file
    (as the audit looks for what is above a cross-sign)."""

    def issuers(child: x509.Certificate) -> list[x509.Certificate]:
        near = context.candidates.issuers_named(child.issuer, group.cert_path)
        return [*group.certs, *context.trust.issuers_named(child.issuer), *(c for c, _ in near)]

    return issuers


def _fetch_failures(fetcher: AiaFetcher | None) -> str:
    if fetcher is None:
        return " (--offline: the AIA URL was not tried)"
    if not fetcher.failures:
        return ""
    return "; AIA: " + "; ".join(f"{url}: {why}" for url, why in fetcher.failures.items())


def exit_code(result: FixResult, dry_run: bool) -> int:
    """0: nothing to fix, or all fixed; 1: something remains (each said why); 2: a write
    failed (that file is as it was; the others written are said)."""
    if result.failed or any(o.error and o.written for o in result.edited):
        return 2  # a write failed, or an edit the parser rejected could not be undone
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
