"""DANE findings: the TLSA records published for each name Postfix receives mail under,
judged against the chain on disk and, with --live, the chain served (RFC 7671, RFC 7672).

Answers in, findings out: the lookups are made before (mailtls/dane/audit.py), once per
owner name; each (owner, chain) is judged once, however many endpoints share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from mailtls.checks.registry import finding
from mailtls.dane.answer import Answer, Status
from mailtls.dane.match import Verdict, judge, key_matches, matches, usable
from mailtls.dane.publish import chain_records, named_endpoints, receives_mail
from mailtls.dane.records import TlsaRecord, for_key, owner, zone_line
from mailtls.errors import UsageError
from mailtls.models import Endpoint, Finding, Listener
from mailtls.pki.chain import is_ca
from mailtls.pki.load import FileCache

SMTP, SUBMISSIONS, SUBMISSION = 25, 465, 587
FAILED = (Status.SERVFAIL, Status.TIMEOUT, Status.ERROR)
SHOWN_HEX = 16  # of a published record's data, enough to tell records apart


@dataclass(frozen=True)
class Owner:
    """One TLSA owner name to check for one endpoint, and the files of its chain on disk."""

    endpoint: Endpoint
    name: str  # `_25._tcp.mx.example.org.`
    files: tuple[str, ...]


@dataclass(frozen=True)
class Upcoming:
    """What `--next` names: the certificate chain or the key about to be deployed."""

    path: str
    certs: tuple[x509.Certificate, ...] = ()
    key: object | None = None

    def matched_by(self, records: Sequence[TlsaRecord]) -> bool:
        if self.certs:
            return bool(matches(records, self.certs))
        return self.key is not None and bool(key_matches(records, self.key))

    def records(self) -> tuple[TlsaRecord, ...]:
        if self.certs:
            return chain_records(self.certs)[0]
        return (for_key(self.key),) if self.key is not None else ()


@dataclass(frozen=True)
class Judged:
    """What one answer says about one chain: a finding code and its words, or nothing."""

    code: str | None = None
    message: str = ""
    publish: tuple[str, ...] = field(default=())  # zone lines, for the hook's warning


Judgements = dict[tuple[str, tuple[str, ...]], Judged]  # by (owner name, files)


def owners(
    endpoints: Iterable[Endpoint], listeners: Iterable[Listener], names: Sequence[str] = ()
) -> tuple[list[Owner], list[str]]:
    """Each endpoint serving SMTP and each name it serves: `_25._tcp.NAME`, and `_465`/
    `_587` where master.cf has submissions/submission listeners with TLS that serve it."""
    tls_ports = _tls_ports(listeners)
    serving = [(e, ports) for e in endpoints if (ports := _ports(e, tls_ports))]
    by_id = {e.id: ports for e, ports in serving}
    advice = "its TLSA records are not checked (set myhostname; --name for a certificate file)"
    pairs, notes = named_endpoints([e for e, _ in serving], names, advice)
    found = []
    for endpoint, name in pairs:
        files = tuple(dict.fromkeys(f for f in (endpoint.cert_file, *endpoint.chain_files) if f))
        for port in by_id[endpoint.id]:
            try:
                found.append(Owner(endpoint, owner(name, port), files))
            except UsageError as error:  # a myhostname or SNI key that is no host name
                notes.append(f"{endpoint.id}: {error}")
                break
    return found, notes


def _tls_ports(listeners: Iterable[Listener]) -> dict[tuple[str, str], set[int]]:
    """(main.cf, master.cf label) -> the submission ports it listens on with TLS."""
    ports: dict[tuple[str, str], set[int]] = {}
    for listener in listeners:
        if listener.service == "postfix" and listener.port in (SUBMISSIONS, SUBMISSION):
            ports.setdefault((listener.config, listener.label), set()).add(listener.port)
    return ports


def _ports(endpoint: Endpoint, tls_ports: Mapping[tuple[str, str], set[int]]) -> list[int]:
    if endpoint.service != "postfix" or endpoint.role != "server" or not endpoint.enabled:
        return [SMTP] if receives_mail(endpoint) else []
    if endpoint.scope.startswith("sni "):  # the SNI map serves every smtpd of the instance
        labels = [label for config, label in tls_ports if config == endpoint.config]
    else:
        labels = list(endpoint.services)
    more = {p for label in labels for p in tls_ports.get((endpoint.config, label), ())}
    return ([SMTP] if receives_mail(endpoint) else []) + sorted(more)


def disk_findings(
    checked: Iterable[Owner],
    answers: Mapping[str, Answer],
    cache: FileCache,
    upcoming: Upcoming | None = None,
) -> list[Finding]:
    """The published records of each owner against the endpoint's chain on disk."""
    found = []
    for item, judged in disk_verdicts(checked, answers, cache, upcoming):
        found += disk_finding(judged, item)
    return found


def disk_verdicts(
    checked: Iterable[Owner],
    answers: Mapping[str, Answer],
    cache: FileCache,
    upcoming: Upcoming | None = None,
) -> list[tuple[Owner, Judged]]:
    """Each owner with what its answer says of the chain on disk; each (owner, files)
    judged once, however many endpoints share them."""
    judged: Judgements = {}
    found = []
    for item in checked:
        verdict = owner_verdict(item, answers, cache, upcoming, judged)
        if verdict is not None:
            found.append((item, verdict))
    return found


