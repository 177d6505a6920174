"""The TLSA records to publish for the Postfix endpoints that receive mail (`dane records`).

Reads the certificate files the endpoints name; the records come from records.py, the
endpoints from the configuration readers. Output is zone-file syntax, comments start `;`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from mailtls.dane.match import issuer_path
from mailtls.dane.records import DANE_EE, DANE_TA, TlsaRecord, for_cert, for_key, owner, zone_line
from mailtls.errors import UsageError
from mailtls.models import Endpoint
from mailtls.pki.chain import is_ca
from mailtls.pki.load import FileCache, load_file
from mailtls.report.escape import safe

SMTP_PORT = 25
_PORT_25_NAMES = ("smtp", "25")  # master.cf service names that listen on port 25


@dataclass(frozen=True)
class Block:
    """Records for one owner name from one source (an endpoint's files, or the next key)."""

    owner: str
    source: str
    records: tuple[TlsaRecord, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What `dane records` prints: blocks on stdout, notes (why something is left out) on stderr."""

    blocks: tuple[Block, ...]
    notes: tuple[str, ...]


def receives_mail(endpoint: Endpoint) -> bool:
    """A server endpoint that answers on port 25: Postfix's smtpd (global, a master.cf smtp
    service with its own files, an SNI entry), or a certificate file named on the command line."""
    if endpoint.service == "file":
        return True
    if endpoint.service != "postfix" or endpoint.role != "server" or not endpoint.enabled:
        return False
    if endpoint.scope.startswith("sni ") or (endpoint.scope == "global" and not endpoint.services):
        return True
    return any(_port_25(label) for label in endpoint.services)


def _port_25(label: str) -> bool:
    name = label.split("/")[0]
    return name.rpartition(":")[2] in _PORT_25_NAMES


def plan(endpoints: Sequence[Endpoint], names: Sequence[str], next_file: str | None = None) -> Plan:
    """The blocks for each receiving endpoint and name; with `names`, only those names, each
    from the endpoint Postfix picks for it (its SNI entry, else the default certificate)."""
    receiving = [e for e in endpoints if receives_mail(e)]
    if not receiving:
        raise UsageError("no Postfix endpoint here receives mail on port 25 (smtpd, SNI)")
    cache = FileCache()
    pairs, notes = named_endpoints(receiving, names)
    blocks: list[Block] = []
    for endpoint, name in pairs:
        try:
            owner_name = owner(name)
        except UsageError as error:  # a myhostname or SNI key that is no host name
            notes.append(f"{endpoint.id}: {error}")
            continue
        block = _endpoint_block(endpoint, owner_name, cache)
        blocks.append(block)
        notes.extend(block.notes)
    if not blocks:
        raise UsageError("no TLSA records to print: " + "; ".join(notes or ["no names"]))
    if next_file is not None:
        records = next_records(next_file)
        for owner_name in dict.fromkeys(b.owner for b in blocks):
            blocks.append(
                Block(owner_name, f"next: {next_file} (publish before deploying it)", records)
            )
    return Plan(tuple(blocks), tuple(notes))


def named_endpoints(
    receiving: list[Endpoint], names: Sequence[str], advice: str = "say which host with --name"
) -> tuple[list[tuple[Endpoint, str]], list[str]]:
    """(endpoint, host name) pairs: with `names`, the endpoints Postfix serves each one
    from; else each endpoint's own names. Notes say which endpoints have no usable name."""
    if names:
        return [(e, n) for n in names for e in _serving(receiving, n.lower())], []
    pairs, notes = [], []
    for endpoint in receiving:
        usable = [n for n in endpoint.names if not n.startswith((".", "*"))]
        pairs += [(endpoint, n) for n in usable]
        if not usable:
            why = "names only a domain's subdomains" if endpoint.names else _nameless(endpoint)
            notes.append(f"{endpoint.id} {why}: {advice}")
    return pairs, notes


def _nameless(endpoint: Endpoint) -> str:
    return "is a certificate file" if endpoint.service == "file" else "has no myhostname"


def _serving(receiving: list[Endpoint], name: str) -> list[Endpoint]:
    """The endpoints Postfix serves to a client asking for `name`: its SNI entry (a
    `.domain` entry covers the domain's subdomains), else the default certificates."""
    sni = [e for e in receiving if e.scope.startswith("sni ") and _sni_covers(e, name)]
    return sni or [e for e in receiving if not e.scope.startswith("sni ")]


def _sni_covers(endpoint: Endpoint, name: str) -> bool:
    return any(n == name or (n.startswith(".") and name.endswith(n)) for n in endpoint.names)


def _endpoint_block(endpoint: Endpoint, owner_name: str, cache: FileCache) -> Block:
    files = [f for f in (endpoint.cert_file, *endpoint.chain_files) if f]
    certs: list[x509.Certificate] = []
    notes = []
    for path in dict.fromkeys(files):
        loaded = cache.get(path)
        if loaded.problem:
            notes.append(f"{endpoint.id}: {path}: {loaded.problem} ({loaded.detail})")
        certs.extend(loaded.certs)
    records, more = chain_records(certs)
    notes += [f"{endpoint.id}: {note}" for note in more]
    source = endpoint.id if endpoint.service == "file" else f"{endpoint.id}: {', '.join(files)}"
    return Block(owner_name, source, records, tuple(notes))


def chain_records(certs: Sequence[x509.Certificate]) -> tuple[tuple[TlsaRecord, ...], list[str]]:
    """`3 1 1` of each leaf (an RSA and an ECDSA one may share the files) and `2 1 1` of the
    CA that issued it, when that CA is in the files: DANE-TA needs it served (RFC 7671 §5.2.2)."""
    leaves = [c for c in certs if not is_ca(c)] or list(certs[:1])
    records: list[TlsaRecord] = []
    notes = []
    for leaf in leaves:
        records.append(for_cert(leaf, DANE_EE))
        path = issuer_path([leaf, *(c for c in certs if c is not leaf)])
        if len(path) > 1 and is_ca(path[1]):
            records.append(for_cert(path[1], DANE_TA))
        else:
            subject = leaf.subject.rfc4514_string()
            notes.append(f"{subject}: its issuing CA is not in the files, so no 2 1 1 record")
    if not leaves:
        notes.append("no certificate in the files")
    return tuple(dict.fromkeys(records)), notes


def next_records(path: str) -> tuple[TlsaRecord, ...]:
    """The records of what is about to be deployed: a private or public key (`3 1 1`), or a
    certificate file (its `3 1 1` and, when the file holds its issuer, `2 1 1`)."""
    certs, key = next_material(path)
    return chain_records(certs)[0] if certs else (for_key(key),)


def next_material(path: str) -> tuple[tuple[x509.Certificate, ...], object]:
    """What `--next` names: its certificates (if it holds any), else its public key."""
    loaded = load_file(path)
    if loaded.certs:
        return tuple(loaded.certs), None
    if loaded.keys:
        return (), loaded.keys[0]
    if loaded.encrypted:
        raise UsageError(
            f"{path}: the key is encrypted: give its public key (openssl pkey -pubout)"
        )
    if loaded.problem in ("file-missing", "file-unreadable"):
        raise UsageError(f"{path}: {loaded.detail}")
    return (), _public_key(path, loaded.data)


def _public_key(path: str, data: bytes) -> object:
    try:
        if b"-----BEGIN PUBLIC KEY-----" in data:
            return serialization.load_pem_public_key(data)
        return serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise UsageError(f"{path}: no key or certificate in it") from None


def render(result: Plan) -> str:
    """Zone-file text: a comment naming each source, then its records; repeats left out."""
    printed: set[str] = set()
    out = []
    for block in result.blocks:
        lines = [zone_line(block.owner, r) for r in block.records]
        fresh = [line for line in lines if line not in printed]
        if not fresh:
            continue
        out.append(f"; {safe(block.source)}")
        out.extend(fresh)
        printed.update(fresh)
    return "".join(line + "\n" for line in out)
