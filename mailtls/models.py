"""Frozen dataclasses that travel between the stages: endpoints, findings, reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

Service = Literal["dovecot", "postfix", "network", "file"]
Role = Literal["server", "client"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True)
class Location:
    """Where a setting was written: a file and a 1-based line number."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Endpoint:
    """One certificate (and key) a daemon presents, for some names, in some scope.

    `slot` tells which of a daemon's certificate settings this is: `main`, Dovecot's
    `alt`, Postfix's `ecdsa`/`dsa` pairs, or `chain` for `*_tls_chain_files`.
    `ca_file` is not among `files()`: it is a trust list, not part of what is served.
    """

    id: str
    service: Service
    role: Role
    scope: str
    source: Location | None
    cert_file: str | None
    key_file: str | None
    chain_files: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    enabled: bool = True
    slot: str = "main"
    config: str = ""
    services: tuple[str, ...] = ()
    sni_table: str = ""  # Postfix SNI map endpoints: the table `postmap -F` indexes
    # The CA file the daemon loads beside the certificate (Postfix smtpd_tls_CAfile, Dovecot
    # ssl_ca / ssl_server_ca_file): OpenSSL in Postfix completes a leaf-only chain from it.
    ca_file: str | None = None

    def files(self) -> tuple[str, ...]:
        """Every certificate or key file this endpoint loads, in load order."""
        listed = (self.cert_file, self.key_file, *self.chain_files)
        return tuple(dict.fromkeys(f for f in listed if f))


@dataclass(frozen=True)
class Finding:
    """One problem, with a stable kebab-case code."""

    code: str
    severity: Severity
    message: str
    source: Location | None = None
    path: str | None = None
    endpoint: str | None = None
    hint: str = ""
    fixable: bool = False


@dataclass(frozen=True)
class Listener:
    """A port a daemon listens on, as its configuration says: where `audit --live` connects."""

    service: Service
    label: str  # `imap-login/imaps`, `submission/inet`
    host: str
    port: int
    starttls: str | None  # the STARTTLS dialogue, or None for implicit TLS
    config: str


@dataclass(frozen=True)
class ConfigResult:
    """What the configuration readers found in one or more configuration trees."""

    endpoints: tuple[Endpoint, ...] = ()
    findings: tuple[Finding, ...] = ()
    configs: tuple[str, ...] = field(default=())
    listeners: tuple[Listener, ...] = ()

    def without(self, codes: Iterable[str]) -> ConfigResult:
        """The same result with the findings of these codes left out (`--ignore`)."""
        dropped = set(codes)
        kept = tuple(f for f in self.findings if f.code not in dropped)
        return ConfigResult(self.endpoints, kept, self.configs, self.listeners)

    def merged(self, other: ConfigResult) -> ConfigResult:
        return ConfigResult(
            self.endpoints + other.endpoints,
            self.findings + other.findings,
            self.configs + other.configs,
            self.listeners + other.listeners,
        )


@dataclass(frozen=True)
class CertInfo:
    """A certificate as the report shows it: no cryptography objects past this point."""

    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    sha256: str
    key_type: str
    key_size: int
    is_ca: bool
    self_signed: bool


@dataclass(frozen=True)
class ServedChain:
    """What one endpoint presents: the certificates in the order its files hold them, or,
    with `listener` set, in the order a running daemon sent them on that port."""

    endpoint: str
    certs: tuple[CertInfo, ...]
    trusted: bool
    key_file: str | None = None
    listener: str = ""


@dataclass(frozen=True)
class Report:
    """The audit's result: endpoints, their chains, every finding; renderers take this."""

    endpoints: tuple[Endpoint, ...]
    chains: tuple[ServedChain, ...]
    findings: tuple[Finding, ...]
    configs: tuple[str, ...]
    at: str

    def without(self, codes: Iterable[str]) -> Report:
        dropped = set(codes)
        kept = tuple(f for f in self.findings if f.code not in dropped)
        return replace(self, findings=kept)
