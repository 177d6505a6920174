"""The audit: load each endpoint's files once, run every check family, build the Report."""

from __future__ import annotations

import datetime as dt
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509 import verification

from mailtls.checks.chain import ChainContext, chain_findings, validation_findings
from mailtls.checks.files import Served, key_findings, served_groups
from mailtls.checks.leaf import leaf_findings
from mailtls.models import ConfigResult, Endpoint, Finding, Report, ServedChain, Severity
from mailtls.pki.chain import describe, is_ca
from mailtls.pki.load import FileCache
from mailtls.pki.trust import CertPool, load_pool, system_bundle

# Files beside a certificate that often hold its chain (certbot, acme.sh, CA downloads).
SIBLING_PATTERNS = ("*.pem", "*.crt", "*.cer", "*.ca-bundle", "*.chain", "*CA*")
MAX_SIBLINGS = 200


@dataclass(frozen=True)
class AuditOptions:
    at: dt.datetime
    ca_files: tuple[str, ...] = ()
    intermediates: tuple[str, ...] = ()
    warn_days: int | None = None
    system_trust: bool = True


def audit(config: ConfigResult, options: AuditOptions) -> Report:
    cache = FileCache()
    trust = _trust(options)
    pool = _candidates(config.endpoints, options, cache)
    store = verification.Store(list(trust.certs)) if trust.certs else None
    context = ChainContext(options.at, trust, pool, store)
    chains: list[ServedChain] = []
    findings: list[Finding] = list(config.findings)
    for endpoint in config.endpoints:
        endpoint_chains, endpoint_findings = _audit_endpoint(endpoint, cache, context, options)
        chains += endpoint_chains
        findings += endpoint_findings
    return Report(
        config.endpoints, tuple(chains), tuple(findings), config.configs, options.at.isoformat()
    )


def _trust(options: AuditOptions) -> CertPool:
    bundle = system_bundle() if options.system_trust else None
    system = load_pool([bundle], required=False) if bundle else CertPool()
    private = load_pool(list(options.ca_files), required=True)
    items = [(c, private.source_of(c)) for c in private.certs]
    items += [(c, system.source_of(c)) for c in system.certs]
    return CertPool.of(items)


def _candidates(endpoints: Sequence[Endpoint], options: AuditOptions, cache: FileCache) -> CertPool:
    """Where a missing intermediate may be: --intermediates first, then files beside each
    certificate. Only certificate authorities count."""
    paths: list[str] = []
    for given in options.intermediates:
        paths += sorted(glob.glob(os.path.join(given, "*"))) if os.path.isdir(given) else [given]
    explicit = load_pool(paths, required=True)
    items = [(c, explicit.source_of(c)) for c in explicit.certs]
    folders = {os.path.dirname(f) for e in endpoints for f in e.files()}
    for folder in sorted(folders):
        for path in _siblings(folder):
            items += [(c, path) for c in cache.get(path).certs if is_ca(c)]
    return CertPool.of(items)


def _siblings(folder: str) -> list[str]:
    found: set[str] = set()
    for pattern in SIBLING_PATTERNS:
        found.update(glob.glob(os.path.join(folder, pattern)))
    return sorted(p for p in found if os.path.isfile(p))[:MAX_SIBLINGS]


def _leaf_index(group: Served) -> int:
    """The server's own certificate: the one its key fits, else the first that is no CA."""
    for index, cert in enumerate(group.certs):
        if any(_fits(key, cert) for key in group.keys):
            return index
    return next((i for i, c in enumerate(group.certs) if not is_ca(c)), 0)


def _fits(key: object, cert: x509.Certificate) -> bool:
    try:
        return bool(key.public_key() == cert.public_key())  # type: ignore[attr-defined]
    except (TypeError, AttributeError):
        return False


def _breaks_trust(finding: Finding) -> bool:
    """An error, or a self-signed leaf (a warning: some setups pin it; no client trusts it)."""
    return finding.severity is Severity.ERROR or finding.code == "self-signed"


def _audit_endpoint(
    endpoint: Endpoint, cache: FileCache, context: ChainContext, options: AuditOptions
) -> tuple[list[ServedChain], list[Finding]]:
    groups, findings = served_groups(endpoint, cache)
    chains = []
    for group in groups:
        findings += key_findings(endpoint, group, cache)
        if not group.certs:
            continue
        leaf = _leaf_index(group)
        facts, found = chain_findings(endpoint, group, context, leaf)
        found += leaf_findings(
            endpoint, group.certs[leaf], group.cert_path, options.at, options.warn_days
        )
        if not any(_breaks_trust(f) for f in found):
            found += validation_findings(endpoint, group, facts, context)
        findings += found
        trusted = not any(_breaks_trust(f) for f in found)
        certs = tuple(describe(c) for c in group.certs)
        chains.append(ServedChain(endpoint.id, certs, trusted, group.key_path))
    return chains, findings
