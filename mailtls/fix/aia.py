"""Fetch a missing issuer from the AIA caIssuers URL: bounded, http(s) only, cached per run."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from mailtls.pki.chain import extensions
from mailtls.pki.load import parse

MAX_BYTES = 1024 * 1024
MAX_REDIRECTS = 3
TIMEOUT = 5.0

Opener = Callable[[str], bytes]


def ca_issuer_urls(cert: x509.Certificate) -> list[str]:
    try:
        access = extensions(cert).get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        str(item.access_location.value)
        for item in access
        if item.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(item.access_location, x509.UniformResourceIdentifier)
        and str(item.access_location.value).lower().startswith(("http://", "https://"))
    ]


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if not newurl.lower().startswith(("http://", "https://")):
            raise urllib.error.HTTPError(newurl, code, "redirect to another scheme", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def http_get(url: str) -> bytes:
    """GET with a timeout, at most MAX_BYTES, following at most MAX_REDIRECTS http(s) hops."""
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"{url}: only http and https are fetched")
    opener = urllib.request.build_opener(_Redirects)
    request = urllib.request.Request(url, headers={"User-Agent": "mailtls"})  # noqa: S310 (checked above)
    with opener.open(request, timeout=TIMEOUT) as response:
        data: bytes = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"more than {MAX_BYTES // 1024} KiB")
    return data


@dataclass
class AiaFetcher:
    """Issuers named by AIA, fetched once per URL per run; failures are remembered as words."""

    opener: Opener = http_get
    fetched: dict[str, list[x509.Certificate]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def issuers_of(self, cert: x509.Certificate) -> list[tuple[x509.Certificate, str]]:
        found = []
        for url in ca_issuer_urls(cert):
            if url not in self.fetched:
                self.fetched[url] = self._fetch(url)
            found += [(issuer, url) for issuer in self.fetched[url]]
        return found

    def _fetch(self, url: str) -> list[x509.Certificate]:
        try:
            data = self.opener(url)
        except (OSError, ValueError, urllib.error.URLError) as error:
            self.failures[url] = str(getattr(error, "reason", error))
            return []
        blocks, _ = parse(data)
        certs = [b.cert for b in blocks if b.cert is not None]
        if not certs:
            self.failures[url] = "the answer holds no certificate"
        return certs
