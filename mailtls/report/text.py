"""Text report: each endpoint with its files and its chain as served, then one greppable line
per finding: `file:line severity code message`."""

from __future__ import annotations

from mailtls.models import CertInfo, Endpoint, Finding, Report, ServedChain
from mailtls.report.document import chains_by_endpoint
from mailtls.report.escape import safe

COLOURS = {"error": "\033[1;31m", "warning": "\033[33m", "info": "\033[36m"}
RESET = "\033[0m"


def finding_line(finding: Finding, colour: bool = False) -> str:
    """`file:line severity code message`; the colour is ours, everything else is escaped."""
    where = safe(str(finding.source) if finding.source else (finding.path or "-"))
    severity = finding.severity.value
    if colour:
        severity = f"{COLOURS[severity]}{severity}{RESET}"
    return f"{where} {severity} {safe(finding.code)} {safe(finding.message)}"


def common_name(dn: str) -> str:
    for part in dn.split(","):
        if part.startswith("CN="):
            return part[3:]
    return dn


def cert_line(number: int, cert: CertInfo) -> str:
    who = common_name(cert.subject)
    by = "self-signed" if cert.self_signed else f"issued by {common_name(cert.issuer)}"
    return safe(f"    {number}. {who}  ({by}, until {cert.not_after[:10]})")


def _endpoint_lines(endpoint: Endpoint, chains: list[ServedChain]) -> list[str]:
    state = "enabled" if endpoint.enabled else "disabled"
    network = endpoint.service == "network"
    lines = [f"{endpoint.id}  ({endpoint.scope if network else f'{endpoint.role}, {state}'})"]
    rows = [
        ("source", str(endpoint.source) if endpoint.source and not network else None),
        ("cert", endpoint.cert_file),
        ("key", endpoint.key_file),
        ("chain", ", ".join(endpoint.chain_files) or None),
        ("names", ", ".join(endpoint.names) or None),
        ("services", ", ".join(endpoint.services) or None),
    ]
    lines += [f"  {label:<9}{value}" for label, value in rows if value]
    for chain in chains:
        if chain.listener:
            lines.append(f"  live     {chain.listener} sends {len(chain.certs)} certificate(s):")
            lines += [cert_line(n, cert) for n, cert in enumerate(chain.certs, start=1)]
            continue
        verdict = "trusted" if chain.trusted else "NOT trusted"
        lines.append(f"  served   {len(chain.certs)} certificate(s), {verdict}:")
        lines += [cert_line(n, cert) for n, cert in enumerate(chain.certs, start=1)]
    return lines


def render(report: Report, *, colour: bool = False) -> str:
    """The report for a person; `colour` only where stdout is a terminal."""
    out: list[str] = []
    chains = chains_by_endpoint(report)
    by_endpoint: dict[str | None, list[Finding]] = {}
    for finding in report.findings:
        by_endpoint.setdefault(finding.endpoint, []).append(finding)
    for endpoint in report.endpoints:
        out += [safe(line) for line in _endpoint_lines(endpoint, chains.get(endpoint.id, []))]
        out += ["  " + finding_line(f, colour) for f in by_endpoint.pop(endpoint.id, [])]
        out.append("")
    loose = [f for findings in by_endpoint.values() for f in findings]
    if loose:
        out.append("configuration")
        out += ["  " + finding_line(f, colour) for f in loose]
        out.append("")
    counts = {
        s: sum(f.severity.value == s for f in report.findings) for s in ("error", "warning", "info")
    }
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
    counted = (
        f"{len(report.endpoints)} endpoints in {len(report.configs)} configurations"
        if report.configs
        else f"{len(report.endpoints)} listener(s) probed"
    )
    out.append(f"{counted}, checked at {report.at[:16].replace('T', ' ')} UTC; {summary}")
    # The most severe code first (then the most frequent): the one to read about first.
    counted_codes: dict[str, tuple[int, int]] = {}
    for f in report.findings:
        if f.severity.value != "info":
            rank, count = counted_codes.get(f.code, (f.severity.rank, 0))
            counted_codes[f.code] = (rank, count + 1)
    codes = sorted(counted_codes, key=lambda c: (-counted_codes[c][0], -counted_codes[c][1], c))
    if codes:
        out.append(
            f"What each code means and how to fix it: mailtls explain {codes[0]}"
            + (f" (also: {', '.join(codes[1:])})" if codes[1:] else "")
        )
    return "\n".join(out) + "\n"
