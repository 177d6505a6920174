"""Certificates that break X.509 in one way each, made by editing DER bytes (as
fixtures/build.py makes its SHA-1 leaf): the builder itself refuses to make them."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY = ec.derive_private_key(0x6D61696C746C73, ec.SECP256R1())  # fixed: same bytes every run
VERSION_3_SERIAL_1 = bytes.fromhex("a003020102020101")


def base(common_name: str = "bad.example.org", *, ca: bool = False) -> x509.Certificate:
    """A self-signed P-256 certificate, serial 1, with a SAN, an issuer alt name (same OID
    length as the SAN's) and basicConstraints."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("malformed.example")]), False)
        .add_extension(x509.IssuerAlternativeName([x509.DNSName("issuer.example")]), False)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
        .sign(KEY, hashes.SHA256())
    )


EDITS = {
    # the issuer alt name's OID (2.5.29.18) becomes the SAN's (2.5.29.17): two SANs
    "duplicate-san": (bytes.fromhex("0603551d12"), bytes.fromhex("0603551d11")),
    # the SAN's dNSName [2] becomes a SEQUENCE of garbage
    "malformed-san": (b"\x82\x11malformed.example", b"\x30\x11malformed.example"),
    # cA FALSE is left out in DER; cA TRUE is 01 01 ff: make the BOOLEAN 0x05
    "malformed-basic-constraints": (bytes.fromhex("30030101ff"), bytes.fromhex("3003010105")),
    "version-4": (VERSION_3_SERIAL_1, bytes.fromhex("a003020103020101")),
    # id-ecPublicKey 1.2.840.10045.2.1 becomes 1.2.840.10045.2.9: nobody's key type
    "unknown-key-algorithm": (
        bytes.fromhex("06072a8648ce3d0201"),
        bytes.fromhex("06072a8648ce3d0209"),
    ),
    "zero-serial": (VERSION_3_SERIAL_1, bytes.fromhex("a003020102020100")),
    "negative-serial": (VERSION_3_SERIAL_1, bytes.fromhex("a0030201020201ff")),
}


def malformed_der(case: str, common_name: str = "bad.example.org") -> bytes:
    """The DER of a certificate broken as `case` says (its signature no longer verifies)."""
    old, new = EDITS[case]
    der = base(common_name, ca=case == "malformed-basic-constraints").public_bytes(
        serialization.Encoding.DER
    )
    assert der.count(old) == 1, case
    return der.replace(old, new)


def malformed_pem(case: str, common_name: str = "bad.example.org") -> bytes:
    body = base64.encodebytes(malformed_der(case, common_name))
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


def long_chain(length: int) -> list[x509.Certificate]:
    """Leaf first, then `length - 1` CAs, each signed by the next, the last self-signed."""
    names = [f"CA {n}" for n in range(length - 1)]
    start, end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)

    def cert(subject: str, issuer: str, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(KEY.public_key())
            .serial_number(len(subject) + 1)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), False
            )
        return builder.sign(KEY, hashes.SHA256())

    chain = [cert("long.example.org", names[0], False)]
    chain += [cert(name, names[min(n + 1, len(names) - 1)], True) for n, name in enumerate(names)]
    return chain
