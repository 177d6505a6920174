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


SHOWN_PLACES = 5  # of a finding said once for many endpoints, the config lines listed

FindingKey = tuple[str, str, str, str | None, str]


def render(report: Report, *, colour: bool = False) -> str:
    """The report for a person; `colour` only where stdout is a terminal. A summary first,
    then each endpoint; a finding about a file that many endpoints share (the same words for
    each) is said once after them, with the config lines where the file is named."""
    out = [*_summary(report), ""]
    chains = chains_by_endpoint(report)
    shared = _shared(report.findings)
    by_endpoint: dict[str | None, list[Finding]] = {}
    for finding in report.findings:
        by_endpoint.setdefault(finding.endpoint, []).append(finding)
    for endpoint in report.endpoints:
        out += [safe(line) for line in _endpoint_lines(endpoint, chains.get(endpoint.id, []))]
        for finding in by_endpoint.pop(endpoint.id, []):
            if _key(finding) in shared:
                said = f"{finding.severity.value} {finding.code}: said once below"
                out.append(safe(f"  {said}, for {finding.path}"))
            else:
                out.append("  " + finding_line(finding, colour))
        out.append("")
    loose = [f for findings in by_endpoint.values() for f in findings]
    if loose:
        out.append("configuration")
        out += ["  " + finding_line(f, colour) for f in loose]
        out.append("")
    for group in shared.values():
        out += [*_shared_lines(group, colour), ""]
    return "\n".join(out + _closing(report)) + "\n"


def _key(finding: Finding) -> FindingKey:
    return (finding.code, finding.severity.value, finding.message, finding.path, finding.hint)


def _shared(findings: tuple[Finding, ...]) -> dict[FindingKey, list[Finding]]:
    """Findings said in the same words for two or more endpoints, in report order."""
    groups: dict[FindingKey, list[Finding]] = {}
    for finding in findings:
        if finding.endpoint is not None:
            groups.setdefault(_key(finding), []).append(finding)
    return {key: group for key, group in groups.items() if len(group) > 1}


def _shared_lines(group: list[Finding], colour: bool) -> list[str]:
    first = group[0]
    lines = [safe(f"{first.path or '-'}  (the same for {len(group)} endpoints)")]
    lines.append("  " + finding_line(first, colour))
    places = [str(f.source) if f.source else str(f.endpoint) for f in group[1:]]
    more = len(places) - SHOWN_PLACES
    shown = ", ".join(places[:SHOWN_PLACES]) + (f" and {more} more" if more > 0 else "")
    return [*lines, safe(f"  also at {shown}")]


def _counted(report: Report) -> str:
    if report.configs:
        return f"{len(report.endpoints)} endpoints in {len(report.configs)} configurations"
    return f"{len(report.endpoints)} listener(s) probed"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _summary(report: Report) -> list[str]:
    """What a big host's report holds, before its thousands of lines: endpoints, files,
    findings by code (the most severe, then the most frequent, first)."""
    files = {f for e in report.endpoints for f in e.files()}
    lines = [
        f"{_counted(report)}, {_plural(len(files), 'certificate or key file')};"
        f" {_plural(len(report.findings), 'finding')}"
    ]
    counts: dict[str, tuple[int, str, int, set[str | None]]] = {}
    for f in report.findings:
        first = (f.severity.rank, f.severity.value, 0, set[str | None]())
        rank, severity, count, paths = counts.get(f.code, first)
        paths.add(f.path)
        counts[f.code] = (rank, severity, count + 1, paths)
    for code in sorted(counts, key=lambda c: (-counts[c][0], -counts[c][2], c)):
        _, severity, count, paths = counts[code]
        in_files = f" ({_plural(len(paths), 'file')})" if None not in paths else ""
        lines.append(f"  {code:<28} {_plural(count, severity)}{in_files}")
    return lines


def _closing(report: Report) -> list[str]:
    out = []
    counts = {
        s: sum(f.severity.value == s for f in report.findings) for s in ("error", "warning", "info")
    }
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
    out.append(f"{_counted(report)}, checked at {report.at[:16].replace('T', ' ')} UTC; {summary}")
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
    return out
