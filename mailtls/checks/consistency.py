"""Consistency across daemons: Dovecot and Postfix serving different certificates for a name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mailtls.checks.leaf import covers
from mailtls.checks.registry import finding
from mailtls.models import Endpoint, Finding, ServedChain, Severity

DAEMONS = ("dovecot", "postfix")


def different_certs(
    endpoints: Sequence[Endpoint], chains: Sequence[ServedChain], findings: Sequence[Finding]
) -> Iterator[Finding]:
    """For each name some endpoint serves, the certificates each daemon serves for it; where
    they differ and one is worse (not trusted, more errors, or expiring sooner), say so.

    Endpoints are indexed by name, so each name costs a few look-ups, not a pass over every
    endpoint: a host with 20,000 SNI names is checked in linear time."""
    first_chain: dict[str, ServedChain] = {}
    for chain in chains:
        first_chain.setdefault(chain.endpoint, chain)
    errors: dict[str, int] = {}
    for item in findings:
        if item.endpoint and item.severity is Severity.ERROR:
            errors[item.endpoint] = errors.get(item.endpoint, 0) + 1
    servers = [
        e
        for e in endpoints
        if e.role == "server" and e.enabled and e.id in first_chain and e.slot in ("main", "chain")
    ]
    index = {
        daemon: _NameIndex.of([e for e in servers if e.service == daemon]) for daemon in DAEMONS
    }
    names = sorted({n.lower() for e in servers for n in e.names if not n.startswith((".", "*"))})
    for name in names:
        reported: set[str] = set()
        for dovecot in index["dovecot"].serving(name):
            for postfix in index["postfix"].serving(name):
                pair = (first_chain[dovecot.id], first_chain[postfix.id])
                worse = _worse(dovecot, postfix, pair, errors)
                if worse is None or worse.id in reported:
                    continue
                reported.add(worse.id)
                yield _finding(name, dovecot, postfix, pair, worse)


@dataclass
class _NameIndex:
    """One daemon's server endpoints, by the names they are chosen for."""

    exact: dict[str, list[Endpoint]] = field(default_factory=dict)
    wildcard: dict[str, list[Endpoint]] = field(default_factory=dict)  # `*.a.org` under a.org
    suffix: dict[str, list[Endpoint]] = field(default_factory=dict)  # Postfix `.a.org` keys
    # Chosen without SNI: by the name they claim (Postfix's myhostname), or by address or
    # protocol (Dovecot's global, `local IP { }` and `protocol imap { }` blocks).
    claimed: dict[str, list[Endpoint]] = field(default_factory=dict)
    nameless: list[Endpoint] = field(default_factory=list)

    @classmethod
    def of(cls, endpoints: list[Endpoint]) -> _NameIndex:
        index = cls()
        for endpoint in endpoints:
            patterns = {n.lower() for n in endpoint.names}
            if not _by_sni(endpoint) and not patterns:
                index.nameless.append(endpoint)
            for pattern in patterns:
                if not _by_sni(endpoint):
                    index.claimed.setdefault(pattern, []).append(endpoint)
                elif pattern.startswith("*."):
                    index.wildcard.setdefault(pattern[2:], []).append(endpoint)
                elif pattern.startswith("."):
                    index.suffix.setdefault(pattern, []).append(endpoint)
                else:
                    index.exact.setdefault(pattern, []).append(endpoint)
        return index

    def serving(self, name: str) -> list[Endpoint]:
        """The endpoints that really serve `name`: the SNI blocks or keys chosen for it, else
        the default ones that claim it. Dovecot's name-less blocks (`local IP { }`,
        `protocol imap { }`) are chosen by address or protocol, not name: when there are
        several, which one a client gets for this name is unknown, so none is compared."""
        parent = name.partition(".")[2]
        found = self.exact.get(name, []) + self.wildcard.get(parent, [])
        labels = name.split(".")
        for start in range(1, len(labels)):
            found += self.suffix.get("." + ".".join(labels[start:]), [])
        found = [e for e in found if any(_claims(n.lower(), name) for n in e.names)]
        if found:
            return list(dict.fromkeys(found))
        if name in self.claimed:
            return self.claimed[name]
        return self.nameless if len(self.nameless) == 1 else []


def _by_sni(endpoint: Endpoint) -> bool:
    """Chosen by the name the client asks for: a Dovecot local_name block, a Postfix SNI key."""
    return endpoint.scope.startswith("sni ") or "local_name" in endpoint.scope


def _claims(pattern: str, name: str) -> bool:
    """RFC 6125 wildcards, and Postfix's `.example.org`, which covers every name below it."""
    if pattern.startswith("."):
        return name.endswith(pattern)
    return covers(pattern, name)


def _worse(
    dovecot: Endpoint,
    postfix: Endpoint,
    pair: tuple[ServedChain, ServedChain],
    errors: dict[str, int],
) -> Endpoint | None:
    a, b = pair
    if [c.sha256 for c in a.certs] == [c.sha256 for c in b.certs]:
        return None
    rank_a = (a.trusted, -errors.get(dovecot.id, 0), a.certs[0].not_after)
    rank_b = (b.trusted, -errors.get(postfix.id, 0), b.certs[0].not_after)
    if rank_a == rank_b:
        return None
    return dovecot if rank_a < rank_b else postfix


def _finding(
    name: str,
    dovecot: Endpoint,
    postfix: Endpoint,
    pair: tuple[ServedChain, ServedChain],
    worse: Endpoint,
) -> Finding:
    better = postfix if worse is dovecot else dovecot
    return finding(
        "different-certs",
        f"{name}: Dovecot serves {_show(pair[0])} ({dovecot.id}), Postfix serves"
        f" {_show(pair[1])} ({postfix.id}); {worse.service}'s is the worse one: serve what"
        f" {better.service} serves",
        endpoint=worse,
        path=worse.cert_file or (worse.chain_files[0] if worse.chain_files else None),
    )


def _show(chain: ServedChain) -> str:
    leaf = chain.certs[0]
    trust = "trusted" if chain.trusted else "not trusted"
    count = f"{len(chain.certs)} certificate{'s' if len(chain.certs) != 1 else ''}"
    return f"{count}, leaf until {leaf.not_after[:10]}, {trust}"
