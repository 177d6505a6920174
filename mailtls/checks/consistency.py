"""Consistency across daemons: Dovecot and Postfix serving different certificates for a name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mailtls.checks.leaf import covers
from mailtls.checks.registry import finding
from mailtls.models import Endpoint, Finding, ServedChain, Severity


def different_certs(
    endpoints: Sequence[Endpoint], chains: Sequence[ServedChain], findings: Sequence[Finding]
) -> Iterator[Finding]:
    """For each name some endpoint serves, the certificate each daemon picks for it; where
    they differ and one is worse (not trusted, more errors, or expiring sooner), say so."""
    first_chain: dict[str, ServedChain] = {}
    for chain in chains:
        first_chain.setdefault(chain.endpoint, chain)
    errors: dict[str, int] = {}
    for item in findings:
        if item.endpoint and item.severity is Severity.ERROR:
            errors[item.endpoint] = errors.get(item.endpoint, 0) + 1
    servers = [e for e in endpoints if e.role == "server" and e.enabled and e.id in first_chain]
    names = sorted({n.lower() for e in servers for n in e.names if not n.startswith((".", "*"))})
    for name in names:
        picks = {
            s: _pick(name, [e for e in servers if e.service == s]) for s in ("dovecot", "postfix")
        }
        dovecot, postfix = picks["dovecot"], picks["postfix"]
        if dovecot is None or postfix is None:
            continue
        a, b = first_chain[dovecot.id], first_chain[postfix.id]
        if [c.sha256 for c in a.certs] == [c.sha256 for c in b.certs]:
            continue
        rank_a = (a.trusted, -errors.get(dovecot.id, 0), a.certs[0].not_after)
        rank_b = (b.trusted, -errors.get(postfix.id, 0), b.certs[0].not_after)
        if rank_a == rank_b:
            continue
        worse, better = (dovecot, postfix) if rank_a < rank_b else (postfix, dovecot)
        yield finding(
            "different-certs",
            f"{name}: Dovecot serves {_show(a)} ({dovecot.id}), Postfix serves {_show(b)}"
            f" ({postfix.id}); {worse.service}'s is the worse one: serve what {better.service}"
            " serves",
            endpoint=worse,
            path=worse.cert_file or (worse.chain_files[0] if worse.chain_files else None),
        )


def _pick(name: str, endpoints: list[Endpoint]) -> Endpoint | None:
    """The endpoint a daemon uses for `name`: one that lists it, else its global default."""
    for endpoint in endpoints:
        if any(covers(n.lower(), name) for n in endpoint.names) and endpoint.scope != "global":
            return endpoint
    defaults = [e for e in endpoints if e.scope == "global" and e.slot in ("main", "chain")]
    return defaults[0] if defaults else None


def _show(chain: ServedChain) -> str:
    leaf = chain.certs[0]
    trust = "trusted" if chain.trusted else "not trusted"
    count = f"{len(chain.certs)} certificate{'s' if len(chain.certs) != 1 else ''}"
    return f"{count}, leaf until {leaf.not_after[:10]}, {trust}"
