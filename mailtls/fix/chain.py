"""Build the chain a leaf should be served with: its issuers up to, not including, the root."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from mailtls.pki.chain import fingerprint, issued_by, self_signed
from mailtls.pki.trust import CertPool

MAX_DEPTH = 6

Source = tuple[x509.Certificate, str]


@dataclass(frozen=True)
class BuiltChain:
    intermediates: tuple[Source, ...]  # in order: the leaf's issuer first
    error: str | None = None


def build_chain(
    leaf: x509.Certificate,
    lookups: list[Callable[[x509.Certificate], list[Source]]],
    trust: CertPool,
    at: dt.datetime,
) -> BuiltChain:
    """Follow signatures from `leaf` until a trusted root signs the last certificate.

    `lookups` are asked in order (served certificates, --intermediates and files beside,
    AIA) for certificates that may have signed the current one; only those whose key
    verifies the signature count. Among several, the one valid now and for longest wins,
    so an expired cross-sign is never chosen where a valid path exists."""
    chain: list[Source] = []
    current = leaf
    seen = {fingerprint(leaf)}
    for _ in range(MAX_DEPTH):
        if _anchored(current, trust, at):
            return BuiltChain(tuple(chain))
        signers = _signers(current, lookups, seen, at)
        valid = [(c, s) for c, s in signers if c.not_valid_before_utc <= at < c.not_valid_after_utc]
        if not valid:
            issuer = current.issuer.rfc4514_string()
            said = "only expired ones" if signers else "none"
            return BuiltChain(tuple(chain), f"no valid certificate for '{issuer}' ({said} found)")
        best = max(valid, key=lambda item: item[0].not_valid_after_utc)
        chain.append(best)
        seen.add(fingerprint(best[0]))
        current = best[0]
    return BuiltChain(tuple(chain), f"no trusted root within {MAX_DEPTH} certificates")


def _anchored(cert: x509.Certificate, trust: CertPool, at: dt.datetime) -> bool:
    for root in trust.issuers_named(cert.issuer):
        if root.not_valid_after_utc > at and issued_by(cert, root):
            return True
    return False


def _signers(
    cert: x509.Certificate,
    lookups: list[Callable[[x509.Certificate], list[Source]]],
    seen: set[bytes],
    at: dt.datetime,
) -> list[Source]:
    """Signers of `cert`, asking each lookup in turn until one has a valid signer (the AIA
    lookup, last, goes to the network only when nothing on disk will do)."""
    found: list[Source] = []
    for lookup in lookups:
        found += [
            (c, s)
            for c, s in lookup(cert)
            if fingerprint(c) not in seen and not self_signed(c) and issued_by(cert, c)
        ]
        if any(c.not_valid_before_utc <= at < c.not_valid_after_utc for c, _ in found):
            break
    return found
