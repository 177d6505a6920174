"""Connect, speak STARTTLS if asked, shake hands, and capture the chain exactly as it was sent."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass

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
    """One connection; every failure becomes data (`error_code`), never an exception."""
    host, port, starttls, servername = target.host, target.port, target.starttls, target.servername
    base = WireChain(target)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        return _failed(base, "endpoint-unreachable", f"cannot connect: {error.strerror or error}")
    try:
        if starttls is not None:
            DIALOGUES[starttls](LineReader(sock))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # capture whatever is sent; mailtls judges it
        name = servername if servername is not None else (None if _is_ip(host) else host)
        with context.wrap_socket(sock, server_hostname=name) as tls:
            return WireChain(target, _sent_chain(tls), tls.version())
    except ProbeError as error:
        return _failed(base, error.code, str(error))
    except ssl.SSLError as error:
        return _failed(
            base, "tls-handshake-failed", f"TLS handshake failed: {error.reason or error}"
        )
    except TimeoutError:
        return _failed(base, "endpoint-unreachable", "the server stopped answering (timeout)")
    except OSError as error:
        return _failed(base, "protocol-error", f"the connection broke: {error.strerror or error}")
    finally:
        sock.close()


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
