"""`mailtls probe`: probe listeners concurrently and judge what they serve like a file."""

from __future__ import annotations

import concurrent.futures
import sys
from collections.abc import Callable, Sequence

from mailtls.audit import AuditOptions, chain_context, judge_chain
from mailtls.checks.chain import ChainContext
from mailtls.checks.files import Served
from mailtls.checks.registry import finding
from mailtls.errors import UsageError
from mailtls.models import Endpoint, Finding, Location, Report, ServedChain
from mailtls.pki.load import FileCache, der_certificate
from mailtls.probe.dialogue import DIALOGUES, PORTS
from mailtls.probe.tls import TIMEOUT, Target, WireChain, probe

MAX_CONNECTIONS = 16
MAX_TIMEOUT = 3600


def targets(address: str, starttls: str | None, servername: str | None) -> list[Target]:
    """HOST:PORT is one listener (the protocol follows from the port unless given); HOST
    alone is every standard mail port."""
    host, port = _split(address)
    if starttls is not None and starttls not in DIALOGUES:
        raise UsageError(f"--starttls {starttls}: one of {', '.join(DIALOGUES)}")
    if port is None:
        return [Target(host, p, s, servername) for p, (s, _) in PORTS.items()]
    protocol = starttls if starttls is not None else PORTS.get(port, (None, ""))[0]
    return [Target(host, port, protocol, servername)]


def _split(address: str) -> tuple[str, int | None]:
    if address.startswith("["):  # [::1]:993
        host, _, rest = address[1:].partition("]")
        return host, _port(rest.lstrip(":")) if rest else None
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host, _port(port)
    return address, None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{text!r} is not a port number")
    return int(text)


Progress = Callable[[int, int], None]


def probe_all(
    items: Sequence[Target], timeout: float = TIMEOUT, progress: Progress | None = None
) -> list[WireChain]:
    """Probe concurrently, at most MAX_CONNECTIONS open at once; results in input order.
    `progress(done, total)` is called as each probe ends."""
    if not 0 < timeout <= MAX_TIMEOUT:  # also false for NaN
        raise UsageError(f"--timeout {timeout}: a number of seconds above 0, at most {MAX_TIMEOUT}")
    with concurrent.futures.ThreadPoolExecutor(max_workers=MAX_CONNECTIONS) as pool:
        jobs = [pool.submit(probe, target, timeout) for target in items]
        if progress is not None:
            for done, _ in enumerate(concurrent.futures.as_completed(jobs), start=1):
                progress(done, len(jobs))
        return [job.result() for job in jobs]


def terminal_progress(done: int, total: int) -> None:
    """A one-line counter on stderr, for runs long enough to need one, on a terminal only."""
    if total >= 8 and sys.stderr.isatty():
        end = "\n" if done == total else ""
        sys.stderr.write(f"\rprobed {done}/{total} listeners{end}")
        sys.stderr.flush()


def wire_endpoint(wire: WireChain) -> Endpoint:
    target = wire.target
    label = f"STARTTLS {target.starttls}" if target.starttls else "implicit TLS"
    names = (target.servername,) if target.servername else ()
    return Endpoint(
        id=target.address,
        service="network",
        role="server",
        scope=label + (f", SNI {target.servername}" if target.servername else ""),
        source=Location(target.address, 0),
        cert_file=None,
        key_file=None,
        names=names,
    )


def judge(
    wire: WireChain, context: ChainContext, options: AuditOptions
) -> tuple[ServedChain | None, list[Finding]]:
    """The same checks as for a file, on the chain as sent."""
    endpoint = wire_endpoint(wire)
    if wire.error_code is not None:
        return None, [finding(wire.error_code, f"{endpoint.id}: {wire.error}", endpoint=endpoint)]
    blocks = [der_certificate(der) for der in wire.certs]
    malformed = [
        finding("malformed-cert", f"{endpoint.id} sent {b.malformed}", endpoint=endpoint)
        for b in blocks
        if b.malformed
    ]
    certs = [b.cert for b in blocks if b.cert is not None]
    if not certs:
        return None, [
            *malformed,
            finding(
                "tls-handshake-failed", f"{endpoint.id}: no certificate was sent", endpoint=endpoint
            ),
        ]
    # As sent: the first certificate is the leaf, whatever it is; order mistakes are findings.
    group = Served(wire.target.address, None, certs)
    chain, found = judge_chain(endpoint, group, 0, context, options)
    return chain, [*malformed, *found]


def probe_report(
    items: Sequence[Target], options: AuditOptions, timeout: float = TIMEOUT
) -> Report:
    context = chain_context(options, FileCache())
    chains, findings = [], []
    wires = probe_all(items, timeout, terminal_progress)
    for wire in wires:
        chain, found = judge(wire, context, options)
        chains += [chain] if chain else []
        findings += found
    endpoints = tuple(wire_endpoint(w) for w in wires)
    return Report(endpoints, tuple(chains), tuple(findings), (), options.at.isoformat())
