"""Plan `mailtls fix`'s change to each file (nothing is written here): which files need one,
the chain each leaf should be served with, and the bytes that hold it, checked first."""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography import x509

from mailtls.checks.chain import ChainContext
from mailtls.checks.files import Served, served_groups
from mailtls.checks.registry import CODES
from mailtls.fix.aia import AiaFetcher
from mailtls.fix.chain import Source, build_chain, live_cross_signs
from mailtls.fix.config_plan import Repoint
from mailtls.fix.plan import FileChange, Refusal, check_result, lineage, rewrite
from mailtls.fix.target import FileChanged, Target, open_target, symlink_risk
from mailtls.models import Endpoint, Finding, Report
from mailtls.pki.chain import describe, fingerprint
from mailtls.pki.load import FileCache


def skip(code: str, path: str, endpoints: tuple[str, ...], why: object) -> Finding:
    said = str(why) if str(why).startswith(path) else f"{path}: {why}"
    return Finding(
        code,
        CODES[code].severity,
        said,
        path=path,
        endpoint=endpoints[0] if endpoints else None,
    )


def files_to_fix(report: Report, cache: FileCache) -> dict[str, tuple[list[str], Served]]:
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


def plan_file(
    path: str,
    endpoints: list[str],
    group: Served,
    cache: FileCache,
    context: ChainContext,
    fetcher: AiaFetcher | None,
    targets: dict[str, Target],
) -> FileChange | Refusal | Finding | Repoint | None:
    owners = tuple(endpoints)
    leaf_file = _leaf_file(path, group)
    found = lineage(leaf_file)
    if found is not None:
        tool, fullchain = found
        if os.path.exists(fullchain) and os.path.realpath(fullchain) != os.path.realpath(leaf_file):
            return Repoint(leaf_file, fullchain, tool, owners)
        return Refusal(
            leaf_file, owners, f"{leaf_file} is in a {tool} lineage; fix it with {tool} itself"
        )
    spread = sorted(set(group.cert_files))
    if len(spread) > 1:
        reason = (
            f"its chain comes from {len(spread)} files ({', '.join(spread)}): join them by hand"
        )
        return Refusal(leaf_file, owners, reason + "; nothing was changed")
    path = leaf_file  # `key.pem, cert.pem`: the chain goes with the leaf, never into the key's file
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


def _leaf_file(path: str, group: Served) -> str:
    """The file that holds the leaf: `path`, or for `*_tls_chain_files` (`privkey.pem,
    cert.pem`) the one after the key's, which is what a lineage's full chain replaces."""
    if not group.cert_files:
        return path
    return group.cert_files[group.leaf_index()]


def _open(path: str, owners: tuple[str, ...], data: bytes) -> Target | Finding:
    """The file, opened once before anything slow (AIA) happens: its real path is settled now
    and its folder held, so a symlink swapped in later is never followed."""
    real = os.path.realpath(path)
    risk = symlink_risk(path, real)
    if risk:
        return skip("cert-symlink-unsafe", path, owners, f"it leads to {real} and {risk}")
    try:
        target = open_target(real)
    except (FileChanged, OSError) as error:
        return skip("changed-during-fix", path, owners, error)
    if target.data != data:
        target.close()
        return skip("changed-during-fix", path, owners, "it changed since the audit read it")
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
