"""Which TLSA records a chain matches, as a DANE SMTP client judges it (RFC 7671 §5, RFC 7672).

Pure: certificates and record tuples in, facts out. No DNS here; DNSSEC status is the
caller's to judge (an unsigned answer must not be used at all, RFC 7672 §2.2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from mailtls.dane.records import (
    DANE_EE,
    DANE_TA,
    EXACT,
    FULL_CERT,
    MATCHING_TYPES,
    SELECTORS,
    SHA256,
    SHA512,
    SPKI,
    TlsaRecord,
    digest,
    selected,
    spki_der,
)
from mailtls.pki.chain import is_ca, issued_by, signed_with

_DIGEST_SIZES = {SHA256: 32, SHA512: 64}


@dataclass(frozen=True)
class Match:
    """A record that matches a certificate `depth` steps above the leaf (0: the leaf)."""

    record: TlsaRecord
    depth: int


class Verdict(StrEnum):
    MATCH = "match"  # some usable record matches the chain
    ONLY_NEXT = "only-next"  # none matches the chain, one matches the key to be deployed
    MISMATCH = "mismatch"  # usable records exist and none matches: DANE senders defer mail
    NO_USABLE = "no-usable"  # no record a DANE SMTP client can use: it falls back to TLS


def usable(record: TlsaRecord) -> bool:
    """Whether an SMTP client uses the record. PKIX-TA(0) and PKIX-EE(1) are not for SMTP
    (RFC 7672 §3.1.3); unknown selectors and types, and digests of the wrong size, are
    unusable (RFC 7671 §4.1), and a set of only those is as good as no records."""
    if record.usage not in (DANE_TA, DANE_EE) or record.selector not in SELECTORS:
        return False
    if record.matching_type not in MATCHING_TYPES:
        return False
    size = _DIGEST_SIZES.get(record.matching_type)
    return size is None or len(record.data) == size


def issuer_path(chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The leaf and, above it, each served certificate that signed the one below, as a
    client builds the path from what the server sent (whatever order it was sent in)."""
    if not chain:
        return []
    path = [chain[0]]
    others = list(chain[1:])
    while others:  # each step takes one certificate out: bounded by the chain's length
        parent = next((c for c in others if issued_by(path[-1], c)), None)
        if parent is None:
            break
        path.append(parent)
        others.remove(parent)
    return path


def _candidates(
    record: TlsaRecord, path: list[x509.Certificate]
) -> list[tuple[int, x509.Certificate]]:
    if record.usage == DANE_EE:  # the leaf only, its names and dates ignored (RFC 7671 §5.1)
        return [(0, path[0])] if path else []
    # DANE-TA: a CA certificate the server sends on the leaf's path, the trust anchor
    # included when it is sent (RFC 7671 §5.2.2: with selector 1 it must be sent).
    return [(depth, cert) for depth, cert in enumerate(path) if depth and is_ca(cert)]


def strongest(records: Iterable[TlsaRecord]) -> list[TlsaRecord]:
    """The usable records a client compares, digest agility applied (RFC 7671 §9, as
    OpenSSL does for Postfix): for each usage and selector, only the strongest digest type
    present counts (SHA-512 over SHA-256), so a stale `3 1 2` makes a right `3 1 1` useless.
    Exact (0) records always count (checked with openssl s_client -dane_tlsa_rrdata)."""
    kept = [record for record in records if usable(record)]
    best: dict[tuple[int, int], int] = {}
    for record in kept:
        if record.matching_type != EXACT:
            key = (record.usage, record.selector)
            best[key] = max(best.get(key, 0), record.matching_type)
    return [
        record
        for record in kept
        if record.matching_type == EXACT
        or record.matching_type == best[(record.usage, record.selector)]
    ]


def matches(records: Iterable[TlsaRecord], chain: Sequence[x509.Certificate]) -> tuple[Match, ...]:
    """Every (record, depth) pair that matches; `chain` as served, the leaf first. A DANE-TA
    record that holds the trust anchor whole (`2 0 0`, `2 1 0`) also matches when the anchor
    is not sent but signed a certificate on the path (RFC 7671 §5.2.2): depth one above it."""
    path = issuer_path(chain)
    found = []
    for record in strongest(records):
        for depth, cert in _candidates(record, path):
            if digest(selected(cert, record.selector), record.matching_type) == record.data:
                found.append(Match(record, depth))
        if record.usage == DANE_TA and record.matching_type == EXACT:
            found += [Match(record, depth) for depth in _signed_by_anchor(record, path)]
    return tuple(dict.fromkeys(found))


def _signed_by_anchor(record: TlsaRecord, path: list[x509.Certificate]) -> list[int]:
    """Depths (one above the certificate signed) at which the anchor in a full DANE-TA
    record signed a certificate on the path; none when the data is no certificate or key."""
    anchor: x509.Certificate | None = None
    key: object = None
    try:
        if record.selector == FULL_CERT:
            anchor = x509.load_der_x509_certificate(record.data)
        else:
            key = serialization.load_der_public_key(record.data)
    except (ValueError, UnsupportedAlgorithm):
        return []
    found = []
    for depth, cert in enumerate(path):
        ok = issued_by(cert, anchor) if anchor is not None else signed_with(cert, key)
        if ok:
            found.append(depth + 1)
    return found


def key_matches(records: Iterable[TlsaRecord], public_key: object) -> tuple[TlsaRecord, ...]:
    """The `3 1 x` records a public key answers to: what a key not yet in a certificate
    (the next key of a rollover) will match once it is deployed."""
    spki = spki_der(public_key)
    return tuple(
        record
        for record in strongest(records)
        if record.usage == DANE_EE
        and record.selector == SPKI
        and digest(spki, record.matching_type) == record.data
    )


def judge(
    records: Sequence[TlsaRecord],
    chain: Sequence[x509.Certificate],
    next_key: object | None = None,
) -> Verdict:
    """What a DANE sender makes of these records and this chain (and the next key, if any)."""
    if not any(usable(record) for record in records):
        return Verdict.NO_USABLE
    if matches(records, chain):
        return Verdict.MATCH
    if next_key is not None and key_matches(records, next_key):
        return Verdict.ONLY_NEXT
    return Verdict.MISMATCH