def owner_verdict(
    item: Owner,
    answers: Mapping[str, Answer],
    cache: FileCache,
    upcoming: Upcoming | None,
    judged: Judgements,
) -> Judged | None:
    """What the owner's answer says of its endpoint's chain on disk (None: no answer, no
    files); `judged` keeps each (owner, files) verdict, so shared files are judged once."""
    answer = answers.get(item.name)
    if answer is None or not item.files:
        return None
    key = (item.name, item.files)
    if key not in judged:
        certs = _certs(item.files, cache)
        judged[key] = judge_disk(item.name, answer, certs, item.files[0], upcoming)
    return judged[key]


def _certs(files: tuple[str, ...], cache: FileCache) -> list[x509.Certificate]:
    return [cert for path in files for cert in cache.get(path).certs]


def disk_finding(judged: Judged, item: Owner) -> list[Finding]:
    """The finding a verdict makes for the owner's endpoint, if any."""
    if judged.code is None:
        return []
    hint = "publish the records before the old ones go; mailtls dane records prints them"
    path = item.files[0]
    return [finding(judged.code, judged.message, endpoint=item.endpoint, path=path, hint=hint)]


def leaf_chains(certs: Sequence[x509.Certificate]) -> list[list[x509.Certificate]]:
    """One chain per leaf in the files (an RSA and an ECDSA key may share them): the leaf,
    then the other certificates, as a DANE client builds the path from what is sent."""
    leaves = [c for c in certs if not is_ca(c)] or list(certs[:1])
    return [[leaf, *(c for c in certs if c is not leaf)] for leaf in leaves]


def judge_disk(
    name: str,
    answer: Answer,
    certs: Sequence[x509.Certificate],
    path: str,
    upcoming: Upcoming | None,
) -> Judged:
    """What a DANE sender makes of `answer` for owner `name` once this chain is served."""
    if answer.status in FAILED:
        return _failed(name, answer)
    usable_records = [r for r in answer.records if usable(r)]
    chains = leaf_chains(certs)
    if answer.status is not Status.OK or not usable_records or not chains:
        return Judged()  # no records, or none usable: DANE is not in use for this name
    verdicts = {judge(answer.records, chain) for chain in chains}
    published = _published(usable_records)
    if not answer.secure:
        would = "they match" if verdicts == {Verdict.MATCH} else "they would not match"
        return Judged(
            "tlsa-unsigned",
            f"{name}: TLSA records ({published}) but the answer was not DNSSEC-validated (no"
            " AD bit): DANE senders ignore them (RFC 7672 2.2). Either the zone is not signed"
            f" or the resolver does not validate; {would} the chain in {path}",
        )
    if verdicts == {Verdict.MATCH}:
        return Judged()
    # Only now: most chains match, and the records to publish cost their issuer paths.
    publish = tuple(zone_line(name, r) for r in chain_records(certs)[0])
    if upcoming is not None and upcoming.matched_by(answer.records):
        return Judged(
            "tlsa-only-next",
            f"{name}: the signed TLSA records ({published}) match the next key"
            f" ({upcoming.path}) but not the chain in {path}: published too early, the records"
            " of the current chain were removed before the rollover; DANE senders defer mail"
            f" until the new key is served. Publish beside them: {'; '.join(publish)}",
            publish,
        )
    return Judged(
        "tlsa-mismatch",
        f"{name}: none of the signed TLSA records ({published}) matches the chain in {path}:"
        f" DANE senders will defer mail. Publish: {'; '.join(publish)}",
        publish,
    )


def _failed(name: str, answer: Answer) -> Judged:
    detail = f" ({answer.detail})" if answer.detail else ""
    return Judged(
        "tlsa-lookup-failed",
        f"{name}: the TLSA lookup failed: {answer.status.value}{detail}; DANE senders"
        " that get the same defer mail to a signed domain",
    )


def _published(records: Sequence[TlsaRecord]) -> str:
    shown = [
        f"{r.usage} {r.selector} {r.matching_type} {r.data.hex()[:SHOWN_HEX]}" for r in records
    ]
    return ", ".join(shown)


Sent = tuple[Endpoint, str, int, tuple[x509.Certificate, ...]]  # endpoint, label, port, chain


def served_findings(
    checked: Iterable[Owner], answers: Mapping[str, Answer], sent: Iterable[Sent]
) -> list[Finding]:
    """The published records against the chain each listener sent (audit --live): what DANE
    senders see now, whatever is on disk."""
    by_endpoint: dict[str, list[tuple[str, int, tuple[x509.Certificate, ...]]]] = {}
    for endpoint, label, port, certs in sent:
        by_endpoint.setdefault(endpoint.id, []).append((label, port, certs))
    judged: dict[tuple[str, tuple[x509.Certificate, ...]], bool] = {}
    found = []
    for item in checked:
        answer = answers.get(item.name)
        if answer is None or answer.status is not Status.OK or not answer.secure:
            continue  # said by the disk check already
        for label, port, certs in by_endpoint.get(item.endpoint.id, []):
            if not item.name.startswith(f"_{port}._tcp.") or not certs:
                continue
            key = (item.name, certs)
            if key not in judged:
                judged[key] = judge(answer.records, certs) is Verdict.MISMATCH
            if judged[key]:
                message = (
                    f"{item.name}: none of the signed TLSA records ({_published(answer.records)})"
                    f" matches the chain {label} sends: DANE senders defer mail to it now"
                )
                found.append(finding("tlsa-served-mismatch", message, endpoint=item.endpoint))
    return found
