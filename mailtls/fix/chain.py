"""Build the chain a leaf should be served with: its issuers up to, not including, the root."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509

from mailtls.pki.chain import (
    fingerprint,
    first_expired_above,
    is_ca,
    issued_by,
    self_signed,
    twin,
    valid_at,
)
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
    verifies the signature count, and only those valid now. Among several, the one valid for
    longest is tried first, so an expired cross-sign is never chosen where a valid path
    exists; when it leads to no trusted root (a cross-sign by a root this trust store lacks),
    the next is tried. The search is bounded: MAX_DEPTH steps, MAX_TRIES signers in all."""
    search = _Search(lookups, trust, at)
    found = search.extend(leaf, [], {fingerprint(leaf)})
    if found is not None:
        return BuiltChain(tuple(found))
    return search.first_failure or BuiltChain((), "no trusted root found")


MAX_TRIES = 64


class _Search:
    """Depth first, the preferred signer first. What is said when nothing works is what the
    preferred path met: the partial chain and the reason it stopped."""

    def __init__(
        self,
        lookups: list[Callable[[x509.Certificate], list[Source]]],
        trust: CertPool,
        at: dt.datetime,
    ) -> None:
        self.lookups, self.trust, self.at = lookups, trust, at
        self.tries = MAX_TRIES
        self.first_failure: BuiltChain | None = None

    def extend(
        self, current: x509.Certificate, chain: list[Source], seen: set[bytes]
    ) -> list[Source] | None:
        if _anchored(current, self.trust, self.at):
            return chain
        if len(chain) >= MAX_DEPTH:
            self._failed(chain, f"no trusted root within {MAX_DEPTH} certificates")
            return None
        signers = _signers(current, self.lookups, seen, self.at)
        at = self.at
        valid = [(c, s) for c, s in signers if c.not_valid_before_utc <= at < c.not_valid_after_utc]
        if not valid:
            issuer = current.issuer.rfc4514_string()
            said = "only expired ones" if signers else "none"
            self._failed(chain, f"no valid certificate for '{issuer}' ({said} found)")
            return None
        for signer in sorted(valid, key=lambda item: item[0].not_valid_after_utc, reverse=True):
            if self.tries <= 0:
                break
            self.tries -= 1
            found = self.extend(signer[0], [*chain, signer], seen | {fingerprint(signer[0])})
            if found is not None:
                return found
        return None

    def _failed(self, chain: list[Source], reason: str) -> None:
        if self.first_failure is None:
            self.first_failure = BuiltChain(tuple(chain), reason)


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


def live_cross_signs(
    served: Sequence[x509.Certificate],
    chain: list[x509.Certificate],
    trust: CertPool,
    issuers: Callable[[x509.Certificate], list[x509.Certificate]],
    at: dt.datetime,
) -> list[x509.Certificate]:
    """What a rebuilt file keeps of what it served off the path: each cross-sign of a CA on
    the new chain or of its root (same name and key) that is valid now, as is everything
    above it. Someone served it for clients that do not trust the root (the audit's
    cross-sign-served); a rebuild for another reason must not take it from them. In the
    order served, after the chain: each still follows the certificate it can sign."""
    anchors = [c for c in trust.issuers_named(chain[-1].issuer) if issued_by(chain[-1], c)]
    on_chain = {fingerprint(c) for c in chain}
    kept = []
    for cert in served:
        if fingerprint(cert) in on_chain or self_signed(cert) or not is_ca(cert):
            continue
        if twin(cert, [*chain, *anchors]) is None or not valid_at(cert, at):
            continue
        if first_expired_above(cert, issuers, at) is None:
            kept.append(cert)
            on_chain.add(fingerprint(cert))
    return kept
