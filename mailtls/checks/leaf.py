"""Leaf checks: dates, names, key strength, signature hash, what the certificate is for."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from mailtls.checks.registry import finding
from mailtls.models import Endpoint, Finding
from mailtls.pki.chain import extensions, is_ca, key_description

# Go's crypto/tls refuses larger RSA keys (GODEBUG tlsmaxrsasize, default 8192).
MAX_RSA_BITS = 8192


def leaf_findings(
    endpoint: Endpoint, leaf: x509.Certificate, path: str, at: dt.datetime, warn_days: int | None
) -> Iterator[Finding]:
    yield from date_findings(endpoint, leaf, path, at, warn_days)
    yield from name_findings(endpoint, leaf, path)
    yield from fitness_findings(endpoint, leaf, path)


def fitness_findings(endpoint: Endpoint, leaf: x509.Certificate, path: str) -> Iterator[Finding]:
    """Key strength, signature hash, what the certificate is for: the same for every
    endpoint of a role that serves it (names are not looked at)."""
    yield from _strength(endpoint, leaf, path)
    yield from _purpose(endpoint, leaf, path)


def date_findings(
    endpoint: Endpoint, leaf: x509.Certificate, path: str, at: dt.datetime, warn_days: int | None
) -> Iterator[Finding]:
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if at > end:
        yield finding(
            "cert-expired",
            f"{path}: the certificate expired on {end:%Y-%m-%d %H:%M} UTC",
            endpoint=endpoint,
            path=path,
        )
    elif at < start:
        yield finding(
            "cert-not-yet-valid",
            f"{path}: the certificate is valid from {start:%Y-%m-%d %H:%M} UTC",
            endpoint=endpoint,
            path=path,
        )
    else:
        left = end - at
        # A third of the lifetime: 6-day certs warn at 2 days, 90-day at 30, a year at 4 months.
        limit = dt.timedelta(days=warn_days) if warn_days is not None else (end - start) / 3
        if left < limit:
            yield finding(
                "cert-expiring",
                f"{path}: the certificate expires on {end:%Y-%m-%d} UTC, in {left.days} days",
                endpoint=endpoint,
                path=path,
            )


@functools.lru_cache(maxsize=1 << 16)
def dns_names(leaf: x509.Certificate) -> tuple[str, ...]:
    try:
        names = extensions(leaf).get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(n.lower() for n in names.get_values_for_type(x509.DNSName))


def covers(pattern: str, name: str) -> bool:
    """RFC 6125: `*.example.org` covers exactly one label left of example.org."""
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _, tail = name.partition(".")
        return bool(head) and tail == pattern[2:]
    return False


def name_findings(endpoint: Endpoint, leaf: x509.Certificate, path: str) -> Iterator[Finding]:
    sans = dns_names(leaf)
    for name in endpoint.names:
        wanted = name.lower().lstrip(".")  # Postfix SNI `.example.org`: its parent domain too
        if not any(covers(p, wanted) or p == name.lower() for p in sans):
            shown = ", ".join(sans) or "no DNS names"
            yield finding(
                "name-mismatch",
                f"{path}: {name} is served with a certificate for {shown}",
                endpoint=endpoint,
                path=path,
            )


def _strength(endpoint: Endpoint, leaf: x509.Certificate, path: str) -> Iterator[Finding]:
    key_type, bits = key_description(leaf)
    weak = (key_type == "RSA" and bits < 2048) or key_type == "DSA"
    weak = weak or (key_type.startswith("ECDSA") and bits < 256)
    if weak:
        yield finding(
            "weak-key",
            f"{path}: a {bits}-bit {key_type} key is too weak",
            endpoint=endpoint,
            path=path,
        )
    if key_type == "RSA" and bits > MAX_RSA_BITS:
        yield finding(
            "key-too-large",
            f"{path}: a {bits}-bit RSA key: each handshake is slow, and Go clients refuse"
            f" RSA keys over {MAX_RSA_BITS} bits",
            endpoint=endpoint,
            path=path,
        )
    algorithm = leaf.signature_hash_algorithm
    if isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        yield finding(
            "weak-signature",
            f"{path}: signed with {algorithm.name.upper()}",
            endpoint=endpoint,
            path=path,
        )


def _purpose(endpoint: Endpoint, leaf: x509.Certificate, path: str) -> Iterator[Finding]:
    if endpoint.role != "server":
        return
    if is_ca(leaf):
        yield finding(
            "not-server-cert",
            f"{path}: the first certificate is a CA certificate;"
            " the server's own certificate must come first",
            endpoint=endpoint,
            path=path,
        )
        return
    try:
        usages = extensions(leaf).get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if (
        ExtendedKeyUsageOID.SERVER_AUTH not in usages
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usages
    ):
        yield finding(
            "not-server-cert",
            f"{path}: the certificate's extended key usage does not"
            " include TLS server authentication",
            endpoint=endpoint,
            path=path,
        )
