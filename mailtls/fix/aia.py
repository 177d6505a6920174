"""Fetch a missing issuer from the AIA caIssuers URL: http(s) only, cached per run, bounded by
a deadline per URL and one for the whole run; every failure is a reason, never an exception."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from mailtls.fix.aia_http import BLOCKED, Network, Refused, http_get, socket_error
from mailtls.net import Clock, Deadline
from mailtls.pki.chain import extensions
from mailtls.pki.load import parse

URL_TIMEOUT = 5.0  # one URL, all of it: resolving, connecting, redirects, headers, body
RUN_TIMEOUT = 20.0  # all AIA fetches of one run together
MAX_URLS = 20  # per certificate: more is not a CA's doing

Opener = Callable[[str, Deadline], bytes]


def ca_issuer_urls(cert: x509.Certificate) -> list[str]:
    """Every caIssuers URI, whatever its scheme: those not fetched are said, not hidden."""
    try:
        access = extensions(cert).get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    urls = [
        str(item.access_location.value)
        for item in access
        if item.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(item.access_location, x509.UniformResourceIdentifier)
    ]
    return list(dict.fromkeys(urls))[:MAX_URLS]


@dataclass
class AiaFetcher:
    """Issuers named by AIA, fetched once per URL per run; failures are remembered as words.
    The run's clock starts at the first fetch; once it has run out, no URL is tried."""

    url_timeout: float = URL_TIMEOUT
    run_timeout: float = RUN_TIMEOUT
    blocked: Sequence[tuple[Network, str]] = BLOCKED
    opener: Opener | None = None  # (url, deadline) -> body; the bounded HTTP GET by default
    clock: Clock = time.monotonic
    fetched: dict[str, list[x509.Certificate]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    _run: Deadline | None = field(default=None, repr=False)

    def issuers_of(self, cert: x509.Certificate) -> list[tuple[x509.Certificate, str]]:
        found = []
        for url in ca_issuer_urls(cert):
            found += [(issuer, url) for issuer in self.fetch(url)]
        return found

    def fetch(self, url: str) -> list[x509.Certificate]:
        """The certificates at `url`, fetched at most once per run."""
        if url not in self.fetched:
            self.fetched[url] = self._fetch(url)
        return self.fetched[url]

    def _fetch(self, url: str) -> list[x509.Certificate]:
        if self._run is None:
            self._run = Deadline(self.run_timeout, self.clock)
        if self._run.expired():
            return self._failed(url, f"not tried: the {self._ran_out()} had passed")
        deadline = Deadline(self.url_timeout, self.clock).sooner(self._run)
        try:
            data = self._open(url, deadline)
        except Refused as refusal:
            return self._failed(url, str(refusal))
        except TimeoutError:
            if deadline is self._run:
                return self._failed(url, f"stopped: the {self._ran_out()} had passed")
            return self._failed(url, f"no complete answer within {self.url_timeout:g} s")
        except OSError as error:
            return self._failed(url, socket_error(error))
        blocks, _ = parse(data)
        certs = [b.cert for b in blocks if b.cert is not None]
        if not certs:
            self.failures[url] = "the answer holds no certificate"
        return certs

    def _open(self, url: str, deadline: Deadline) -> bytes:
        if self.opener is not None:
            return self.opener(url, deadline)
        return http_get(url, deadline, self.blocked)

    def _ran_out(self) -> str:
        return f"{self.run_timeout:g} s for all AIA fetches"

    def _failed(self, url: str, reason: str) -> list[x509.Certificate]:
        self.failures[url] = reason
        return []
