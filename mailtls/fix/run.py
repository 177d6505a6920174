"""`mailtls fix`: audit, plan one change per file, write under a lock, audit again."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509

from mailtls.audit import AuditOptions, audit, chain_context
from mailtls.checks.chain import ChainContext
from mailtls.checks.files import Served, served_groups
from mailtls.fix.aia import AiaFetcher
from mailtls.fix.apply import Written, apply_change, run_lock
from mailtls.fix.chain import Source, build_chain
from mailtls.fix.plan import FileChange, Refusal, check_result, lineage, rewrite
from mailtls.fix.reload import Outcome, run_steps, steps_after
from mailtls.models import ConfigResult, Endpoint, Report
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


@dataclass
class FixResult:
    before: Report
    changes: list[FileChange] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    written: list[Written] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    after: Report | None = None


def fix(config: ConfigResult, options: FixOptions, fetcher: AiaFetcher | None = None) -> FixResult:
    cache = FileCache()
    context = chain_context(options.audit, cache)  # the trust store is loaded once
    result = FixResult(audit(config, options.audit, cache, context))
    online = None if options.offline else (fetcher or AiaFetcher())
    for path, (endpoints, group) in _files_to_fix(result.before, cache).items():
        outcome = _plan_file(path, endpoints, group, cache, context, online)
        if isinstance(outcome, FileChange):
            result.changes.append(outcome)
        elif isinstance(outcome, Refusal):
            result.refusals.append(outcome)
        elif isinstance(outcome, str):
            result.suggestions.append(outcome)
    if options.dry_run or not result.changes:
        return result
    now = dt.datetime.now(dt.UTC)
    with run_lock(options.lock_file):
        for change in result.changes:
            result.written.append(
                apply_change(
                    change.path,
                    change.new,
                    backup=options.backup,
                    backup_dir=options.backup_dir,
                    private=change.holds_key,
                    now=now,
                )
            )
        # SNI indexes are rebuilt whenever a file they copy changed (postmap -F copies the
        # files into the index); daemons are reloaded only when asked.
        steps = steps_after(
            {w.path for w in result.written},
            config.endpoints,
            options.dovecot_command,
            options.postfix_command,
        )
        if not options.reload:
            steps = [s for s in steps if s.argv[0] == "postmap"]
        result.outcomes = run_steps(steps)
    result.after = audit(config, options.audit)
    return result


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
) -> FileChange | Refusal | str | None:
    owners = tuple(endpoints)
    found = lineage(path)
    if found is not None:
        tool, fullchain = found
        if os.path.exists(fullchain) and os.path.realpath(fullchain) != os.path.realpath(path):
            return (
                f"{path} is in a {tool} lineage, which renewals rewrite: point the configuration"
                f" at {fullchain} instead (used by {', '.join(owners)})"
            )
        return Refusal(path, owners, f"{path} is in a {tool} lineage; fix it with {tool} itself")
    data = cache.get(path).data
    leaf = group.certs[group.leaf_index()]
    built = build_chain(leaf, _lookups(group, leaf, context, fetcher), context.trust, context.at)
    if built.error:
        reason = built.error + _fetch_failures(fetcher)
        hint = "; give the CA's intermediate with --intermediates FILE"
        return Refusal(path, owners, reason + hint + "; nothing was changed")
    chain = [leaf] + [cert for cert, _ in built.intermediates]
    new = rewrite(data, chain)
    if new == data:
        return None
    why_not = check_result(new, leaf, group.keys, context.store, context.at)
    if why_not:
        return Refusal(path, owners, why_not + "; nothing was changed")
    served = {fingerprint(c) for c in group.certs}
    return FileChange(
        path=os.path.realpath(path),
        configured=path,
        old=data,
        new=new,
        endpoints=owners,
        before=tuple(describe(c) for c in group.certs),
        after=tuple(describe(c) for c in chain),
        added_from=tuple(w for c, w in built.intermediates if fingerprint(c) not in served),
        holds_key=bool(group.keys) and group.key_path == group.cert_path,
    )


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


def _fetch_failures(fetcher: AiaFetcher | None) -> str:
    if fetcher is None:
        return " (--offline: the AIA URL was not tried)"
    if not fetcher.failures:
        return ""
    return "; AIA: " + "; ".join(f"{url}: {why}" for url, why in fetcher.failures.items())


def exit_code(result: FixResult, dry_run: bool) -> int:
    """0: nothing to fix, or all fixed; 1: something remains (each said why)."""
    if result.refusals or result.suggestions or not all(o.ok for o in result.outcomes):
        return 1
    if dry_run:
        return 1 if result.changes else 0
    final = result.after or result.before
    return 1 if any(f.severity.value == "error" for f in final.findings) else 0
