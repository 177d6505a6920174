"""Path validation as TLS clients do it: cryptography's builder, with OpenSSL's view of CAs.

cryptography's Web PKI policy demands a keyUsage extension on every CA certificate and an
authorityKeyIdentifier on the leaf. OpenSSL, which Dovecot, Postfix and most mail clients use,
demands neither: a private root made with a plain `openssl req -x509` has no keyUsage, nor
have some older public roots (GeoTrust Global CA). Such chains validate for the clients, so
they must validate here. What OpenSSL does check stays checked: a CA must say CA:TRUE, and a
keyUsage, when present, must allow certificate signing.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.verification import Criticality, ExtensionPolicy


def _key_usage_allows_signing(
    _policy: verification.Policy, cert: x509.Certificate, usage: x509.KeyUsage | None
) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError(
            f"{_subject(cert)}: its keyUsage does not allow signing certificates (keyCertSign)"
        )


def _says_ca(
    _policy: verification.Policy, cert: x509.Certificate, constraints: x509.BasicConstraints
) -> None:
    if not constraints.ca:
        raise ValueError(f"{_subject(cert)}: its basicConstraints say CA:FALSE")


def _subject(cert: x509.Certificate) -> str:
    return repr(cert.subject.rfc4514_string())


@functools.cache
def _policies() -> tuple[ExtensionPolicy, ExtensionPolicy]:
    ca = (
        ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _key_usage_allows_signing)
        .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _says_ca)
    )
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None
    )
    return ca, ee


@dataclass(frozen=True)
class Validation:
    """What cryptography's path builder (RFC 5280 and Web PKI rules) made of a chain."""

    built: tuple[x509.Certificate, ...] | None  # leaf ... trust anchor, when valid
    error: str | None = None


def validate(
    leaf: x509.Certificate,
    served: list[x509.Certificate],
    store: verification.Store | None,
    at: dt.datetime,
    dns_names: Sequence[str],
) -> Validation:
    """Build and validate a path from `leaf` with the served certificates as intermediates,
    for the leaf's first DNS name (no store or no name: nothing to validate)."""
    if store is None or not dns_names:
        return Validation(None)
    verifier = server_verifier(store, at, dns_names[0])
    try:
        return Validation(tuple(verifier.verify(leaf, [c for c in served if c is not leaf])))
    except verification.VerificationError as error:
        return Validation(None, reason(error))


def server_verifier(
    store: verification.Store, at: dt.datetime, dns_name: str
) -> verification.ServerVerifier:
    """A verifier for `dns_name` (a wildcard name checked as one of its matches) at `at`."""
    ca, ee = _policies()
    return (
        verification.PolicyBuilder()
        .store(store)
        .time(at)
        .extension_policies(ca_policy=ca, ee_policy=ee)
        .build_server_verifier(x509.DNSName(dns_name.replace("*", "wildcard", 1)))
    )


_NOISE = re.compile(
    r"^validation failed: |candidates exhausted: |Python extension validator failed: ValueError: "
)
_OID = re.compile(r"\b\d+(?:\.\d+){3,}\b")


def reason(error: verification.VerificationError) -> str:
    """cryptography's reason in an admin's words: extension names, not dotted numbers."""
    text = _NOISE.sub("", str(error))
    text = _NOISE.sub("", text)  # the prefixes come nested
    return _OID.sub(lambda m: x509.ObjectIdentifier(m.group())._name, text)
