"""The report as plain data (dicts and lists), shared by the JSON and YAML renderers."""

from __future__ import annotations

from typing import Any

from mailtls import __version__
from mailtls.models import CertInfo, Endpoint, Finding, Location, Report, ServedChain

SCHEMA = 1


def _where(location: Location | None) -> str | None:
    return str(location) if location else None


CertMemo = dict[CertInfo, dict[str, Any]]


def cert_data(cert: CertInfo, memo: CertMemo | None = None) -> dict[str, Any]:
    """A certificate's fields; with `memo`, one dict per certificate however many chains
    hold it (an intermediate is in thousands), which the JSON writer encodes once."""
    if memo is not None and cert in memo:
        return memo[cert]
    data = {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "sha256": cert.sha256,
        "key_type": cert.key_type,
        "key_size": cert.key_size,
        "is_ca": cert.is_ca,
        "self_signed": cert.self_signed,
    }
    if memo is not None:
        memo[cert] = data
    return data


def chain_data(chain: ServedChain, memo: CertMemo | None = None) -> dict[str, Any]:
    certs = [cert_data(c, memo) for c in chain.certs]
    if chain.listener:
        return {"listener": chain.listener, "certs": certs}
    return {"key_file": chain.key_file, "trusted": chain.trusted, "certs": certs}


def endpoint_data(
    endpoint: Endpoint, chains: list[ServedChain], memo: CertMemo | None = None
) -> dict[str, Any]:
    on_disk = [chain_data(c, memo) for c in chains if not c.listener]
    return {
        "id": endpoint.id,
        "service": endpoint.service,
        "role": endpoint.role,
        "scope": endpoint.scope,
        "slot": endpoint.slot,
        "source": _where(endpoint.source),
        "cert_file": endpoint.cert_file,
        "key_file": endpoint.key_file,
        "chain_files": list(endpoint.chain_files),
        "names": list(endpoint.names),
        "enabled": endpoint.enabled,
        "services": list(endpoint.services),
        "config": endpoint.config,
        "chain": list(on_disk[0]["certs"]) if on_disk else [],
        "chains": on_disk,
        "served": [chain_data(c, memo) for c in chains if c.listener],
    }


def finding_data(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "message": finding.message,
        "source": _where(finding.source),
        "path": finding.path,
        "endpoint": finding.endpoint,
        "fixable": finding.fixable,
        "hint": finding.hint,
    }


def chains_by_endpoint(report: Report) -> dict[str, list[ServedChain]]:
    found: dict[str, list[ServedChain]] = {}
    for chain in report.chains:
        found.setdefault(chain.endpoint, []).append(chain)
    return found


def document(report: Report) -> dict[str, Any]:
    chains = chains_by_endpoint(report)
    memo: CertMemo = {}
    return {
        "schema": SCHEMA,
        "mailtls": __version__,
        "at": report.at,
        "configs": list(report.configs),
        "endpoints": [endpoint_data(e, chains.get(e.id, []), memo) for e in report.endpoints],
        "findings": [finding_data(f) for f in report.findings],
    }
