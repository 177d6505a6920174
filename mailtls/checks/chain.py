"""Chain checks: missing, extra, misordered, duplicated, expired and untrusted certificates."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509 import verification

from mailtls.checks.files import Served
from mailtls.checks.leaf import dns_names
from mailtls.checks.registry import finding
from mailtls.models import Endpoint, Finding
from mailtls.pki.candidates import Candidates
from mailtls.pki.chain import (
    PathFacts,
    first_expired_above,
    path_facts,
    self_signed,
    valid_at,
)
from mailtls.pki.chain import twin as pki_twin
from mailtls.pki.trust import CertPool
from mailtls.pki.verify import Validation, validate


@dataclass(frozen=True)
class ChainContext:
    at: dt.datetime
    trust: CertPool
    candidates: Candidates
    store: verification.Store | None
    # Path validation of each served chain, by its certificates and leaf: the same files
    # named by Dovecot and by Postfix are validated once.
    validations: dict[tuple[tuple[x509.Certificate, ...], int], Validation] = field(
        default_factory=dict, compare=False
    )
    # Path facts by certificates, leaf and folder (where a missing issuer is looked for):
    # Dovecot's and Postfix's endpoints naming the same files are judged apart.
    facts: dict[tuple[tuple[x509.Certificate, ...], int, str], PathFacts] = field(
        default_factory=dict, compare=False
    )


def _name(cert: x509.Certificate | x509.Name) -> str:
    name = cert.subject if isinstance(cert, x509.Certificate) else cert
    common = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string()


def chain_findings(
    endpoint: Endpoint, group: Served, context: ChainContext, leaf: int = 0
) -> tuple[list[Finding], Validation]:
    """Findings about the served chain whose leaf is `group.certs[leaf]`.

    Most chains are right: when the validated path is exactly what is served (leaf first,
    then its issuers, perhaps the root), only the date checks remain. Anything else is taken
    apart signature by signature to say what is wrong."""
    served = group.certs[leaf]
    key = (tuple(group.certs), leaf)
    validation = context.validations.get(key)
    if validation is None:
        validation = validate(served, group.certs, context.store, context.at, dns_names(served))
        context.validations[key] = validation
    built = validation.built
    if leaf == 0 and built is not None and _served_as_built(group.certs, built):
        return list(_valid_path(endpoint, group, built)), validation

    def near(name: x509.Name) -> list[tuple[x509.Certificate, str]]:
        return context.candidates.issuers_named(name, group.cert_path)

    facts_key = (key[0], leaf, os.path.dirname(group.cert_path))
    facts = context.facts.get(facts_key)
    if facts is None:
        facts = path_facts(group.certs, context.trust, near, context.at, leaf)
        context.facts[facts_key] = facts
    found = list(_structure(endpoint, group, facts, context))
    found += _expiry(endpoint, group, facts, context)
    return found, validation


def _served_as_built(served: list[x509.Certificate], built: tuple[x509.Certificate, ...]) -> bool:
    return served == list(built[:-1]) or served == list(built)


def _valid_path(
    endpoint: Endpoint, group: Served, built: tuple[x509.Certificate, ...]
) -> Iterator[Finding]:
    served, path = group.certs, group.cert_path
    if len(served) == len(built) and len(served) > 1:
        yield finding(
            "root-in-chain",
            f"{path} serves the root '{_name(built[-1])}': clients use their own copy; drop it",
            endpoint=endpoint,
            path=path,
        )
    leaf = served[0]
    for cert in built[1:-1]:
        yield from _outlived(endpoint, path, leaf, cert)


def _structure(
    endpoint: Endpoint, group: Served, facts: PathFacts, context: ChainContext
) -> Iterator[Finding]:
    served, path = group.certs, group.cert_path
    last = served[facts.path[-1]]
    if facts.missing is not None:
        for index in facts.unrelated:
            if _look_alike(served[index], facts):
                yield finding(
                    "bad-signature",
                    f"{path} serves '{_name(served[index])}', the right name, but its key did"
                    f" not sign '{_name(last)}': an old or look-alike intermediate",
                    endpoint=endpoint,
                    path=path,
                )
        yield finding(
            "missing-intermediate",
            f"{path}: no certificate for '{_name(facts.missing)}', the issuer of"
            f" '{_name(last)}'; clients that do not already have it say 'unknown issuer'; "
            + (
                f"a matching certificate is in {facts.candidate_source}"
                if facts.candidate is not None
                else "none found in --intermediates, beside the file or in the trust store"
            ),
            endpoint=endpoint,
            path=path,
            hint="mailtls fix --backup" if facts.candidate is not None else "",
        )
    if facts.shadowed_by is not None:
        first, other = served[facts.shadowed_by], served[facts.path[1]]
        yield finding(
            "shadowed-path",
            f"{path} serves '{_name(first)}' (issued by '{_name(first.issuer)}') before"
            f" '{_name(other)}' (issued by '{_name(other.issuer)}'); OpenSSL-based clients"
            " (other mail servers, fetchmail, mutt) take the first and fail, only clients that"
            " try every path (Thunderbird, Apple, Android) find the one to"
            f" '{_name(facts.anchor or served[facts.path[-1]])}': serve that one alone",
            endpoint=endpoint,
            path=path,
        )
    yield from _path_end(endpoint, group, facts, context)
    if group.unordered:
        pass  # said as not-pem; the fix writes PEM in order
    elif facts.path[0] != 0:
        yield finding(
            "leaf-not-first",
            f"{path}: the first certificate is '{_name(served[0])}', not the leaf"
            f" '{_name(served[facts.path[0]])}'; the daemons serve the first one as their own and"
            " match the key against it, so Dovecot fails every handshake ('Key is for a"
            " different cert than ssl_cert') and Postfix refuses the key",
            endpoint=endpoint,
            path=path,
        )
    elif not facts.in_order:
        yield finding(
            "chain-order",
            f"{path}: the leaf is first, but its issuers are not in order after it",
            endpoint=endpoint,
            path=path,
        )
    for index in facts.unrelated:
        if not _look_alike(served[index], facts):
            yield from _extra(endpoint, group, served[index], facts, context)
    for index in facts.duplicates:
        yield finding(
            "duplicate-cert",
            f"{path} holds '{_name(served[index])}' twice",
            endpoint=endpoint,
            path=path,
        )


def _look_alike(cert: x509.Certificate, facts: PathFacts) -> bool:
    """A served certificate named as the missing issuer (said as bad-signature)."""
    return facts.missing is not None and cert.subject == facts.missing


def _path_end(
    endpoint: Endpoint, group: Served, facts: PathFacts, context: ChainContext
) -> Iterator[Finding]:
    """How the path ends: a served root (trusted or not), or a trusted root that expired."""
    path = group.cert_path
    leaf = group.certs[facts.path[0]]
    last = group.certs[facts.path[-1]]
    if facts.root_served is not None and self_signed(leaf):
        yield finding(
            "self-signed",
            f"{path}: '{_name(leaf)}' is self-signed; clients warn unless told to trust it",
            endpoint=endpoint,
            path=path,
        )
    elif facts.root_served is not None and facts.anchor is None:
        yield finding(
            "untrusted-root",
            f"{path}: the chain ends at '{_name(last)}', a root the trust store does not hold"
            " (add it with --ca-file if it is your own CA)",
            endpoint=endpoint,
            path=path,
        )
    elif facts.root_served is not None:
        yield finding(
            "root-in-chain",
            f"{path} serves the root '{_name(last)}': clients use their own copy; drop it",
            endpoint=endpoint,
            path=path,
        )
    anchor = facts.anchor
    if anchor is not None and not self_signed(leaf) and not valid_at(anchor, context.at):
        yield finding(
            "expired-root",
            f"{path}: the only path ends at '{_name(anchor)}', a trusted root that expired on"
            f" {_day(anchor)}; clients refuse it: serve the chain to a current root",
            endpoint=endpoint,
            path=path,
        )


def _extra(
    endpoint: Endpoint,
    group: Served,
    cert: x509.Certificate,
    facts: PathFacts,
    context: ChainContext,
) -> Iterator[Finding]:
    """A served certificate off the path: a stale root, a cross-sign, or unrelated."""
    path = group.cert_path
    on_path = [group.certs[i] for i in facts.path] + ([facts.anchor] if facts.anchor else [])
    if self_signed(cert):
        expired = "" if valid_at(cert, context.at) else f", expired on {_day(cert)}"
        yield finding(
            "root-in-chain",
            f"{path} also serves the root '{_name(cert)}'{expired}, which is not on the path"
            f" clients take (it ends at '{_name(on_path[-1])}'): drop it",
            endpoint=endpoint,
            path=path,
        )
        return
    twin = pki_twin(cert, on_path)
    if twin is None:
        yield finding(
            "unrelated-cert",
            f"{path} also holds '{_name(cert)}', which is not on the leaf's path",
            endpoint=endpoint,
            path=path,
        )
        return

    def above(child: x509.Certificate) -> list[x509.Certificate]:
        """Its issuer, wherever mailtls can see one: served, trusted, or beside the file."""
        near = context.candidates.issuers_named(child.issuer, group.cert_path)
        return [*group.certs, *context.trust.issuers_named(child.issuer), *(c for c, _ in near)]

    dead = first_expired_above(cert, above, context.at)
    crossed = f"'{_name(cert)}' cross-signed by '{_name(cert.issuer)}'"
    if dead is not None:
        which = "it" if dead is cert else f"'{_name(dead)}' above it"
        yield finding(
            "expired-cross-sign",
            f"{path} serves {crossed}, and {which} expired on {_day(dead)}; clients take the"
            f" path to '{_name(on_path[-1])}' without it, but older clients that follow it fail"
            " (the 2020 AddTrust and 2021 DST Root CA X3 outages): drop it",
            endpoint=endpoint,
            path=path,
        )
    else:
        yield finding(
            "cross-sign-served",
            f"{path} also serves {crossed}: clients that trust '{_name(twin)}' do not need"
            f" it; it helps only those that still rely on '{_name(cert.issuer)}'",
            endpoint=endpoint,
            path=path,
        )


def _day(cert: x509.Certificate) -> str:
    return cert.not_valid_after_utc.date().isoformat()


def _expiry(
    endpoint: Endpoint, group: Served, facts: PathFacts, context: ChainContext
) -> Iterator[Finding]:
    served, path = group.certs, group.cert_path
    leaf = served[facts.path[0]]
    for index in facts.path[1:]:
        cert = served[index]
        if self_signed(cert):
            continue  # a served root: judged by how the path ends
        if not valid_at(cert, context.at) and cert.not_valid_after_utc < context.at:
            yield finding(
                "expired-intermediate",
                f"{path}: the intermediate '{_name(cert)}' expired on {_day(cert)}",
                endpoint=endpoint,
                path=path,
            )
        else:
            yield from _outlived(endpoint, path, leaf, cert)


def _outlived(
    endpoint: Endpoint, path: str, leaf: x509.Certificate, cert: x509.Certificate
) -> Iterator[Finding]:
    if cert.not_valid_after_utc < leaf.not_valid_after_utc:
        yield finding(
            "intermediate-expires-before-leaf",
            f"{path}: '{_name(cert)}' expires on {_day(cert)},"
            f" before the leaf does ({leaf.not_valid_after_utc.date().isoformat()});"
            " renew the chain by then",
            endpoint=endpoint,
            path=path,
        )


def untrusted(endpoint: Endpoint, group: Served, validation: Validation) -> Finding:
    """Said only where no other finding explains why validation failed."""
    return finding(
        "untrusted-chain",
        f"{group.cert_path}: clients reject the chain of '{_name(group.certs[0])}':"
        f" {validation.error}",
        endpoint=endpoint,
        path=group.cert_path,
    )
