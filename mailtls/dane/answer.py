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
    owner: str
    status: Status
    records: tuple[TlsaRecord, ...] = ()
    secure: bool = False
    detail: str = ""


Lookup = Callable[[str], Answer]
