"""The report as plain data (dicts and lists), shared by the JSON and YAML renderers."""

from __future__ import annotations

from typing import Any

from mailtls import __version__
from mailtls.models import ConfigResult, Endpoint, Finding, Location

SCHEMA = 1


def _where(location: Location | None) -> str | None:
    return str(location) if location else None


def endpoint_data(endpoint: Endpoint) -> dict[str, Any]:
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
    }


def finding_data(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "message": finding.message,
        "source": _where(finding.source),
        "path": finding.path,
        "endpoint": finding.endpoint,
    }


def document(result: ConfigResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "mailtls": __version__,
        "configs": list(result.configs),
        "endpoints": [endpoint_data(e) for e in result.endpoints],
        "findings": [finding_data(f) for f in result.findings],
    }
