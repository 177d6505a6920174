"""The report as plain data (dicts and lists), shared by the JSON and YAML renderers."""

from __future__ import annotations

import dataclasses
from typing import Any

from mailtls import __version__
from mailtls.models import Endpoint, Finding, Location, Report, ServedChain

SCHEMA = 1


def _where(location: Location | None) -> str | None:
    return str(location) if location else None


def chain_data(chain: ServedChain) -> dict[str, Any]:
    if chain.listener:
        return {"listener": chain.listener, "certs": [dataclasses.asdict(c) for c in chain.certs]}
    return {
        "key_file": chain.key_file,
        "trusted": chain.trusted,
        "certs": [dataclasses.asdict(cert) for cert in chain.certs],
    }


def endpoint_data(endpoint: Endpoint, chains: list[ServedChain]) -> dict[str, Any]:
    on_disk = [c for c in chains if not c.listener]
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
        "chain": chain_data(on_disk[0])["certs"] if on_disk else [],
        "chains": [chain_data(c) for c in on_disk],
        "served": [chain_data(c) for c in chains if c.listener],
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
    return {
        "schema": SCHEMA,
        "mailtls": __version__,
        "at": report.at,
        "configs": list(report.configs),
        "endpoints": [endpoint_data(e, chains.get(e.id, [])) for e in report.endpoints],
        "findings": [finding_data(f) for f in report.findings],
    }
