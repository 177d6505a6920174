"""One TLSA question to one resolver with dnspython: UDP, TCP when truncated, one timeout for
both. The rcode is read here rather than through dns.resolver, which turns SERVFAIL and
REFUSED into the same "no nameservers" error and retries on its own clock."""

from __future__ import annotations

import socket
import time

import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from mailtls.dane.lookup import Answer, Status, endpoint_text, parse_resolver
from mailtls.dane.records import TlsaRecord
from mailtls.errors import UsageError

# The EDNS size that avoids IP fragmentation (DNS flag day 2020); larger answers come by TCP.
UDP_PAYLOAD = 1232
RESOLV_CONF = "/etc/resolv.conf"
MAX_CNAMES = 8  # RFC 7671 §7 follows CNAMEs; a longer chain is a loop or an attack


def system_resolver() -> tuple[str, int]:
    """The first nameserver of /etc/resolv.conf, as dnspython reads it."""
    try:
        nameservers = dns.resolver.Resolver(RESOLV_CONF).nameservers
    except (dns.resolver.NoResolverConfiguration, ValueError) as error:
        reason = f"no nameserver read from {RESOLV_CONF} ({error})"
        raise UsageError(f"{reason}: give --resolver IP") from None
    if not nameservers or not isinstance(nameservers[0], str):  # resolv.conf gives strings
        raise UsageError(f"no plain nameserver in {RESOLV_CONF}: give --resolver IP")
    return parse_resolver(nameservers[0])


def ask(owner: str, host: str, port: int, timeout: float) -> Answer:
    """The TLSA records at `owner` as `host`:`port` answers, within `timeout` seconds."""
    owner = owner.rstrip(".")
    where = endpoint_text(host, port)
    try:
        qname = dns.name.from_text(owner)
    except dns.exception.DNSException as error:
        return Answer(owner, Status.ERROR, detail=f"not a DNS name: {error}")
    try:
        response = _exchange(_question(qname), host, port, timeout)
    except (dns.exception.Timeout, TimeoutError):
        return Answer(owner, Status.TIMEOUT, detail=f"no answer in {timeout:g} s from {where}")
    except OSError as error:
        return Answer(owner, Status.ERROR, detail=f"cannot ask {where}: {error.strerror or error}")
    except Exception as error:  # dnspython parsing hostile bytes: whatever it raises on them
        reason = f"{type(error).__name__}: {error}"[:200]
        return Answer(owner, Status.ERROR, detail=f"unreadable answer from {where} ({reason})")
    return _judge(owner, qname, response, where)


def _question(qname: dns.name.Name) -> dns.message.Message:
    """RD, and AD with the EDNS DO bit, so a validating resolver reports what it validated
    (RFC 6840 §5.7) and keeps the signatures in the answer."""
    query = dns.message.make_query(qname, dns.rdatatype.TLSA, want_dnssec=True, payload=UDP_PAYLOAD)
    query.flags |= dns.flags.AD
    return query


def _exchange(
    query: dns.message.Message, host: str, port: int, timeout: float
) -> dns.message.Message:
    end = time.time() + timeout  # dnspython's expirations are on time.time()
    response = _udp(query, host, port, end)
    if not response.flags & dns.flags.TC:
        return response
    left = end - time.time()
    if left <= 0:
        raise dns.exception.Timeout
    return dns.query.tcp(query, host, timeout=left, port=port)


def _udp(query: dns.message.Message, host: str, port: int, end: float) -> dns.message.Message:
    """The first datagram from the resolver that answers our question. Ones from elsewhere
    or with another ID are dropped unread, as a stub resolver does: a spoofer must not end
    the wait, not even with bytes that do not parse (it would have to guess the ID, 16 bits,
    to be read at all). A datagram with our ID that does not parse is an unreadable answer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # (address, port, flow, scope) for IPv6: the form replies are compared in.
    resolver = dns.inet.low_level_address_tuple((host, port), family)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)  # dnspython waits with select() up to `end`, then reads
        dns.query.send_udp(sock, query, resolver, end)
        while True:
            left = end - time.time()
            if left <= 0:
                raise dns.exception.Timeout
            sock.settimeout(left)
            try:
                wire, source = sock.recvfrom(65535)
            except TimeoutError:
                raise dns.exception.Timeout from None
            if not _same_address(source, resolver) or wire[:2] != query.id.to_bytes(2, "big"):
                continue
            response = dns.message.from_wire(wire)
            if query.is_response(response):
                return response


def _same_address(source: tuple[object, ...], resolver: tuple[object, ...]) -> bool:
    """The reply's address is the resolver's (IPv6 tuples also carry flow and scope)."""
    return source[:2] == resolver[:2]


def _judge(owner: str, qname: dns.name.Name, response: dns.message.Message, where: str) -> Answer:
    rcode = response.rcode()
    secure = bool(response.flags & dns.flags.AD)
    if rcode == dns.rcode.NXDOMAIN:
        return Answer(owner, Status.NXDOMAIN, secure=secure, detail=f"NXDOMAIN from {where}")
    if rcode == dns.rcode.SERVFAIL:
        return Answer(owner, Status.SERVFAIL, detail=f"SERVFAIL from {where}")
    if rcode != dns.rcode.NOERROR:
        return Answer(owner, Status.ERROR, detail=f"{dns.rcode.to_text(rcode)} from {where}")
    final = _final_name(response, qname)
    if final is None:
        return Answer(owner, Status.ERROR, detail=f"a CNAME chain over {MAX_CNAMES} from {where}")
    found = response.get_rrset(response.answer, final, dns.rdataclass.IN, dns.rdatatype.TLSA)
    via = "" if final == qname else f" (via CNAME {final.to_text(omit_final_dot=True)})"
    if not found:
        return Answer(owner, Status.NODATA, secure=secure, detail=f"no TLSA from {where}{via}")
    # An RRset has no order; sorted, the same records always read the same in a report.
    records = tuple(
        sorted(TlsaRecord(rdata.usage, rdata.selector, rdata.mtype, rdata.cert) for rdata in found)
    )
    return Answer(owner, Status.OK, records, secure, detail=via.strip(" ()"))


def _final_name(response: dns.message.Message, qname: dns.name.Name) -> dns.name.Name | None:
    """Where the CNAMEs in the answer lead from `qname`; its TLSA RRset is the one that
    counts (RFC 7671 §7). None for a chain too long to be honest."""
    name = qname
    for _ in range(MAX_CNAMES + 1):
        cname = response.get_rrset(response.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if not cname:
            return name
        name = cname[0].target
    return None
