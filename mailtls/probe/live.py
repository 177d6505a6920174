"""`audit --live`: probe each endpoint's listeners with its names as SNI, and compare what is
served with what the files hold."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from cryptography import x509

from mailtls.checks.registry import finding
from mailtls.models import CertInfo, Endpoint, Finding, Listener, Report, ServedChain
from mailtls.pki.chain import describe
from mailtls.pki.load import der_certificate
from mailtls.probe.run import probe_all, terminal_progress
from mailtls.probe.tls import TIMEOUT, Target


def pairs(
    report: Report, listeners: Sequence[Listener], host: str | None
) -> list[tuple[Endpoint, Target]]:
    """Which listener serves which endpoint, and the SNI name to ask it for."""
    found = []
    for endpoint in report.endpoints:
        if endpoint.role != "server" or not endpoint.enabled or endpoint.service == "network":
            continue
        for listener in listeners:
            if listener.service != endpoint.service or listener.config != endpoint.config:
                continue
            if (
                endpoint.service == "postfix"
                and endpoint.services
                and listener.label not in endpoint.services
            ):
                continue
            name = next((n for n in endpoint.names if not n.startswith((".", "*"))), None)
            found.append(
                (endpoint, Target(host or listener.host, listener.port, listener.starttls, name))
            )
    return found


OnServed = Callable[[Endpoint, Target, Sequence[x509.Certificate]], None]


def live_report(
    report: Report,
    listeners: Sequence[Listener],
    host: str | None = None,
    timeout: float = TIMEOUT,
    on_served: OnServed | None = None,
) -> Report:
    """The report with each endpoint's served chains and the live findings added;
    `on_served` gets each chain as sent (audit --dane matches TLSA records against it)."""
    matched = pairs(report, listeners, host)
    unique = list(dict.fromkeys(target for _, target in matched))
    wires = dict(zip(unique, probe_all(unique, timeout, terminal_progress), strict=True))
    disk: dict[str, ServedChain] = {}
    for chain in report.chains:
        disk.setdefault(chain.endpoint, chain)
    chains: list[ServedChain] = []
    findings: list[Finding] = []
    for endpoint, target in matched:
        wire = wires[target]
        label = f"{target.host}:{target.port}" + (
            f" SNI {target.servername}" if target.servername else ""
        )
        if wire.error_code is not None:
            findings.append(finding(wire.error_code, f"{label}: {wire.error}", endpoint=endpoint))
            continue
        blocks = [der_certificate(der) for der in wire.certs]
        if on_served is not None:
            on_served(endpoint, target, [b.cert for b in blocks if b.cert is not None])
        served = tuple(describe(b.cert) for b in blocks if b.cert is not None)
        chains.append(ServedChain(endpoint.id, served, False, None, label))
        findings += _compare(endpoint, label, served, disk.get(endpoint.id))
    return replace(
        report, chains=report.chains + tuple(chains), findings=report.findings + tuple(findings)
    )


def _compare(
    endpoint: Endpoint, label: str, served: tuple[CertInfo, ...], on_disk: ServedChain | None
) -> list[Finding]:
    if on_disk is None or not served:
        return []
    sent = [c.sha256 for c in served]
    kept = [c.sha256 for c in on_disk.certs]
    if sent == kept:
        return []
    if sent[0] != kept[0]:
        return [
            finding(
                "served-chain-stale",
                f"{label} serves a certificate (sha256 {sent[0][:16]}..., until"
                f" {served[0].not_after[:10]}) that is not the one in the file (until"
                f" {on_disk.certs[0].not_after[:10]}): the daemon was not reloaded",
                endpoint=endpoint,
                hint="mailtls fix --reload, or doveadm reload / postfix reload",
            )
        ]
    missing = len([h for h in kept if h not in sent])
    return [
        finding(
            "served-chain-incomplete",
            f"{label} serves {len(sent)} certificate(s) where the file holds {len(kept)}"
            f" ({missing} not sent): the daemon still serves an older chain; reload it",
            endpoint=endpoint,
            hint="doveadm reload / postfix reload",
        )
    ]
