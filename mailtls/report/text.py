"""Text report: endpoints with their files, then one greppable line per finding."""

from __future__ import annotations

from mailtls.models import ConfigResult, Endpoint, Finding


def finding_line(finding: Finding) -> str:
    where = str(finding.source) if finding.source else (finding.path or "-")
    return f"{where} {finding.severity.value} {finding.code} {finding.message}"


def _endpoint_lines(endpoint: Endpoint) -> list[str]:
    state = "enabled" if endpoint.enabled else "disabled"
    lines = [f"{endpoint.id}  ({endpoint.role}, {state})"]
    rows = [
        ("source", str(endpoint.source) if endpoint.source else None),
        ("cert", endpoint.cert_file),
        ("key", endpoint.key_file),
        ("chain", ", ".join(endpoint.chain_files) or None),
        ("names", ", ".join(endpoint.names) or None),
        ("services", ", ".join(endpoint.services) or None),
    ]
    lines += [f"  {label:<9}{value}" for label, value in rows if value]
    return lines


def render(result: ConfigResult) -> str:
    out: list[str] = []
    by_endpoint: dict[str | None, list[Finding]] = {}
    for finding in result.findings:
        by_endpoint.setdefault(finding.endpoint, []).append(finding)
    for endpoint in result.endpoints:
        out += _endpoint_lines(endpoint)
        out += ["  " + finding_line(f) for f in by_endpoint.pop(endpoint.id, [])]
        out.append("")
    loose = [f for findings in by_endpoint.values() for f in findings]
    if loose:
        out.append("configuration")
        out += ["  " + finding_line(f) for f in loose]
        out.append("")
    counts = {
        s: sum(f.severity.value == s for f in result.findings) for s in ("error", "warning", "info")
    }
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
    out.append(
        f"{len(result.endpoints)} endpoints in {len(result.configs)} configurations; {summary}"
    )
    return "\n".join(out) + "\n"
