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
from mailtls.pki.load import name_strings, serial_number
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
    # The algorithm first: comparing two Names builds them (13 us), and this runs for every
    # certificate that is not self-signed (self_signed asks issued_by(cert, cert)).
    if not isinstance(algorithm, hashes.SHA1 | hashes.MD5) or child.issuer != parent.subject:
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


def signed_with(child: x509.Certificate, key: object) -> bool:
    """Whether `key` (a public key, no certificate around it: a DANE-TA `2 1 0` record's)
    made `child`'s signature."""
    params = child.signature_algorithm_parameters
    try:
        if isinstance(key, rsa.RSAPublicKey) and isinstance(params, padding.AsymmetricPadding):
            algorithm = child.signature_hash_algorithm
            if algorithm is None:
                return False
            key.verify(child.signature, child.tbs_certificate_bytes, params, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            key.verify(child.signature, child.tbs_certificate_bytes, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def key_fits(key: object, cert: x509.Certificate) -> bool:
    """Whether a private key, kept as its public half (mailtls/pki/load.py), belongs to `cert`."""
    try:
        return bool(key == cert.public_key())
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
    subject, issuer = name_strings(cert)
    return CertInfo(
        subject=subject,
        issuer=issuer,
        serial=format(serial_number(cert), "x"),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=fingerprint(cert).hex(),
        key_type=key_type,
        key_size=key_size,
        is_ca=is_ca(cert),
        self_signed=self_signed(cert),
    )


MAX_SERVED = 100  # OpenSSL's default verify depth: longer chains are cut there


@dataclass(frozen=True)
class PathFacts:
    """How the served certificates link up, from the leaf towards a root, the way a client
    builds the path: at each step a trusted root that signs the certificate ends the path,
    before any served certificate (a cross-sign) is followed past it."""

    path: tuple[int, ...]  # indexes into the served list: leaf, its issuer, ...
    unrelated: tuple[int, ...]  # served, but not on the leaf's path
    duplicates: tuple[int, ...]  # served again after an identical certificate
    root_served: int | None  # a self-signed certificate that ends the served path
    anchor: x509.Certificate | None  # the trusted root that ends the path
    missing: x509.Name | None  # the issuer neither served nor trusted
    candidate: x509.Certificate | None  # a certificate found elsewhere that is that issuer
    candidate_source: str = ""
    # A path to a trusted root exists, but OpenSSL takes this served certificate first and
    # never comes back to try the other (it does not backtrack).
    shadowed_by: int | None = None

    @property
    def in_order(self) -> bool:
        return self.path[0] == 0 and list(self.path) == sorted(self.path)


def valid_at(cert: x509.Certificate, at: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


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
    # Issuers are looked up by name: each step checks the signatures of the certificates
    # named as the issuer only (a file of 2,001 certificates served upside down cost 4 million
    # signature checks when every certificate was tried at every step).
    named: dict[x509.Name, list[int]] = {}
    for index in remaining:
        named.setdefault(served[index].subject, []).append(index)
    path, anchor = _openssl_path(served, leaf, named, trust, at)
    on_path = set(path)
    off_path = tuple(i for i in remaining if i not in on_path)
    last = served[path[-1]]
    root_served = path[-1] if self_signed(last) else None
    if root_served is not None:
        anchor = last if trust.holds(last) else None
    if anchor is not None and valid_at(anchor, at):
        return PathFacts(tuple(path), off_path, tuple(duplicates), root_served, anchor, None, None)
    found = _any_path(served, leaf, named, set(), trust, at, [MAX_SERVED * 4])
    if found is not None:
        other, other_anchor = [leaf, *found[0]], found[1]
        fork = next(i for i, (a, b) in enumerate(zip(path, other, strict=False)) if a != b)
        shadow = path[fork] if fork < len(path) else None
        end = other[-1] if self_signed(served[other[-1]]) else None
        taken = set(other)
        rest = tuple(i for i in remaining if i not in taken)
        return PathFacts(
            tuple(other), rest, tuple(duplicates), end, other_anchor, None, None, "", shadow
        )
    if root_served is not None or anchor is not None:
        return PathFacts(tuple(path), off_path, tuple(duplicates), root_served, anchor, None, None)
    signers = [(c, where) for c, where in candidates(last.issuer) if issued_by(last, c)]
    # Prefer an issuer valid now and for longest: the one a fixer should serve.
    signers.sort(key=lambda item: (item[0].not_valid_after_utc > at, item[0].not_valid_after_utc))
    candidate, source = signers[-1] if signers else (None, "")
    return PathFacts(
        tuple(path), off_path, tuple(duplicates), None, None, last.issuer, candidate, source
    )


def _openssl_path(
    served: list[x509.Certificate],
    leaf: int,
    named: dict[x509.Name, list[int]],
    trust: CertPool,
    at: dt.datetime,
) -> tuple[list[int], x509.Certificate | None]:
    """The path OpenSSL builds (trusted first, then the first served issuer valid now, in
    the order served), and the trusted root it ends at, if any. No backtracking: OpenSSL
    does not come back to try another served issuer when the one it took leads nowhere."""
    path, taken = [leaf], {leaf}
    while not self_signed(served[path[-1]]):
        current = served[path[-1]]
        candidates_named = named.get(current.issuer, [])
        parents = [i for i in candidates_named if i not in taken and issued_by(current, served[i])]
        anchors = [c for c in trust.issuers_named(current.issuer) if issued_by(current, c)]
        live = [c for c in anchors if valid_at(c, at)]
        held = [i for i in parents if trust.holds(served[i])]
        if live and not held:  # a client stops at its own root, whatever is served beside
            return path, max(live, key=lambda c: c.not_valid_after_utc)
        if not parents:
            return path, max(anchors, key=lambda c: c.not_valid_after_utc) if anchors else None
        choices = held or parents
        valid = [i for i in choices if valid_at(served[i], at)]
        parent = valid[0] if valid else max(choices, key=lambda i: served[i].not_valid_after_utc)
        path.append(parent)
        taken.add(parent)
    return path, None


def _any_path(
    served: list[x509.Certificate],
    index: int,
    named: dict[x509.Name, list[int]],
    used: set[int],
    trust: CertPool,
    at: dt.datetime,
    budget: list[int],
) -> tuple[list[int], x509.Certificate] | None:
    """A path from `served[index]` through valid served certificates to a valid trusted root,
    trying every branch as path builders that backtrack do (NSS, Apple, Android, cryptography);
    `budget` bounds the steps tried."""
    current = served[index]
    if self_signed(current):
        return ([], current) if trust.holds(current) and valid_at(current, at) else None
    for root in trust.issuers_named(current.issuer):
        if valid_at(root, at) and issued_by(current, root):
            return [], root
    for parent in named.get(current.issuer, []):
        budget[0] -= 1
        if budget[0] < 0:
            return None
        if parent in used or parent == index:
            continue
        if valid_at(served[parent], at) and issued_by(current, served[parent]):
            found = _any_path(served, parent, named, used | {index}, trust, at, budget)
            if found is not None:
                return [parent, *found[0]], found[1]
    return None


def twin(cert: x509.Certificate, others: list[x509.Certificate]) -> x509.Certificate | None:
    """The certificate among `others` with `cert`'s name and key: `cert` is then a
    cross-sign of it (or it of `cert`), certifying the same CA under another issuer."""
    for other in others:
        same_ca = other.subject == cert.subject and other.public_key() == cert.public_key()
        if same_ca and fingerprint(other) != fingerprint(cert):
            return other
    return None


def first_expired_above(
    cert: x509.Certificate,
    issuers: Callable[[x509.Certificate], list[x509.Certificate]],
    at: dt.datetime,
) -> x509.Certificate | None:
    """`cert` or the first certificate above it (its issuer, that one's issuer...; among
    `issuers(child)`) that has expired at `at`: a cross-sign is dead when anything above is."""
    current = cert
    for _ in range(MAX_SERVED):
        if current.not_valid_after_utc < at:
            return current
        if self_signed(current):
            return None
        parent = next((c for c in issuers(current) if issued_by(current, c)), None)
        if parent is None:
            return None
        current = parent
    return None
