"""Facts about a served chain: which certificate signs which, what is missing, what is extra."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from mailtls.models import CertInfo
from mailtls.pki.load import serial_number
from mailtls.pki.trust import CertPool


@functools.lru_cache(maxsize=1 << 16)
def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """True when `parent`'s name is `child`'s issuer and its key made `child`'s signature.
    Cached: on a host with 10,000 chains the same intermediate is checked 10,000 times."""
    # verify_directly_issued_by compares the names itself, in Rust: building Python Name
    # objects to compare them first cost more than the signature check.
    try:
        child.verify_directly_issued_by(parent)
    except (TypeError, InvalidSignature):
        return False
    except ValueError:
        # cryptography refuses SHA-1 and MD5 signatures outright; weak-signature says so, but
        # the path must still be followed or a SHA-1 leaf would look like a missing issuer.
        return _legacy_signature_ok(child, parent)
    return True


def _legacy_signature_ok(child: x509.Certificate, parent: x509.Certificate) -> bool:
    algorithm = child.signature_hash_algorithm
    if child.issuer != parent.subject or not isinstance(algorithm, hashes.SHA1 | hashes.MD5):
        return False
    key = parent.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def key_fits(key: object, cert: x509.Certificate) -> bool:
    """Whether private `key` belongs to `cert`."""
    try:
        return bool(key.public_key() == cert.public_key())  # type: ignore[attr-defined]
    except (TypeError, AttributeError):
        return False


@functools.lru_cache(maxsize=1 << 16)
def fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def key_description(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


@functools.lru_cache(maxsize=1 << 16)
def extensions(cert: x509.Certificate) -> x509.Extensions:
    """`cert.extensions` parses every extension again at each access: parse once."""
    return cert.extensions


@functools.lru_cache(maxsize=1 << 16)
def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(extensions(cert).get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


@functools.lru_cache(maxsize=1 << 16)
def describe(cert: x509.Certificate) -> CertInfo:
    """The report's view of a certificate; cached, as one intermediate serves many chains."""
    key_type, key_size = key_description(cert)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(serial_number(cert), "x"),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=fingerprint(cert).hex(),
        key_type=key_type,
        key_size=key_size,
        is_ca=is_ca(cert),
        self_signed=self_signed(cert),
    )


@dataclass(frozen=True)
class PathFacts:
    """How the served certificates link up, from the leaf towards a root."""

    path: tuple[int, ...]  # indexes into the served list: leaf, its issuer, ...
    unrelated: tuple[int, ...]  # served, but not on the leaf's path
    duplicates: tuple[int, ...]  # served again after an identical certificate
    root_served: int | None  # a self-signed certificate that ends the served path
    anchor: x509.Certificate | None  # the trusted root that signs the path's end
    missing: x509.Name | None  # the issuer neither served nor trusted
    candidate: x509.Certificate | None  # a certificate found elsewhere that is that issuer
    candidate_source: str = ""

    @property
    def in_order(self) -> bool:
        return self.path[0] == 0 and list(self.path) == sorted(self.path)


def path_facts(
    served: list[x509.Certificate],
    trust: CertPool,
    candidates: Callable[[x509.Name], list[tuple[x509.Certificate, str]]],
    at: dt.datetime,
    leaf: int = 0,
) -> PathFacts:
    """Follow signatures from the leaf (`served[leaf]`) through the served certificates, then
    to the trust store; say what is missing and where a candidate for it was found."""
    seen: set[bytes] = set()
    duplicates, remaining = [], []
    for index, cert in enumerate(served):
        if fingerprint(cert) in seen:
            duplicates.append(index)
        else:
            seen.add(fingerprint(cert))
            if index != leaf:
                remaining.append(index)
    # By subject, so each step looks at the certificates named as the issuer only: a file of
    # 2,001 certificates served upside down cost 4 million signature checks, now 2,000.
    named: dict[x509.Name, list[int]] = {}
    for index in remaining:
        named.setdefault(served[index].subject, []).append(index)
    path, on_path = [leaf], {leaf}
    while not self_signed(served[path[-1]]):
        child = served[path[-1]]
        issuers = named.get(child.issuer, ())
        parent = next(
            (i for i in issuers if i not in on_path and issued_by(child, served[i])), None
        )
        if parent is None:
            break
        path.append(parent)
        on_path.add(parent)
    remaining = [i for i in remaining if i not in on_path]
    last = served[path[-1]]
    if self_signed(last):
        trusted = any(
            fingerprint(c) == fingerprint(last) for c in trust.issuers_named(last.subject)
        )
        anchor = last if trusted else None
        return PathFacts(
            tuple(path), tuple(remaining), tuple(duplicates), path[-1], anchor, None, None
        )
    anchors = [c for c in trust.issuers_named(last.issuer) if issued_by(last, c)]
    if anchors:
        anchor = max(anchors, key=lambda c: c.not_valid_after_utc)
        return PathFacts(tuple(path), tuple(remaining), tuple(duplicates), None, anchor, None, None)
    signers = [(c, where) for c, where in candidates(last.issuer) if issued_by(last, c)]
    # Prefer an issuer valid now and for longest: the one a fixer should serve.
    signers.sort(key=lambda item: (item[0].not_valid_after_utc > at, item[0].not_valid_after_utc))
    candidate, source = signers[-1] if signers else (None, "")
    return PathFacts(
        tuple(path), tuple(remaining), tuple(duplicates), None, None, last.issuer, candidate, source
    )
