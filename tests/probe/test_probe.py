"""`mailtls probe` against small in-process servers on 127.0.0.1: each failure is a finding,
never a hang; a served chain is judged like a file."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailtls.audit import AuditOptions
from mailtls.probe.run import probe_report, targets
from mailtls.probe.tls import Target
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
OPTIONS = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)

Behaviour = Callable[[socket.socket], None]


def tls_context(tmp_path: Path, *chain: str) -> ssl.SSLContext:
    (tmp_path / "chain.pem").write_bytes(b"".join((PKI / n).read_bytes() for n in chain))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "chain.pem", PKI / "leaf-2026.key")
    return context


@pytest.fixture
def server() -> Iterator[Callable[[Behaviour], int]]:
    """Start a one-thread server on 127.0.0.1 with a behaviour per connection; return its port.
    The socket listens before the thread starts, so no wait is needed."""
    listeners: list[socket.socket] = []

    def start(behaviour: Behaviour) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn, contextlib.suppress(OSError, ssl.SSLError):
                    behaviour(conn)

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()


def codes(port: int, starttls: str | None = None, timeout: float = 5.0) -> list[str]:
    report = probe_report(
        [Target("127.0.0.1", port, starttls, "mail.example.org")], OPTIONS, timeout
    )
    return sorted(f.code for f in report.findings)


def implicit(context: ssl.SSLContext) -> Behaviour:
    def run(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    return run


def imap_starttls(context: ssl.SSLContext, offer: bool = True) -> Behaviour:
    def run(conn: socket.socket) -> None:
        caps = "IMAP4rev1 STARTTLS" if offer else "IMAP4rev1"
        conn.sendall(f"* OK [CAPABILITY {caps}] ready\r\n".encode())
        reader = conn.makefile("rb")
        while line := reader.readline():
            tag, _, command = line.decode().strip().partition(" ")
            if command == "CAPABILITY":
                conn.sendall(f"* CAPABILITY {caps}\r\n{tag} OK done\r\n".encode())
            elif command == "STARTTLS":
                conn.sendall(f"{tag} OK begin TLS\r\n".encode())
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
                return

    return run


def test_full_chain_over_implicit_tls_is_clean(
    tmp_path: Path, server: Callable[[Behaviour], int]
) -> None:
    port = server(implicit(tls_context(tmp_path, "leaf-2026.pem", "issuing-r2.pem")))
    report = probe_report([Target("127.0.0.1", port, None, "mail.example.org")], OPTIONS)
    assert report.findings == ()
    (chain,) = report.chains
    assert chain.trusted and [c.subject for c in chain.certs][1].startswith(
        "CN=Example Issuing CA R2"
    )


def test_leaf_only_over_starttls_imap_is_missing_its_intermediate(
    tmp_path: Path, server: Callable[[Behaviour], int]
) -> None:
    port = server(imap_starttls(tls_context(tmp_path, "leaf-2026.pem")))
    assert codes(port, "imap") == ["missing-intermediate"]


def test_no_starttls_offered(tmp_path: Path, server: Callable[[Behaviour], int]) -> None:
    port = server(imap_starttls(tls_context(tmp_path, "leaf-2026.pem"), offer=False))
    assert codes(port, "imap") == ["starttls-missing"]


def test_early_close(server: Callable[[Behaviour], int]) -> None:
    port = server(lambda conn: None)
    assert codes(port, "smtp") == ["protocol-error"]


def test_garbage_banner(server: Callable[[Behaviour], int]) -> None:
    port = server(lambda conn: conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    assert codes(port, "pop3") == ["protocol-error"]


def test_slow_server_hits_the_timeout(server: Callable[[Behaviour], int]) -> None:
    release = threading.Event()

    def silent(conn: socket.socket) -> None:
        release.wait(10)

    port = server(silent)
    started = dt.datetime.now()
    try:
        assert codes(port, "smtp", timeout=0.5) == ["endpoint-unreachable"]
    finally:
        release.set()
    assert (dt.datetime.now() - started).total_seconds() < 5


def test_nothing_listening_is_unreachable() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # the port is free now: nothing listens
    assert codes(port) == ["endpoint-unreachable"]


def test_tls_spoken_to_a_plain_server_fails_the_handshake(
    server: Callable[[Behaviour], int],
) -> None:
    def plain(conn: socket.socket) -> None:
        conn.recv(1024)
        conn.sendall(b"* OK plain IMAP\r\n" * 3)

    port = server(plain)
    assert codes(port) == ["tls-handshake-failed"]


def test_targets_follow_the_port() -> None:
    assert targets("mail.example.org:993", None, None) == [
        Target("mail.example.org", 993, None, None)
    ]
    assert targets("mail.example.org:587", None, "x")[0].starttls == "submission"
    assert targets("[::1]:25", None, None) == [Target("::1", 25, "smtp", None)]
    assert len(targets("mail.example.org", None, None)) == 8


def line_server(
    context: ssl.SSLContext,
    greeting: bytes,
    replies: dict[bytes, bytes],
    starttls: bytes,
    ready: bytes,
) -> Behaviour:
    """A server that greets, answers commands from a table, and starts TLS on `starttls`."""

    def run(conn: socket.socket) -> None:
        conn.sendall(greeting)
        reader = conn.makefile("rb")
        while line := reader.readline():
            command = line.strip().split(b" ")[0].upper()
            if command == starttls:
                conn.sendall(ready)
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
                return
            conn.sendall(replies.get(command, b"500 what?\r\n"))

    return run


Dialogue = tuple[bytes, dict[bytes, bytes], bytes, bytes]
SMTP: Dialogue = (
    b"220 mail.example.org ESMTP\r\n",
    {
        b"EHLO": b"250-mail.example.org\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
        b"LHLO": b"250-mail.example.org\r\n250 STARTTLS\r\n",
    },
    b"STARTTLS",
    b"220 go ahead\r\n",
)
POP3: Dialogue = (
    b"+OK POP3 ready\r\n",
    {b"CAPA": b"+OK\r\nUSER\r\nSTLS\r\n.\r\n"},
    b"STLS",
    b"+OK begin TLS\r\n",
)
SIEVE: Dialogue = (
    b'"IMPLEMENTATION" "x"\r\n"SIEVE" "fileinto"\r\n"STARTTLS"\r\nOK "ready"\r\n',
    {},
    b"STARTTLS",
    b'OK "begin"\r\n',
)


@pytest.mark.parametrize(
    ("protocol", "dialogue"),
    [("smtp", SMTP), ("submission", SMTP), ("lmtp", SMTP), ("pop3", POP3), ("sieve", SIEVE)],
)
def test_starttls_dialogues(
    tmp_path: Path,
    server: Callable[[Behaviour], int],
    protocol: str,
    dialogue: tuple[bytes, dict[bytes, bytes], bytes, bytes],
) -> None:
    """Each STARTTLS dialogue reaches TLS and captures the served chain."""
    port = server(line_server(tls_context(tmp_path, "leaf-2026.pem", "issuing-r2.pem"), *dialogue))
    report = probe_report([Target("127.0.0.1", port, protocol, "mail.example.org")], OPTIONS, 5)
    assert report.findings == ()
    assert len(report.chains[0].certs) == 2
