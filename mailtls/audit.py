"""The audit: load each endpoint's files once, run every check family, build the Report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

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
from mailtls.checks.leaf import leaf_findings
from mailtls.checks.permissions import folder_findings
from mailtls.models import ConfigResult, Endpoint, Finding, Report, ServedChain, Severity
from mailtls.pki.candidates import Candidates
from mailtls.pki.chain import describe
from mailtls.pki.load import FileCache
from mailtls.pki.trust import CertPool, load_pool, system_bundle


@dataclass(frozen=True)
class AuditOptions:
    at: dt.datetime
    ca_files: tuple[str, ...] = ()
    intermediates: tuple[str, ...] = ()
    warn_days: int | None = None
    system_trust: bool = True


def chain_context(options: AuditOptions, cache: FileCache) -> ChainContext:
    """Trust store, candidate intermediates and validator for one run."""
    trust = _trust(options)
    candidates = Candidates(options.intermediates, cache)
    store = verification.Store(list(trust.certs)) if trust.certs else None
    return ChainContext(options.at, trust, candidates, store)


def audit(
    config: ConfigResult,
    options: AuditOptions,
    cache: FileCache | None = None,
    context: ChainContext | None = None,
) -> Report:
    """Check every endpoint; a caller (the fixer) may share the files read and the trust store."""
    cache = cache or FileCache()
    context = context or chain_context(options, cache)
    chains: list[ServedChain] = []
    findings: list[Finding] = list(config.findings)
    for endpoint in config.endpoints:
        endpoint_chains, endpoint_findings = _audit_endpoint(endpoint, cache, context, options)
        chains += endpoint_chains
        findings += endpoint_findings
    findings += different_certs(config.endpoints, chains, findings)
    set_aside = [*context.trust.set_aside, *context.candidates.set_aside()]
    served = {path for endpoint in config.endpoints for path in endpoint.files()}
    findings += set_aside_findings(set_aside, served)
    return Report(
        config.endpoints, tuple(chains), tuple(findings), config.configs, options.at.isoformat()
    )


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


def _audit_endpoint(
    endpoint: Endpoint, cache: FileCache, context: ChainContext, options: AuditOptions
) -> tuple[list[ServedChain], list[Finding]]:
    groups, findings = served_groups(endpoint, cache)
    findings += folder_findings(endpoint, [g.cert_path for g in groups if g.certs])
    chains = []
    for group in groups:
        findings += key_findings(endpoint, group, cache)
        if not group.certs:
            continue
        findings += complete_from_ca_file(endpoint, group, cache)
        chain, found = judge_chain(endpoint, group, group.leaf_index(), context, options)
        if any(f.code == "not-pem" and f.path == group.cert_path for f in findings):
            chain = replace(chain, trusted=False)  # the daemon cannot even load it
        chains.append(chain)
        findings += found
    return chains, findings


def judge_chain(
    endpoint: Endpoint, group: Served, leaf: int, context: ChainContext, options: AuditOptions
) -> tuple[ServedChain, list[Finding]]:
    """Chain and leaf checks on what is served, from a file or over the network alike."""
    found, validation = chain_findings(endpoint, group, context, leaf)
    found += leaf_findings(
        endpoint, group.certs[leaf], group.cert_path, options.at, options.warn_days
    )
    if validation.error and not any(_breaks_trust(f) for f in found):
        found.append(untrusted(endpoint, group, validation))
    trusted = validation.built is not None and not any(_breaks_trust(f) for f in found)
    certs = tuple(describe(c) for c in group.certs)
    return ServedChain(endpoint.id, certs, trusted, group.key_path), found
