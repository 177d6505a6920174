"""TLSA look-ups against real servers on loopback: NSD serving signed, unsigned and bogus
zones, Unbound validating them (tests/dane/dns_servers.py), and scripted hostile resolvers."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

import mailtls.dane
from mailtls.dane import query
from mailtls.dane.lookup import (
    NEEDS_DNSPYTHON,
    Answer,
    Status,
    lookup_many,
    parse_resolver,
    resolver_lookup,
)
from mailtls.dane.records import TlsaRecord, parse
from mailtls.errors import UsageError
from tests.conftest import need_binary
from tests.dane.dns_servers import DnsServers, Reply, ScriptedResolver, default_tlsa
from tests.dane.oracle import ECDSA, PKI, openssl_data

MX = "_25._tcp.mx.dane.test"
DEFAULT = tuple(sorted(parse(text) for text in default_tlsa()))


def ask(servers: DnsServers, owner: str, timeout: float = 5.0) -> Answer:
    return resolver_lookup(servers.resolver, timeout)(owner)


def test_signed_zone_gives_validated_records(dns_servers: DnsServers) -> None:
    """AD set, the RRset as published, the owner without its trailing dot."""
    answer = ask(dns_servers, MX + ".")
    assert answer == Answer(MX, Status.OK, DEFAULT, secure=True)


def test_published_records_are_what_openssl_and_ldns_dane_compute(
    dns_servers: DnsServers,
) -> None:
    """The default records served by the zone, against tools independent of mailtls:
    `ldns-dane create` for the leaf's `3 1 1`, the openssl pipeline for the CA's `2 1 1`."""
    command = [need_binary("ldns-dane"), "-n", "-r", "127.0.0.1", "-c", str(ECDSA[0])]
    created = subprocess.run(  # -r: were ldns-dane to look anything up, loopback only
        [*command, "create", "mx.dane.test", "25", "3", "1", "1"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    dane_ta, dane_ee = ask(dns_servers, MX).records  # sorted: usage 2 first
    assert created.stdout.split()[-4:] == dane_ee.text().split()
    assert dane_ta == TlsaRecord(2, 1, 1, openssl_data(ECDSA[1], 1, 1))


def test_unsigned_zone_answers_without_ad(dns_servers: DnsServers) -> None:
    answer = ask(dns_servers, "_25._tcp.mx.plain.test")
    assert (answer.status, answer.records, answer.secure) == (Status.OK, DEFAULT, False)


def test_bogus_signatures_are_servfail(dns_servers: DnsServers) -> None:
    answer = ask(dns_servers, "_25._tcp.mx.bogus.test")
    assert answer == Answer(
        "_25._tcp.mx.bogus.test",
        Status.SERVFAIL,
        detail=f"SERVFAIL from {dns_servers.resolver}",
    )


@pytest.mark.parametrize(("zone", "secure"), [("dane.test", True), ("plain.test", False)])
def test_nxdomain_secure_and_insecure_denial(
    dns_servers: DnsServers, zone: str, secure: bool
) -> None:
    answer = ask(dns_servers, f"_25._tcp.absent.{zone}")
    assert (answer.status, answer.secure, answer.records) == (Status.NXDOMAIN, secure, ())
    assert answer.detail == f"NXDOMAIN from {dns_servers.resolver}"


def test_name_without_tlsa_is_nodata(dns_servers: DnsServers) -> None:
    """A TXT record there, and an empty non-terminal: both NOERROR without TLSA."""
    for owner in ("_25._tcp.nodata.dane.test", "_tcp.mx.dane.test"):
        answer = ask(dns_servers, owner)
        assert (answer.status, answer.secure, answer.records) == (Status.NODATA, True, ())


def test_cname_leads_to_the_targets_records(dns_servers: DnsServers) -> None:
    """RFC 7671 §7: the TLSA RRset of the CNAME's target is the one that counts."""
    answer = ask(dns_servers, "_25._tcp.alias.dane.test")
    assert (answer.status, answer.records, answer.secure) == (Status.OK, DEFAULT, True)
    assert answer.detail == f"via CNAME {MX}"


def test_cname_to_nothing_is_nodata(dns_servers: DnsServers) -> None:
    """A CNAME to a name that does not exist is NXDOMAIN, to one without TLSA NODATA."""
    dns_servers.publish(
        {
            "_25._tcp.dangling.dane.test": ["CNAME nothing.dane.test."],
            "_25._tcp.elsewhere.dane.test": ["CNAME _25._tcp.nodata.dane.test."],
        }
    )
    dangling = ask(dns_servers, "_25._tcp.dangling.dane.test")
    assert (dangling.status, dangling.secure) == (Status.NXDOMAIN, True)
    elsewhere = ask(dns_servers, "_25._tcp.elsewhere.dane.test")
    assert (elsewhere.status, elsewhere.secure) == (Status.NODATA, True)
    assert elsewhere.detail.endswith("(via CNAME _25._tcp.nodata.dane.test)")


