"""STARTTLS dialogues: IMAP, POP3, SMTP/submission, LMTP, ManageSieve, over a plain socket."""

from __future__ import annotations

import socket
from collections.abc import Callable

from mailtls.errors import MailtlsError

MAX_LINE = 8192
MAX_LINES = 200


class ProbeError(MailtlsError):
    """A server that answered wrongly, or not at all; `code` is the finding code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LineReader:
    """Reads CRLF lines with the socket's timeout, bounded in length and count."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.count = 0

    def line(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ProbeError("protocol-error", "the server sent a line too long to be mail")
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                raise ProbeError(
                    "endpoint-unreachable", "the server stopped answering (timeout)"
                ) from None
            if not chunk:
                raise ProbeError("protocol-error", "the server closed the connection early")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.count += 1
        if self.count > MAX_LINES:
            raise ProbeError("protocol-error", "the server keeps talking; not a mail server?")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")


def _expect(reader: LineReader, ok: Callable[[str], bool], what: str) -> str:
    line = reader.line()
    if not ok(line):
        raise ProbeError("protocol-error", f"expected {what}, got {line[:80]!r}")
    return line


def _smtp_reply(reader: LineReader, code: str, what: str) -> list[str]:
    lines = []
    while True:
        line = reader.line()
        if not line.startswith(code):
            raise ProbeError("protocol-error", f"expected {what} ({code}), got {line[:80]!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return lines


def smtp(reader: LineReader, hello: str = "EHLO") -> None:
    _smtp_reply(reader, "220", "an SMTP greeting")
    reader.send(f"{hello} mailtls.invalid")
    extensions = _smtp_reply(reader, "250", f"an answer to {hello}")
    if not any(e.upper().startswith("STARTTLS") for e in extensions):
        raise ProbeError("starttls-missing", f"the server does not offer STARTTLS after {hello}")
    reader.send("STARTTLS")
    _smtp_reply(reader, "220", "an answer to STARTTLS")


def lmtp(reader: LineReader) -> None:
    smtp(reader, "LHLO")


def imap(reader: LineReader) -> None:
    greeting = _expect(
        reader, lambda s: s.startswith("* OK") or s.startswith("* PREAUTH"), "an IMAP greeting"
    )
    capabilities = greeting.upper()
    if "STARTTLS" not in capabilities:
        reader.send("a CAPABILITY")
        while True:
            line = reader.line()
            capabilities += " " + line.upper()
            if line.startswith("a "):
                break
    if "STARTTLS" not in capabilities:
        raise ProbeError("starttls-missing", "the IMAP server does not offer STARTTLS")
    reader.send("b STARTTLS")
    _expect(reader, lambda s: s.startswith("b OK"), "b OK to STARTTLS")


def pop3(reader: LineReader) -> None:
    _expect(reader, lambda s: s.startswith("+OK"), "a POP3 greeting")
    reader.send("CAPA")
    _expect(reader, lambda s: s.startswith("+OK"), "+OK to CAPA")
    capabilities = []
    while (line := reader.line()) != ".":
        capabilities.append(line.upper())
    if "STLS" not in capabilities:
        raise ProbeError("starttls-missing", "the POP3 server does not offer STLS")
    reader.send("STLS")
    _expect(reader, lambda s: s.startswith("+OK"), "+OK to STLS")


def sieve(reader: LineReader) -> None:
    capabilities = []
    while not (line := reader.line()).upper().startswith("OK"):
        capabilities.append(line.upper())
    if not any(c.startswith('"STARTTLS"') for c in capabilities):
        raise ProbeError("starttls-missing", "the ManageSieve server does not offer STARTTLS")
    reader.send("STARTTLS")
    _expect(reader, lambda s: s.upper().startswith("OK"), "OK to STARTTLS")


DIALOGUES: dict[str, Callable[[LineReader], None]] = {
    "smtp": smtp,
    "submission": smtp,
    "lmtp": lmtp,
    "imap": imap,
    "pop3": pop3,
    "sieve": sieve,
}

# Standard mail ports: (protocol for STARTTLS, or None for implicit TLS, label)
PORTS: dict[int, tuple[str | None, str]] = {
    993: (None, "imaps"),
    995: (None, "pop3s"),
    465: (None, "smtps"),
    143: ("imap", "imap"),
    110: ("pop3", "pop3"),
    587: ("submission", "submission"),
    25: ("smtp", "smtp"),
    4190: ("sieve", "sieve"),
}
