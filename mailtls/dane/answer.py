"""A TLSA lookup's answer as the checks see it: the records, and whether DNSSEC vouched for them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mailtls.dane.records import TlsaRecord


class Status(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class Answer:
    """The resolver's answer for one owner name.

    `secure` is the AD bit of the resolver's response, for any status it answered with: an
    OK with `secure` holds validated records, an NXDOMAIN or NODATA with `secure` is a
    validated denial. `detail` is words for a finding, naming the resolver.
    """

    owner: str  # "_25._tcp.mx.example.org" (no trailing dot)
    status: Status
    records: tuple[TlsaRecord, ...] = ()  # the TLSA RDATA, when status is OK; sorted
    secure: bool = False  # the resolver set AD (DNSSEC-validated)
    detail: str = ""


Lookup = Callable[[str], Answer]
