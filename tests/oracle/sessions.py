"""One running Dovecot and one Postfix, reloaded with each file shape, and a TLS client that
records what they send. Each shape's configuration carries a marker in the greeting (Dovecot
`login_greeting`, Postfix `smtpd_banner`), so a reload is known to be in effect when the
greeting shows it: a bounded poll, no sleeps standing in for readiness."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography import x509

from tests.conftest import need_binary
from tests.daemons import dovecot, postfix

TIMEOUT = 10.0


@dataclass(frozen=True)
class Served:
    """One handshake: the certificates sent (none if it failed), and what was said."""

    certs: tuple[x509.Certificate, ...]
    client: str  # the client's error, if any
    log: str  # the daemon's complaints logged since the reload


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # record what is sent; openssl verify judges it
    return context


def _chain(tls: ssl.SSLSocket) -> tuple[x509.Certificate, ...]:
    chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
    ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    return tuple(x509.load_der_x509_certificate(der) for der in ders)


def _poll(check: object, what: str, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened; log: {complaints(log, 0)}")
        time.sleep(0.05)  # polling interval of the readiness check, bounded by the deadline


def complaints(log: Path, offset: int) -> str:
    """Error, fatal and warning lines logged after `offset`, without their prefixes."""
    if not log.exists():
        return ""
    text = log.read_bytes()[offset:].decode(errors="replace")
    words = ("error", "fatal", "warning")
    topics = ("ssl", "tls", "key", "cert")  # not the bounce of the postmaster notice
    lines = [
        line.split(": ", 1)[-1]
        for line in text.splitlines()
        if any(w in line.lower() for w in words) and any(t in line.lower() for t in topics)
    ]
    return " | ".join(lines)


class DovecotSession:
    """Dovecot 2.3 reloaded (`doveadm reload`) with each shape's ssl_cert and ssl_key."""

    def __init__(self, root: Path, ports: dict[str, int], config: Path) -> None:
        self.root, self.ports, self.config = root, ports, config
        self.log = root / "dovecot" / "dovecot.log"
        self.count = 0

    def serve(self, cert_file: Path, key_file: Path) -> tuple[Served, Path]:
        self.count += 1
        marker = f"shape-{self.count}"
        offset = self.log.stat().st_size if self.log.exists() else 0
        (self.root / "shape.conf").write_text(
            f"login_greeting = {marker}\nssl_cert = <{cert_file}\nssl_key = <{key_file}\n"
        )
        reload = [need_binary("doveadm"), "-c", str(self.config), "reload"]
        subprocess.run(reload, check=True, capture_output=True, timeout=30)
        _poll(lambda: marker in self._plain_greeting(), f"reload to {marker}", self.log)
        certs, client = self._imaps(marker)
        return Served(certs, client, complaints(self.log, offset)), self.config

    def _plain_greeting(self) -> str:
        with socket.create_connection(("127.0.0.1", self.ports["imap"]), timeout=TIMEOUT) as s:
            return s.recv(4096).decode(errors="replace")

    def _imaps(self, marker: str) -> tuple[tuple[x509.Certificate, ...], str]:
        sock = socket.create_connection(("127.0.0.1", self.ports["imaps"]), timeout=TIMEOUT)
        try:
            with _context().wrap_socket(sock, server_hostname="mail.example.org") as tls:
                greeting = tls.recv(4096).decode(errors="replace")
                assert marker in greeting, f"an old login process answered: {greeting}"
                return _chain(tls), ""
        except (ssl.SSLError, OSError) as error:
            return (), str(error)
        finally:
            sock.close()


class PostfixSession:
    """Postfix reloaded (`postconf -e`, SIGHUP to its master) with each shape's smtpd files."""

    def __init__(self, ports: dict[str, int], config: Path) -> None:
        self.ports, self.config = ports, config
        self.log = config.parent / "postfix.log"
        self.count = 0

    def serve(self, cert_file: Path, key_file: Path) -> tuple[Served, Path]:
        self.count += 1
        marker = f"shape-{self.count}"
        offset = self.log.stat().st_size if self.log.exists() else 0
        settings = [
            f"smtpd_tls_cert_file = {cert_file}",
            f"smtpd_tls_key_file = {key_file}",
            f"smtpd_banner = $myhostname ESMTP {marker}",
        ]
        edit = [need_binary("postconf"), "-c", str(self.config), "-e", *settings]
        subprocess.run(edit, check=True, capture_output=True, timeout=30)
        # What `postfix reload` does in the end; its script first spends ~2 s on checks.
        master = int((self.config.parent / "queue" / "pid" / "master.pid").read_text())
        os.kill(master, signal.SIGHUP)
        result: list[tuple[tuple[x509.Certificate, ...], str]] = []
        _poll(lambda: self._starttls(marker, result), f"reload to {marker}", self.log)
        certs, client = result[-1]
        return Served(certs, client, complaints(self.log, offset)), self.config / "main.cf"

    def _starttls(
        self, marker: str, result: list[tuple[tuple[x509.Certificate, ...], str]]
    ) -> bool:
        """One SMTP session; False if an smtpd of the old configuration answered it."""
        with socket.create_connection(("127.0.0.1", self.ports["smtp"]), timeout=TIMEOUT) as sock:
            reader = sock.makefile("rb")
            if marker not in _smtp_reply(reader):
                return False
            sock.sendall(b"EHLO client.example.org\r\n")
            _smtp_reply(reader)
            sock.sendall(b"STARTTLS\r\n")
            answer = _smtp_reply(reader)
            if not answer.startswith("220"):
                result.append(((), f"STARTTLS answered: {answer.strip()}"))
                return True
            try:
                with _context().wrap_socket(sock, server_hostname="mail.example.org") as tls:
                    result.append((_chain(tls), ""))
            except (ssl.SSLError, OSError) as error:
                result.append(((), str(error)))
            return True


def _smtp_reply(reader: BinaryIO) -> str:
    """One SMTP reply, all its lines (bounded: 100 lines)."""
    lines = []
    for _ in range(100):
        line = reader.readline(1000).decode(errors="replace")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            break
    return "".join(lines)


@contextmanager
def sessions(
    root: Path, cert_file: Path, key_file: Path
) -> Iterator[tuple[DovecotSession, PostfixSession]]:
    """Both daemons started once with a good file; each shape then reloads them."""
    (root / "shape.conf").write_text("")
    with dovecot(root, cert_file, key_file, extra=f"!include {root}/shape.conf\n") as imap:
        main = (
            f"smtpd_tls_cert_file = {cert_file}\nsmtpd_tls_key_file = {key_file}\n"
            "smtpd_tls_security_level = may\n"
        )
        with postfix(root, main) as smtp:
            yield (
                DovecotSession(root, imap.ports, imap.config),
                PostfixSession(smtp.ports, smtp.config),
            )
