"""STARTTLS dialogues: IMAP, POP3, SMTP/submission, LMTP, ManageSieve, over a plain socket."""

from __future__ import annotations

import socket
from collections.abc import Callable

from mailtls.errors import MailtlsError
from mailtls.net import Deadline

MAX_LINE = 8192
MAX_LINES = 200


class ProbeError(MailtlsError):
    """A server that answered wrongly, or not at all; `code` is the finding code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LineReader:
    """Reads CRLF lines within the whole dialogue's deadline, bounded in length and count: a
    server that trickles a byte a second, talks forever or sends binary ends as a finding."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.count = 0
        self.received = 0

    def line(self) -> str:
        while (end := self.buffer.find(b"\n", 0, MAX_LINE + 1)) < 0:
            if len(self.buffer) > MAX_LINE:
                raise ProbeError("protocol-error", "the server sent a line too long to be mail")
            try:
                self.deadline.arm(self.sock)
                chunk = self.sock.recv(4096)
            except TimeoutError:
                raise self.late() from None
            except OSError as error:
                raise _broken(error) from None
            if not chunk:
                raise ProbeError("protocol-error", "the server closed the connection early")
            self.received += len(chunk)
            self.buffer += chunk
        line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
        self.count += 1
        if self.count > MAX_LINES:
            raise ProbeError("protocol-error", "the server keeps talking; not a mail server?")
        if b"\0" in line:
            raise ProbeError("protocol-error", "the server sent a NUL byte; not a mail server?")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def send(self, text: str) -> None:
        try:
            self.deadline.arm(self.sock)
            self.sock.sendall(text.encode() + b"\r\n")
        except TimeoutError:
            raise self.late() from None
        except OSError as error:
            raise _broken(error) from None

    def late(self) -> ProbeError:
        """The deadline passed: unreachable if the server never said a thing, else a server
        too slow to finish the dialogue."""
        seconds = f"{self.deadline.seconds:g} s"
        if not self.received:
            return ProbeError("endpoint-unreachable", f"no answer within the {seconds} deadline")
        return ProbeError(
            "protocol-error", f"the {seconds} deadline passed before the dialogue ended"
        )


def _broken(error: OSError) -> ProbeError:
    return ProbeError("protocol-error", f"the connection broke: {error.strerror or error}")


def shown(line: str) -> str:
    """A line of the server's, safe to print: quoted, control and bidi characters escaped."""
    return ascii(line[:80])


def _expect(reader: LineReader, ok: Callable[[str], bool], what: str) -> str:
    line = reader.line()
    if not ok(line):
        raise ProbeError("protocol-error", f"expected {what}, got {shown(line)}")
    return line


def _smtp_reply(reader: LineReader, code: str, what: str) -> list[str]:
    lines = []
    while True:
        line = reader.line()
        if not line.startswith(code):
            raise ProbeError("protocol-error", f"expected {what} ({code}), got {shown(line)}")
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
