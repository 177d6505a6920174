"""TLSA record data computed from certificates and keys (RFC 6698 §2.1, RFC 7671 §5)."""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailtls.errors import UsageError

# Certificate usages, selectors and matching types (RFC 6698 §2.1.1-2.1.3, RFC 7218 names).
DANE_TA, DANE_EE = 2, 3
FULL_CERT, SPKI = 0, 1
EXACT, SHA256, SHA512 = 0, 1, 2
USAGES = (0, 1, DANE_TA, DANE_EE)
SELECTORS = (FULL_CERT, SPKI)
MATCHING_TYPES = (EXACT, SHA256, SHA512)

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PRESENTATION = re.compile(r"^\s*(\d{1,3})\s+(\d{1,3})\s+(\d{1,3})\s+([0-9a-fA-F\s]+)$")


class TlsaRecord(NamedTuple):
    """One TLSA record's RDATA: a plain tuple, so `(3, 1, 1, data)` compares equal to it."""

    usage: int
    selector: int
    matching_type: int
    data: bytes

    def text(self) -> str:
        """The RDATA in zone-file syntax: `3 1 1 <hex>`."""
        return f"{self.usage} {self.selector} {self.matching_type} {self.data.hex()}"


def spki_der(key: object) -> bytes:
    """A public key's SubjectPublicKeyInfo in DER, what selector 1 covers."""
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def selected(cert: x509.Certificate, selector: int) -> bytes:
    """The bytes a selector picks out of a certificate: all of it, or its public key."""
    if selector == FULL_CERT:
        return cert.public_bytes(serialization.Encoding.DER)
    if selector == SPKI:
        return certificate_spki(cert.public_bytes(serialization.Encoding.DER))
    raise ValueError(f"unknown TLSA selector {selector}")


def certificate_spki(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo bytes exactly as the certificate carries them.

    Not `public_key().public_bytes()`: re-encoding a parsed key can differ from what was
    signed (explicit EC parameters), and keys cryptography cannot load still have an SPKI.
    """
    _, tbs_start, _ = _der_item(der, 0)  # Certificate ::= SEQUENCE
    _, offset, _ = _der_item(der, tbs_start)  # tbsCertificate ::= SEQUENCE
    if der[offset] == 0xA0:  # [0] version, absent in v1 certificates
        offset = _der_item(der, offset)[2]
    for _ in range(5):  # serialNumber, signature, issuer, validity, subject
        offset = _der_item(der, offset)[2]
    _, _, end = _der_item(der, offset)
    return der[offset:end]


def _der_item(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, where the content starts, where the item ends) of the DER item at `offset`.
    The DER came from cryptography, which parsed it already: lengths are sound."""
    tag, first = der[offset], der[offset + 1]
    start = offset + 2
    if first < 0x80:
        return tag, start, start + first
    size = first & 0x7F
    length = int.from_bytes(der[start : start + size], "big")
    return tag, start + size, start + size + length


def digest(data: bytes, matching_type: int) -> bytes:
    """The association data for `data` under a matching type: itself, SHA-256 or SHA-512."""
    if matching_type == EXACT:
        return data
    if matching_type == SHA256:
        return hashlib.sha256(data).digest()
    if matching_type == SHA512:
        return hashlib.sha512(data).digest()
    raise ValueError(f"unknown TLSA matching type {matching_type}")


def for_cert(
    cert: x509.Certificate, usage: int, selector: int = SPKI, matching_type: int = SHA256
) -> TlsaRecord:
    """The record of `usage` that `cert` answers to (default: `x 1 1`, RFC 7671 §10.1)."""
    return TlsaRecord(
        usage, selector, matching_type, digest(selected(cert, selector), matching_type)
    )


def for_key(key: object, matching_type: int = SHA256) -> TlsaRecord:
    """The `3 1 x` record of a public key not yet in a certificate: a rollover's next key."""
    return TlsaRecord(DANE_EE, SPKI, matching_type, digest(spki_der(key), matching_type))


def parse(text: str) -> TlsaRecord:
    """A record from its zone-file RDATA, `3 1 1 ab12...` (hex may hold spaces)."""
    found = _PRESENTATION.match(text)
    if not found:
        raise UsageError(f"not a TLSA record (usage selector type hex): {text[:80]!r}")
    usage, selector, matching_type = (int(found[n]) for n in (1, 2, 3))
    hex_data = "".join(found[4].split())
    if len(hex_data) % 2 or max(usage, selector, matching_type) > 255:
        raise UsageError(f"not a TLSA record (odd hex or a field over 255): {text[:80]!r}")
    return TlsaRecord(usage, selector, matching_type, bytes.fromhex(hex_data))


def owner(name: str, port: int = 25, protocol: str = "tcp") -> str:
    """The owner name the records are published at: `_25._tcp.mail.example.org.`."""
    host = name.rstrip(".").lower()
    if not host or not all(_HOST_LABEL.match(label) for label in host.split(".")):
        raise UsageError(f"not a host name for a TLSA owner: {name[:80]!r}")
    return f"_{port}._{protocol}.{host}."


def zone_line(owner_name: str, record: TlsaRecord) -> str:
    """One resource record in zone-file syntax, ready to paste into a zone."""
    return f"{owner_name} IN TLSA {record.text()}"
