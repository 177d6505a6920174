"""Connect, speak STARTTLS if asked, shake hands, and capture the chain exactly as it was sent."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509

from mailtls.net import Deadline, connect, resolve
from mailtls.probe.dialogue import DIALOGUES, LineReader, ProbeError

TIMEOUT = 10.0


@dataclass(frozen=True)
class Target:
    """Where to connect, how to reach TLS there, and the SNI name to send."""

    host: str
    port: int
    starttls: str | None
    servername: str | None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class WireChain:
    """What one listener sent: the certificates in order (DER), or why there are none."""

    target: Target
    certs: tuple[bytes, ...] = ()
    tls_version: str | None = None
    error_code: str | None = None
    error: str | None = None


def probe(target: Target, timeout: float = TIMEOUT) -> WireChain:
    """One connection; every failure becomes data (`error_code`), never an exception.
    `timeout` bounds all of it: resolving, connecting, the STARTTLS dialogue, the handshake."""
    deadline = Deadline(timeout)
    base = WireChain(target)
    try:
        sock = connect(resolve(target.host, target.port, deadline), deadline)
    except TimeoutError:
        return _failed(base, "endpoint-unreachable", f"no connection within {timeout:g} s")
    except OSError as error:
        return _failed(base, "endpoint-unreachable", f"cannot connect: {error.strerror or error}")
    reader = LineReader(sock, deadline)
    try:
        return _handshake(target, sock, reader)
    except ProbeError as error:
        return _failed(base, error.code, str(error))
    except TimeoutError:
        if target.starttls is None:
            return _failed(base, "endpoint-unreachable", f"no TLS handshake within {timeout:g} s")
        return _failed(base, "tls-handshake-failed", f"no TLS handshake within {timeout:g} s")
    except ssl.SSLError as error:
        return _failed(
            base, "tls-handshake-failed", f"TLS handshake failed: {error.reason or error}"
        )
    except OSError as error:
        return _failed(base, "protocol-error", f"the connection broke: {error.strerror or error}")
    finally:
        sock.close()


def _handshake(target: Target, sock: socket.socket, reader: LineReader) -> WireChain:
    if target.starttls is not None:
        DIALOGUES[target.starttls](reader)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # capture whatever is sent; mailtls judges it
    host = target.host
    name = target.servername if target.servername is not None else (None if _is_ip(host) else host)
    reader.deadline.arm(sock)  # CPython bounds the whole handshake by the socket's timeout
    try:
        tls = context.wrap_socket(sock, server_hostname=name)
    except UnicodeError:  # "a..b", a 64-letter label: the IDNA codec refuses it
        raise ProbeError(
            "tls-handshake-failed", f"cannot send the SNI name {name!a}: not a host name"
        ) from None
    with tls:
        chain = _sent_chain(tls)
        problem = unreadable(chain)
        if problem is not None:
            raise ProbeError("protocol-error", problem)
        return WireChain(target, chain, tls.version())


def unreadable(chain: tuple[bytes, ...]) -> str | None:
    """Why a certificate sent does not parse, if one does not. cryptography reads names
    lazily, so they are read here: a hostile server's certificate is its finding, not a crash
    later in the checks."""
    for number, der in enumerate(chain, start=1):
        try:
            cert = x509.load_der_x509_certificate(der)
            cert.subject.rfc4514_string() + cert.issuer.rfc4514_string()
        except (ValueError, TypeError, x509.InvalidVersion) as error:
            return f"certificate {number} of those sent does not parse: {str(error)[:120]!a}"
    return None


def _sent_chain(tls: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The peer's chain as sent. Python 3.13 has get_unverified_chain(); 3.10 to 3.12 keep
    the same method on the private _sslobj."""
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return tuple(public())
    chain = tls._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
    return tuple(cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in chain)  # type: ignore[attr-defined]


def _failed(base: WireChain, code: str, message: str) -> WireChain:
    return WireChain(base.target, error_code=code, error=message)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
