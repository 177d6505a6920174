"""Probed servers are hostile too: `--timeout` bounds the whole dialogue (connect, STARTTLS,
handshake), and trickles, floods, long lines, NUL bytes and binary end as findings."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailtls.errors import UsageError
from mailtls.probe.run import probe_all
from mailtls.probe.tls import Target, WireChain, probe, unreadable
from tests.conftest import FIXTURES
from tests.netservers import LoopbackServer, silent, trickle
from tests.probe.test_probe import tls_context

SMTP_GO = b"250-mail.example.org\r\n250 STARTTLS\r\n"


def timed_probe(
    server: LoopbackServer, starttls: str | None, timeout: float
) -> tuple[WireChain, float]:
    started = time.monotonic()
    wire = probe(Target("127.0.0.1", server.port, starttls, "mail.example.org"), timeout)
    return wire, time.monotonic() - started


def test_a_trickled_greeting_ends_at_the_deadline() -> None:
    """One byte every 0.1 s: each read succeeds, so a per-read timeout never fires."""
    greeting = b"220 " + b"x" * 200 + b"\r\n"
    with LoopbackServer(trickle(greeting, 0.1, request=False)) as server:
        wire, elapsed = timed_probe(server, "smtp", 1.0)
    assert elapsed < 3
    assert (wire.error_code, wire.error) == (
        "protocol-error",
        "the 1 s deadline passed before the dialogue ended",
    )


def test_endless_continuation_lines_trickled_end_at_the_deadline() -> None:
    def server_side(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"220 mail.example.org ESMTP\r\n")
        conn.recv(1024)
        while not stop.wait(0.05):
            conn.sendall(b"250-")
            conn.sendall(b"x\r\n")

    with LoopbackServer(server_side) as server:
        wire, elapsed = timed_probe(server, "smtp", 1.0)
    assert elapsed < 3
    assert wire.error_code == "protocol-error"
    assert wire.error is not None and "deadline passed" in wire.error


def test_a_silent_server_is_unreachable_within_the_deadline() -> None:
    with LoopbackServer(silent) as server:
        wire, elapsed = timed_probe(server, "imap", 0.5)
    assert elapsed < 2
    assert (wire.error_code, wire.error) == (
        "endpoint-unreachable",
        "no answer within the 0.5 s deadline",
    )


def test_a_trickled_handshake_ends_at_the_deadline() -> None:
    """Implicit TLS: a TLS record header, then its body one byte at a time."""
    record = b"\x16\x03\x03\x40\x00" + b"\x02" * 400
    with LoopbackServer(trickle(record, 0.05, request=False)) as server:
        wire, elapsed = timed_probe(server, None, 1.0)
    assert elapsed < 3
    assert (wire.error_code, wire.error) == (
        "endpoint-unreachable",
        "no TLS handshake within 1 s",
    )


def test_the_deadline_covers_dialogue_and_handshake_together(tmp_path: Path) -> None:
    """The dialogue takes most of the time; the handshake gets only what is left."""
    context = tls_context(tmp_path, "leaf-2026.pem")

    def server_side(conn: socket.socket, stop: threading.Event) -> None:
        for byte in b"+OK POP3 ready\r\n":
            if stop.wait(0.04):
                return
            conn.sendall(bytes([byte]))
        conn.recv(1024)
        conn.sendall(b"+OK\r\nSTLS\r\n.\r\n")
        conn.recv(1024)
        conn.sendall(b"+OK go\r\n")
        if not stop.wait(1.0):  # hold the handshake past the deadline
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

    with LoopbackServer(server_side) as server:
        wire, elapsed = timed_probe(server, "pop3", 1.0)
    assert elapsed < 1.8
    assert (wire.error_code, wire.error) == ("tls-handshake-failed", "no TLS handshake within 1 s")


def flood(payload: bytes, then: bytes = b"") -> LoopbackServer:
    """A server that sends `payload` at once, reads one command, sends `then`, waits."""

    def server_side(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(payload)
        if then:
            conn.recv(1024)
            conn.sendall(then)
        stop.wait(30)

    return LoopbackServer(server_side)


HOSTILE = {
    "endless-continuation": (
        "smtp",
        b"220 mail ESMTP\r\n",
        b"250-x\r\n" * 5000,
        ("protocol-error", "the server keeps talking; not a mail server?"),
    ),
    "long-line": (
        "smtp",
        b"220 " + b"x" * 1_000_000,
        b"",
        ("protocol-error", "the server sent a line too long to be mail"),
    ),
    "long-line-with-its-end": (
        "imap",
        b"* OK " + b"x" * 20_000 + b"\r\n",
        b"",
        ("protocol-error", "the server sent a line too long to be mail"),
    ),
    "nul-bytes": (
        "smtp",
        b"220 mail\x00\x00 ESMTP\r\n",
        b"",
        ("protocol-error", "the server sent a NUL byte; not a mail server?"),
    ),
    "non-utf8-greeting": (
        "imap",
        b"\xff\xfe\x1b[2J\xe2\x80\xae\r\n",
        b"",
        ("protocol-error", r"expected an IMAP greeting, got '\ufffd\ufffd\x1b[2J\u202e'"),
    ),
    "endless-capa": (
        "pop3",
        b"+OK ready\r\n",
        b"+OK\r\n" + b"X\r\n" * 5000,
        ("protocol-error", "the server keeps talking; not a mail server?"),
    ),
    "endless-sieve-capabilities": (
        "sieve",
        b'"SASL" "PLAIN"\r\n' * 5000,
        b"",
        ("protocol-error", "the server keeps talking; not a mail server?"),
    ),
    "endless-imap-capability": (
        "imap",
        b"* OK ready\r\n",
        b"* CAPABILITY IMAP4rev1\r\n" * 5000,
        ("protocol-error", "the server keeps talking; not a mail server?"),
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_dialogue_is_a_bounded_finding(case: str) -> None:
    protocol, payload, then, expected = HOSTILE[case]
    with flood(payload, then) as server:
        wire, elapsed = timed_probe(server, protocol, 5.0)
    assert (wire.error_code, wire.error) == expected
    assert elapsed < 2
    assert wire.error is not None and wire.error.isascii() and wire.error.isprintable()


def test_non_utf8_text_in_a_good_dialogue_does_not_stop_it(tmp_path: Path) -> None:
    context = tls_context(tmp_path, "leaf-2026.pem")

    def server_side(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"220 m\xe9l.example.org ESMTP \xff\r\n")
        conn.recv(1024)
        conn.sendall(b"250-m\xe9l\r\n250 STARTTLS\r\n")
        conn.recv(1024)
        conn.sendall(b"220 go\r\n")
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    with LoopbackServer(server_side) as server:
        wire, _ = timed_probe(server, "smtp", 5.0)
    assert wire.error_code is None and len(wire.certs) == 1


def test_an_sni_name_that_is_not_a_host_name_is_a_finding(tmp_path: Path) -> None:
    context = tls_context(tmp_path, "leaf-2026.pem")

    def server_side(conn: socket.socket, stop: threading.Event) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    with LoopbackServer(server_side) as server:
        wire = probe(Target("127.0.0.1", server.port, None, "mail..example.org"), 5.0)
    assert (wire.error_code, wire.error) == (
        "tls-handshake-failed",
        "cannot send the SNI name 'mail..example.org': not a host name",
    )


def test_handshake_errors_are_still_findings() -> None:
    """Plain text where TLS was expected: the TLS error, not the deadline."""
    with flood(b"* OK plain IMAP\r\n" * 3) as server:
        wire, elapsed = timed_probe(server, None, 5.0)
    assert wire.error_code == "tls-handshake-failed" and elapsed < 2


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf"), 1e12])
def test_a_timeout_that_is_not_a_duration_is_a_usage_error(timeout: float) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        probe_all([Target("127.0.0.1", 9, None, None)], timeout)


def test_a_certificate_sent_that_does_not_parse_is_a_finding() -> None:
    """Certificates cryptography cannot read (found by `make fuzz`): an issuer name that is
    not UTF-8, a version 4, a name attribute that is a BIT STRING (TypeError)."""
    der = x509.load_pem_x509_certificate(
        (FIXTURES / "pki" / "leaf-2026.pem").read_bytes()
    ).public_bytes(serialization.Encoding.DER)
    at = der.index(b"Example Issuing CA R2")
    bad_issuer = der[:at] + b"\xff" + der[at + 1 :]
    version_4 = der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x03", 1)
    assert unreadable((der,)) is None
    assert unreadable((der, bad_issuer)) == (
        "certificate 2 of those sent does not parse: 'error parsing asn1 value:"
        ' ParseError { kind: InvalidValue, location: ["issuer"] }\''
    )
    assert unreadable((version_4,)) == (
        "certificate 1 of those sent does not parse: '3 is not a valid X509 version'"
    )
    bitstring = (Path(__file__).parent / "data" / "name-with-bitstring.der").read_bytes()
    assert unreadable((bitstring,)) == (
        "certificate 1 of those sent does not parse:"
        " 'oid must be X500_UNIQUE_IDENTIFIER for BitString type.'"
    )


def test_a_certificate_sent_with_a_broken_extension_is_malformed_cert_not_a_crash() -> None:
    """It parses, but its extensions do not (a SAN twice): judged like a file, set aside."""
    from mailtls.audit import AuditOptions, chain_context
    from mailtls.pki.load import FileCache
    from mailtls.probe.run import judge
    from mailtls.probe.tls import Target, WireChain
    from tests.pki.malformed import malformed_der

    options = AuditOptions(at=dt.datetime(2026, 11, 29, tzinfo=dt.UTC), system_trust=False)
    wire = WireChain(Target("127.0.0.1", 993, None, None), (malformed_der("duplicate-san"),))
    chain, found = judge(wire, chain_context(options, FileCache()), options)
    assert chain is None
    assert [f.code for f in found] == ["malformed-cert", "tls-handshake-failed"]
