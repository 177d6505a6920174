"""The audit: load each endpoint's files once, run every check family, build the Report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Protocol

from cryptography.x509 import verification

from mailtls.checks.chain import ChainContext, chain_findings, untrusted
from mailtls.checks.consistency import different_certs
from mailtls.checks.files import (
    Served,
    complete_from_ca_file,
    key_findings,
    served_groups,
    set_aside_findings,
)
from mailtls.checks.leaf import date_findings, dns_names, fitness_findings, name_findings
from mailtls.checks.permissions import FolderFacts, folder_findings
from mailtls.gcpause import collector_paused
from mailtls.models import CertInfo, ConfigResult, Endpoint, Finding, Report, ServedChain, Severity
from mailtls.pki.candidates import Candidates
from mailtls.pki.chain import describe, extensions, fingerprint, is_ca, issued_by
from mailtls.pki.load import FileCache, name_strings, pem_certificate
from mailtls.pki.trust import CertPool, load_pool, system_bundle
from mailtls.pki.verify import Validation

POOL_FROM = 1000


@dataclass(frozen=True)
class AuditOptions:
    at: dt.datetime
    ca_files: tuple[str, ...] = ()
    intermediates: tuple[str, ...] = ()
    warn_days: int | None = None
    system_trust: bool = True
    # From this many certificate and key files on, endpoints are audited on every core
    # (mailtls/pool.py); 0 always, None never.
    pool_from: int | None = field(default=POOL_FROM, compare=False)


def chain_context(options: AuditOptions, cache: FileCache) -> ChainContext:
    """Trust store, candidate intermediates and validator for one run."""
    trust = _trust(options)
    candidates = Candidates(options.intermediates, cache)
    store = verification.Store(list(trust.certs)) if trust.certs else None
    return ChainContext(options.at, trust, candidates, store)


Placed = dict[int, Finding]  # findings by their place in the order of the check that made them


class EndpointCheck(Protocol):
    """A check made beside the others where each endpoint's files are loaded already (in a
    worker process past POOL_FROM files), whose findings its caller places in the report
    (audit --dane: the TLSA records against the chain on disk, mailtls/dane/audit.py)."""

    def __call__(self, endpoint: Endpoint, cache: FileCache) -> Placed: ...

    def keep(self, found: Placed) -> None:
        """Called once, in this process, with what the calls made for every endpoint."""


def audit(
    config: ConfigResult,
    options: AuditOptions,
    cache: FileCache | None = None,
    context: ChainContext | None = None,
    beside: EndpointCheck | None = None,
) -> Report:
    """Check every endpoint; a caller (the fixer) may share the files read and the trust store."""
    from mailtls.pool import audit_endpoints

    cache = cache or FileCache()
    context = context or chain_context(options, cache)
    auditor = Auditor(cache, context, options, beside)
    chains: list[ServedChain] = []
    findings: list[Finding] = list(config.findings)
    placed: Placed = {}
    with collector_paused():
        for endpoint_chains, endpoint_findings, more in audit_endpoints(config.endpoints, auditor):
            chains += endpoint_chains
            findings += endpoint_findings
            placed.update(more)
        findings += different_certs(config.endpoints, chains, findings)
    if beside is not None:
        beside.keep(placed)
    set_aside = [*context.trust.set_aside, *context.candidates.set_aside()]
    served = {path for endpoint in config.endpoints for path in endpoint.files()}
    findings += set_aside_findings(set_aside, served)
    forget_certificates()
    return Report(
        config.endpoints, tuple(chains), tuple(findings), config.configs, options.at.isoformat()
    )


def forget_certificates() -> None:
    """Let go of the certificates the per-certificate caches hold once the report is made:
    on a host of 10,000 chains they are a third of the memory, and the report is written
    after (with the JSON written in pieces, peak RSS of a 20,000-endpoint audit: 318 -> 215 MB)."""
    for cached in (
        issued_by,
        fingerprint,
        extensions,
        is_ca,
        describe,
        dns_names,
        pem_certificate,
        name_strings,
    ):
        cached.cache_clear()


def _trust(options: AuditOptions) -> CertPool:
    bundle = system_bundle() if options.system_trust else None
    system = load_pool([bundle], required=False) if bundle else CertPool()
    private = load_pool(list(options.ca_files), required=True)
    items = [(c, private.source_of(c)) for c in private.certs]
    items += [(c, system.source_of(c)) for c in system.certs]
    return CertPool.of(items, [*private.set_aside, *system.set_aside])


def _breaks_trust(finding: Finding) -> bool:
    """An error, or a self-signed leaf (a warning: some setups pin it; no client trusts it)."""
    return finding.severity is Severity.ERROR or finding.code == "self-signed"


EndpointResult = tuple[list[ServedChain], list[Finding], Placed]


class Auditor:
    """Audits one endpoint at a time. A chain named by several endpoints (one wildcard
    certificate's files in many `local_name` blocks, say) is judged once; the others get the
    same verdict under their own name, and only their names are checked again."""

    def __init__(
        self,
        cache: FileCache,
        context: ChainContext,
        options: AuditOptions,
        beside: EndpointCheck | None = None,
    ) -> None:
        self.cache, self.context, self.options, self.beside = cache, context, options, beside
        self._verdicts: dict[tuple[object, ...], tuple[Endpoint, Verdict]] = {}
        self._folders = FolderFacts()  # this run's realpath and stat of certificate folders

    def endpoint(self, endpoint: Endpoint) -> EndpointResult:
        cache = self.cache
        groups, findings = served_groups(endpoint, cache)
        findings += folder_findings(
            endpoint, [g.cert_path for g in groups if g.certs], self._folders
        )
        chains = []
        for group in groups:
            findings += key_findings(endpoint, group, cache)
            if not group.certs:
                continue
            findings += complete_from_ca_file(endpoint, group, cache)
            chain, found = self._judge(endpoint, group)
            if any(f.code == "not-pem" and f.path == group.cert_path for f in findings):
                chain = replace(chain, trusted=False)  # the daemon cannot even load it
            chains.append(chain)
            findings += found
        return chains, findings, self.beside(endpoint, cache) if self.beside else {}

    def _judge(self, endpoint: Endpoint, group: Served) -> tuple[ServedChain, list[Finding]]:
        leaf = group.leaf_index()
        # All a verdict depends on: the files, what they hold, the endpoint's role.
        key: tuple[object, ...] = (group.cert_path, group.key_path, tuple(group.certs))
        key += (leaf, group.unordered, endpoint.role)
        if key in self._verdicts:
            first, judged = self._verdicts[key]
            judged = Verdict(
                [_relabel(f, first, endpoint) for f in judged.before_names],
                [_relabel(f, first, endpoint) for f in judged.after_names],
                judged.validation,
                judged.certs,
            )
        else:
            judged = verdict(endpoint, group, leaf, self.context, self.options)
            self._verdicts[key] = (endpoint, judged)
        return served_as(endpoint, group, leaf, judged)


def _relabel(found: Finding, first: Endpoint, endpoint: Endpoint) -> Finding:
    if found.endpoint != first.id or found.source != first.source:
        return found
    return replace(found, endpoint=endpoint.id, source=endpoint.source)


def judge_chain(
    endpoint: Endpoint, group: Served, leaf: int, context: ChainContext, options: AuditOptions
) -> tuple[ServedChain, list[Finding]]:
    """Chain and leaf checks on what is served, from a file or over the network alike."""
    return served_as(endpoint, group, leaf, verdict(endpoint, group, leaf, context, options))


@dataclass(frozen=True)
class Verdict:
    """What a served chain is, whichever endpoint serves it (of one role): all but the
    checks of the names an endpoint is chosen for. Findings name the endpoint judged."""

    before_names: list[Finding]  # the chain's, the leaf's dates
    after_names: list[Finding]  # the leaf's key, signature, purpose
    validation: Validation
    certs: tuple[CertInfo, ...]


def verdict(
    endpoint: Endpoint, group: Served, leaf: int, context: ChainContext, options: AuditOptions
) -> Verdict:
    found, validation = chain_findings(endpoint, group, context, leaf)
    served, path = group.certs[leaf], group.cert_path
    found += date_findings(endpoint, served, path, options.at, options.warn_days)
    after = list(fitness_findings(endpoint, served, path))
    return Verdict(found, after, validation, tuple(describe(c) for c in group.certs))


def served_as(
    endpoint: Endpoint, group: Served, leaf: int, judged: Verdict
) -> tuple[ServedChain, list[Finding]]:
    """The chain as `endpoint` serves it: its names checked, then whether clients trust it."""
    named = name_findings(endpoint, group.certs[leaf], group.cert_path)
    found = [*judged.before_names, *named, *judged.after_names]
    validation = judged.validation
    if validation.error and not any(_breaks_trust(f) for f in found):
        found.append(untrusted(endpoint, group, validation))
    trusted = validation.built is not None and not any(_breaks_trust(f) for f in found)
    return ServedChain(endpoint.id, judged.certs, trusted, group.key_path), found