def test_large_rrset_comes_by_tcp(dns_servers: DnsServers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full certificates (`3 0 0`) past the 1232-byte EDNS size: Unbound truncates the UDP
    answer and the look-up asks again over TCP, within the same timeout."""
    certs = sorted(PKI.glob("leaf-*.pem"))[:8]
    rdatas = [f"3 0 0 {openssl_data(cert, 0, 0).hex()}" for cert in certs]
    dns_servers.publish({"_25._tcp.big.dane.test": rdatas})
    used_tcp: list[str] = []
    real_tcp = dns.query.tcp

    def spied_tcp(*args: Any, **options: Any) -> dns.message.Message:
        used_tcp.append("tcp")
        return real_tcp(*args, **options)

    monkeypatch.setattr(dns.query, "tcp", spied_tcp)
    answer = ask(dns_servers, "_25._tcp.big.dane.test")
    assert answer.status == Status.OK and answer.secure
    assert answer.records == tuple(sorted({parse(text) for text in rdatas}))  # an RRset: no twins
    assert used_tcp == ["tcp"]


def test_published_records_replace_the_old_ones(dns_servers: DnsServers) -> None:
    """publish() re-signs and flushes Unbound: the next answer is the new RRset."""
    owner = "_25._tcp.rollover.dane.test"
    first, second = "3 1 1 " + "aa" * 32, "3 1 1 " + "bb" * 32
    dns_servers.publish({owner: [first]})
    assert ask(dns_servers, owner).records == (parse(first),)
    dns_servers.publish({owner: [first, second]})
    assert ask(dns_servers, owner).records == (parse(first), parse(second))
    dns_servers.publish({owner: []})
    assert ask(dns_servers, owner).status == Status.NXDOMAIN


def test_refused_is_an_error_with_its_name(dns_servers: DnsServers) -> None:
    """NSD asked directly for a zone it does not serve answers REFUSED."""
    authoritative = f"127.0.0.1:{dns_servers.authoritative_port}"
    answer = resolver_lookup(authoritative, 5.0)("_25._tcp.mx.example.org")
    assert answer == Answer(
        "_25._tcp.mx.example.org", Status.ERROR, detail=f"REFUSED from {authoritative}"
    )


def test_names_outside_the_test_zones_stay_on_loopback(dns_servers: DnsServers) -> None:
    """Unbound's root is a stub on NSD, which refuses: SERVFAIL, and at once."""
    started = time.monotonic()
    assert ask(dns_servers, "_25._tcp.mx.example.org").status == Status.SERVFAIL
    assert time.monotonic() - started < 2.0


def test_silent_resolver_times_out_within_the_bound(dns_servers: DnsServers) -> None:
    started = time.monotonic()
    answer = resolver_lookup(dns_servers.silent, timeout=0.5)(MX)
    elapsed = time.monotonic() - started
    assert answer == Answer(
        MX, Status.TIMEOUT, detail=f"no answer in 0.5 s from {dns_servers.silent}"
    )
    assert 0.5 <= elapsed < 0.5 + 0.3
    assert dns_servers.silent_server.received >= 1


def _reply(question: bytes, flags: int, answer: bytes = b"", count: int = 0) -> bytes:
    """The question echoed back as a response: its ID and question section, our flags and
    answer records (the question is the rest of the query up to its EDNS record)."""
    name_end = question.index(b"\0", 12) + 5
    header = question[:2] + struct.pack("!HHHHH", flags, 1, count, 0, 0)
    return header + question[12:name_end] + answer


def _tlsa_rr(rdata: bytes) -> bytes:
    return b"\xc0\x0c" + struct.pack("!HHIH", 52, 1, 300, len(rdata)) + rdata


@pytest.mark.parametrize(
    ("name", "reply", "words"),
    [
        ("short TLSA rdata", lambda q: [_reply(q, 0x8180, _tlsa_rr(b"\x03\x01"), 1)], "unreadable"),
        (
            "TLSA without data",
            lambda q: [_reply(q, 0x8180, _tlsa_rr(b"\x03\x01\x01"), 1)],
            "unreadable",
        ),
        ("answer count past the end", lambda q: [_reply(q, 0x8180, b"", 3)], "unreadable"),
        ("a header only", lambda q: [q[:2] + b"\x81"], "unreadable"),
        ("rcode 5", lambda q: [_reply(q, 0x8185)], "REFUSED"),
        ("rcode 15", lambda q: [_reply(q, 0x818F)], "15 from"),
    ],
)
def test_hostile_answers_are_errors_not_crashes(name: str, reply: Reply, words: str) -> None:
    server = ScriptedResolver(reply)
    try:
        answer = resolver_lookup(server.address, 2.0)(MX)
    finally:
        server.close()
    assert answer.status == Status.ERROR, name
    assert words in answer.detail and server.address in answer.detail


def test_unknown_fields_come_through_for_the_judge() -> None:
    """Usage, selector and type 255 with 3000 bytes of data are well-formed TLSA: passed on
    as they are (match.py judges what a client can use), not dropped here."""
    odd = b"\xff\xff\xff" + b"x" * 3000
    server = ScriptedResolver(lambda q: [_reply(q, 0x8180, _tlsa_rr(odd), 1)])
    try:
        answer = resolver_lookup(server.address, 2.0)(MX)
    finally:
        server.close()
    assert answer == Answer(MX, Status.OK, (TlsaRecord(255, 255, 255, b"x" * 3000),))


def test_answers_to_other_questions_are_ignored() -> None:
    """A reply with another ID (a spoofing attempt) is not the answer: the one after it is,
    and a stream of them ends at the timeout."""
    good = _tlsa_rr(b"\x03\x01\x01" + b"\xab" * 32)
    server = ScriptedResolver(
        lambda q: [b"\xff\xff" + _reply(q, 0x8180)[2:], _reply(q, 0x81A0, good, 1)]
    )
    spoofer = ScriptedResolver(lambda q: [b"\xff\xff" + _reply(q, 0x8180)[2:]] * 3)
    try:
        answer = resolver_lookup(server.address, 2.0)(MX)
        ignored = resolver_lookup(spoofer.address, 0.3)(MX)
    finally:
        server.close()
        spoofer.close()
    assert answer == Answer(MX, Status.OK, (TlsaRecord(3, 1, 1, b"\xab" * 32),), secure=True)
    assert ignored.status == Status.TIMEOUT


def test_ipv6_resolver_is_asked_and_heard() -> None:
    """`[::1]:PORT`: the reply's address carries flow and scope, and still counts as the
    resolver's."""
    good = _tlsa_rr(b"\x03\x01\x01" + b"\xcd" * 32)
    server = ScriptedResolver(lambda q: [_reply(q, 0x8180, good, 1)], host="::1")
    try:
        answer = resolver_lookup(server.address, 2.0)(MX)
    finally:
        server.close()
    assert answer == Answer(MX, Status.OK, (TlsaRecord(3, 1, 1, b"\xcd" * 32),))


def test_long_names_are_refused_before_asking(dns_servers: DnsServers) -> None:
    answer = ask(dns_servers, "_25._tcp." + "a" * 64 + ".dane.test")
    assert answer.status == Status.ERROR and "not a DNS name" in answer.detail


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        (" 127.0.0.1:5353 ", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("2001:db8::0001", ("2001:db8::1", 53)),
    ],
)
def test_parse_resolver(text: str, parsed: tuple[str, int]) -> None:
    assert parse_resolver(text) == parsed


