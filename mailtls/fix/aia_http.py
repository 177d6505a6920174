"""A small HTTP/1.1 GET for AIA answers: one deadline for the whole exchange (connect, headers,
body, redirects), checked addresses, every part of the answer bounded. A hostile URL or answer
is a `Refused` reason, never another exception."""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailtls.net import Address, Deadline, IpAddress, connect, ip_literal, resolve

MAX_BYTES = 1024 * 1024
MAX_LINE = 8192
MAX_HEADERS = 100
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Never fetched by default: a certificate's URL must not make root ask the cloud metadata
# service (169.254.169.254, fd00:ec2::254) or a link-local neighbour; 0.0.0.0 and :: reach
# the machine itself on Linux under another name than loopback.
BLOCKED: tuple[tuple[Network, str], ...] = (
    (ipaddress.ip_network("169.254.0.0/16"), "a link-local address (cloud metadata)"),
    (ipaddress.ip_network("fe80::/10"), "a link-local address"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "the cloud metadata address"),
    (ipaddress.ip_network("0.0.0.0/8"), "an unspecified address"),
    (ipaddress.ip_network("::/128"), "an unspecified address"),
)
_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?")


class Refused(Exception):
    """Why a URL was not fetched or its answer not used, in words for the admin."""


def shown(text: str | bytes, limit: int = 80) -> str:
    """Hostile text made safe to print: printable ASCII only, the rest escaped, cut short."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    safe = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text[:limit])
    return safe + ("..." if len(text) > limit else "")


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(text: str) -> Url:
    """An http(s) URL with nothing that could smuggle a header or a second request."""
    if not text.isascii() or any(c <= " " or c == "\x7f" for c in text):
        raise Refused(f"{shown(text)}: spaces, control or non-ASCII characters in the URL")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise Refused(f"{shown(text)}: not a URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"{shown(text)}: only http and https are fetched")
    if not parts.hostname or parts.username is not None:
        raise Refused(f"{shown(text)}: no host, or credentials in the URL")
    if port == 0:
        raise Refused(f"{shown(text)}: port 0")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Url(scheme, parts.hostname, port or (443 if scheme == "https" else 80), target)


def blocked_reason(ip: IpAddress, blocked: Sequence[tuple[Network, str]]) -> str | None:
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:169.254.169.254 is the same host
    for candidate in (ip, mapped) if mapped is not None else (ip,):
        for network, reason in blocked:
            if candidate.version == network.version and candidate in network:
                return reason
    return None


def allowed(url: Url, deadline: Deadline, blocked: Sequence[tuple[Network, str]]) -> list[Address]:
    """The host's addresses, minus those never fetched; none left is a refusal, said before
    any packet is sent."""
    addresses = resolve(url.host, url.port, deadline)
    kept, refused = [], []
    for family, sockaddr in addresses:
        reason = blocked_reason(ip_literal(sockaddr[0]) or ipaddress.ip_address("::"), blocked)
        if reason is None:
            kept.append((family, sockaddr))
        else:
            refused.append(f"{sockaddr[0]} is {reason}")
    if not kept:
        said = "; ".join(dict.fromkeys(refused)) or "no address"
        raise Refused(f"{url.host}: {said}, never fetched")
    return kept


class Reader:
    """Lines and bodies from `recv` (b"" at the end), each bounded. One growing buffer and a
    read position: a million one-byte chunks cost a million small steps, not quadratic time."""

    def __init__(self, recv: Callable[[], bytes]) -> None:
        self.recv = recv
        self.buffer = bytearray()
        self.pos = 0

    def _more(self) -> bool:
        chunk = self.recv()
        if self.pos > 65536:
            del self.buffer[: self.pos]
            self.pos = 0
        self.buffer += chunk
        return bool(chunk)

    def line(self, what: str) -> bytes:
        while (end := self.buffer.find(b"\n", self.pos, self.pos + MAX_LINE + 1)) < 0:
            if len(self.buffer) - self.pos > MAX_LINE:
                raise Refused(f"{what} longer than {MAX_LINE} bytes")
            if not self._more():
                raise Refused(f"the answer ended inside {what}")
        line = bytes(self.buffer[self.pos : end])
        self.pos = end + 1
        return line.removesuffix(b"\r")

    def exactly(self, size: int, what: str) -> bytes:
        while len(self.buffer) - self.pos < size:
            if not self._more():
                raise Refused(f"the answer ended inside {what}")
        data = bytes(self.buffer[self.pos : self.pos + size])
        self.pos += size
        return data

    def rest(self, limit: int) -> bytes:
        while len(self.buffer) - self.pos <= limit and self._more():
            pass
        return bytes(self.buffer[self.pos :])


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in order
    body: bytes = b""

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def read_head(reader: Reader) -> Response:
    first = reader.line("the status line")
    status = _STATUS.fullmatch(first)
    if status is None:
        raise Refused(f"not an HTTP answer: {shown(first)}")
    headers: list[tuple[str, str]] = []
    while line := reader.line("a header line"):
        if len(headers) == MAX_HEADERS:
            raise Refused(f"more than {MAX_HEADERS} header lines")
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise Refused(f"a malformed header line: {shown(line)}")
        headers.append((name.decode().lower(), value.strip(b" \t").decode("latin-1")))
    return Response(int(status.group(1)), shown(status.group(2) or b""), tuple(headers))


def read_body(reader: Reader, head: Response) -> bytes:
    """The body by chunked encoding, Content-Length, or up to the close; over MAX_BYTES is
    refused without reading further."""
    codings = [c.strip().lower() for v in head.header("transfer-encoding") for c in v.split(",")]
    if codings:
        if codings != ["chunked"]:
            raise Refused(f"transfer encoding {shown(', '.join(codings))} is not supported")
        return _chunked(reader)
    lengths = set(head.header("content-length"))
    if len(lengths) > 1 or any(not v.isdigit() or len(v) > 18 for v in lengths):
        raise Refused(f"a malformed Content-Length: {shown(', '.join(sorted(lengths)))}")
    if lengths:
        size = int(lengths.pop())
        if size > MAX_BYTES:
            raise Refused(f"an answer of {size} bytes, more than {MAX_BYTES // 1024} KiB")
        return reader.exactly(size, "the body")
    body = reader.rest(MAX_BYTES)
    if len(body) > MAX_BYTES:
        raise Refused(f"an answer of more than {MAX_BYTES // 1024} KiB")
    return body


def _chunked(reader: Reader) -> bytes:
    body = bytearray()
    while True:
        line = reader.line("a chunk size line")
        size = _CHUNK.fullmatch(line)
        if size is None:
            raise Refused(f"bad chunked encoding: {shown(line)}")
        length = int(size.group(1), 16)
        if len(body) + length > MAX_BYTES:
            raise Refused(f"an answer of more than {MAX_BYTES // 1024} KiB")
        if length == 0:
            break
        body += reader.exactly(length, "a chunk")
        if reader.line("the end of a chunk"):
            raise Refused("bad chunked encoding: a chunk longer than its size")
    for _ in range(MAX_HEADERS + 1):  # trailers, then the empty line
        if not reader.line("a trailer line"):
            return bytes(body)
    raise Refused(f"more than {MAX_HEADERS} trailer lines")


def read_response(recv: Callable[[], bytes]) -> Response:
    """Head and, for a 200, the body. Raises only Refused (and what `recv` raises)."""
    reader = Reader(recv)
    head = read_head(reader)
    if head.status != 200:
        return head
    return Response(head.status, head.reason, head.headers, read_body(reader, head))


def _exchange(url: Url, deadline: Deadline, blocked: Sequence[tuple[Network, str]]) -> Response:
    sock = connect(allowed(url, deadline, blocked), deadline)
    try:
        if url.scheme == "https":
            deadline.arm(sock)  # the whole handshake gets only the time left
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=url.host)
        request = (
            f"GET {url.target} HTTP/1.1\r\nHost: {url.host_header}\r\nUser-Agent: mailtls\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n"
        )
        deadline.arm(sock)
        sock.sendall(request.encode("ascii"))

        def recv() -> bytes:
            deadline.arm(sock)
            return sock.recv(65536)

        return read_response(recv)
    finally:
        sock.close()


def http_get(
    url: str, deadline: Deadline, blocked: Sequence[tuple[Network, str]] = BLOCKED
) -> bytes:
    """The body of a 200 answer to GET `url`, following at most MAX_REDIRECTS http(s) hops,
    all within `deadline`. Raises Refused, or OSError (TimeoutError at the deadline)."""
    for _ in range(MAX_REDIRECTS + 1):
        response = _exchange(parse_url(url), deadline, blocked)
        if response.status not in REDIRECTS:
            if response.status != 200:
                raise Refused(f"HTTP Error {response.status}: {response.reason}")
            return response.body
        (location, *others) = response.header("location") or [""]
        if not location or others:
            raise Refused(f"HTTP {response.status} without one Location")
        try:
            url = urllib.parse.urljoin(url, location)
        except ValueError:
            raise Refused(f"a redirect to {shown(location)}: not a URL") from None
    raise Refused(f"more than {MAX_REDIRECTS} redirects")


def socket_error(error: OSError) -> str:
    """An OSError in a few safe words."""
    if isinstance(error, ssl.SSLError):
        return f"TLS: {shown(error.reason or str(error))}"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host ({shown(error.strerror or str(error))})"
    return shown(error.strerror or str(error), 120)