@pytest.mark.parametrize(
    "text",
    ["", "localhost", "dns.example.org:53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",
     "[127.0.0.1]:53", "[::1]53", "[::1", "::1:53:", "127.0.0.1:٥٣", "1.2.3.4.5", "\x1b[31m"],
)  # fmt: skip
def test_parse_resolver_refuses_what_is_no_address(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--resolver wants IP, IP:PORT") as raised:
        parse_resolver(text)
    assert "\n" not in str(raised.value) and "\x1b" not in str(raised.value)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(UsageError, match="more than 0 seconds"):
        resolver_lookup("127.0.0.1", 0)


def test_default_resolver_is_the_first_nameserver(
    dns_servers: DnsServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """resolv.conf as dnspython reads it (only its first `nameserver`); none is a usage error."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# test\nnameserver 127.0.0.1\nnameserver ::1\n")
    monkeypatch.setattr(query, "RESOLV_CONF", str(resolv))
    assert query.system_resolver() == ("127.0.0.1", 53)
    resolv.write_text("search example.org\n")
    with pytest.raises(UsageError, match="give --resolver IP"):
        resolver_lookup(None)


def test_without_dnspython_dane_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """dnspython blocked from importing, and mailtls.dane.query forgotten, as if never there."""
    for name in [name for name in sys.modules if name == "dns" or name.startswith("dns.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "mailtls.dane.query")
    monkeypatch.delattr(mailtls.dane, "query")
    with pytest.raises(UsageError) as raised:
        resolver_lookup("127.0.0.1:53")
    assert str(raised.value) == NEEDS_DNSPYTHON


def test_a_broken_module_of_ours_is_not_a_missing_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mailtls.dane.query", None)
    monkeypatch.delattr(mailtls.dane, "query")
    with pytest.raises(ImportError, match=r"mailtls\.dane\.query"):
        resolver_lookup("127.0.0.1:53")


def test_lookup_many_against_unbound(dns_servers: DnsServers) -> None:
    """500 names, each asked once however it is spelled, all validated; the time it took is
    the figure of a large multi-tenant host (README)."""
    owners = [f"_25._tcp.mx{n}.dane.test" for n in range(500)]
    dns_servers.publish({owner: [f"3 1 1 {n:064x}"] for n, owner in enumerate(owners)})
    asked: list[str] = []
    real = resolver_lookup(dns_servers.resolver, 5.0)

    def counted(owner: str) -> Answer:
        asked.append(owner)
        return real(owner)

    started = time.monotonic()
    answers = lookup_many([*owners, *(o.upper() + "." for o in owners[:50])], counted)
    elapsed = time.monotonic() - started
    print(f"lookup_many: 500 names through Unbound in {elapsed:.2f} s")
    assert sorted(asked) == sorted(owners)
    assert len(answers) == 550
    for n, owner in enumerate(owners):
        assert answers[owner] == Answer(owner, Status.OK, (parse(f"3 1 1 {n:064x}"),), True)
    assert answers[owners[7].upper() + "."] is answers[owners[7]]
    assert elapsed < 20.0


def test_lookup_many_stops_at_the_deadline(dns_servers: DnsServers) -> None:
    """A silent resolver and 200 names: 16 asked at a time, each given 2 s; at 0.5 s all
    the answers there are are timeouts, and the call has returned."""
    owners = [f"_25._tcp.mx{n}.dane.test" for n in range(200)]
    started = time.monotonic()
    answers = lookup_many(owners, resolver_lookup(dns_servers.silent, 2.0), deadline=0.5)
    assert time.monotonic() - started < 0.5 + 0.3
    assert {answer.status for answer in answers.values()} == {Status.TIMEOUT}
    assert answers[owners[-1]].detail == "not answered within the 0.5 s for all names"


def test_lookup_many_raises_what_a_lookup_raises() -> None:
    """A look-up that raises is a bug: it is shown, not turned into an answer."""

    def broken(owner: str) -> Answer:
        raise RuntimeError(f"bug at {owner}")

    with pytest.raises(RuntimeError, match="bug at"):
        lookup_many(["a", "b"], broken)
    assert lookup_many([], broken) == {}


def test_truncated_answer_without_tcp_is_an_error() -> None:
    """TC set and nothing listening on TCP: the retry is refused at once."""
    server = ScriptedResolver(lambda q: [_reply(q, 0x8380)])  # QR, TC, RD, RA
    try:
        answer = resolver_lookup(server.address, 2.0)(MX)
    finally:
        server.close()
    assert answer.status == Status.ERROR and answer.detail.startswith("cannot ask")


def test_tcp_retry_shares_the_one_timeout() -> None:
    """A slow TC answer (0.35 s), then a TCP listener that never answers: the whole look-up
    ends within the one 0.5 s timeout, not 0.35 s + a fresh 0.5 s for TCP."""

    def slow_truncated(question: bytes) -> list[bytes]:
        time.sleep(0.35)  # the resolver being slow, the thing under test
        return [_reply(question, 0x8380)]

    server = ScriptedResolver(slow_truncated)
    with socket.create_server(("127.0.0.1", server.port)) as listener:
        started = time.monotonic()
        try:
            answer = resolver_lookup(server.address, 0.5)(MX)
        finally:
            server.close()
        elapsed = time.monotonic() - started
        listener.settimeout(0)
        connection, _ = listener.accept()  # the retry did connect (raises if it did not)
        connection.close()
    assert answer.status == Status.TIMEOUT
    assert 0.5 <= elapsed < 0.5 + 0.25


def test_a_datagram_with_another_id_that_does_not_parse_is_dropped_unread() -> None:
    """Found by review: a spoofer's garbage ended the wait as an unreadable answer (and made
    `hook --dane-strict` refuse a good renewal); only a datagram with our ID is read."""
    good = _tlsa_rr(b"\x03\x01\x01" + b"\xab" * 32)
    server = ScriptedResolver(
        lambda q: [
            bytes([q[0] ^ 0xFF, q[1] ^ 0xFF]) + b"\x81\x80" + b"\xff" * 40,
            _reply(q, 0x8180, good, 1),
        ]
    )
    try:
        answer = resolver_lookup(server.address, 2.0)(MX)
    finally:
        server.close()
    assert answer == Answer(MX, Status.OK, (TlsaRecord(3, 1, 1, b"\xab" * 32),))
