"""AIA fetches are bounded: one deadline per URL (all of it) and one for the run; link-local
and unspecified addresses are refused before any connection; loopback stays allowed."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from fixtures.build import FOREVER
from mailtls.fix.aia import AiaFetcher
from tests.conftest import FIXTURES
from tests.netservers import LoopbackServer, answer, silent, trickle
from tests.probe.test_probe import tls_context

R2_DER = x509.load_pem_x509_certificate(
    (FIXTURES / "pki" / "issuing-r2.pem").read_bytes()
).public_bytes(serialization.Encoding.DER)


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def cert_with_urls(urls: list[str]) -> x509.Certificate:
    """A self-signed certificate whose AIA names each of `urls` as a caIssuers location."""
    key = ec.derive_private_key(7, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.org")])
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
        )
        for u in urls
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(FOREVER[0])
        .not_valid_after(FOREVER[1])
        .add_extension(x509.AuthorityInformationAccess(access), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every address a socket connects to; anything but loopback is stopped before the
    connect system call, so no packet can leave the machine whatever the code under test does."""
    seen: list[str] = []
    real = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        seen.append(str(address[0]))
        if not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
            raise OSError(f"test: no connection to {address[0]}")
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield seen


def test_a_trickling_server_ends_at_the_url_deadline() -> None:
    """One byte every 0.1 s kept each read alive forever; now the whole URL gets 1 s."""
    body = b"x" * 5000
    with LoopbackServer(trickle(ok(body), 0.1)) as server:
        fetcher = AiaFetcher(url_timeout=1.0, run_timeout=10.0)
        started = time.monotonic()
        assert fetcher.fetch(f"{server.base}/r2.der") == []
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert fetcher.failures == {f"{server.base}/r2.der": "no complete answer within 1 s"}


def test_twenty_silent_urls_end_within_the_run_deadline() -> None:
    """20 URLs that never answer: the run stops at its deadline and says which were skipped."""
    with LoopbackServer(silent) as server:
        urls = [f"{server.base}/{n}.der" for n in range(20)]
        fetcher = AiaFetcher(url_timeout=0.4, run_timeout=1.0)
        started = time.monotonic()
        assert fetcher.issuers_of(cert_with_urls(urls)) == []
        elapsed = time.monotonic() - started
        tried = server.accepted
    assert elapsed < 2.0
    assert tried <= 4
    assert list(fetcher.failures) == urls
    skipped = [u for u, why in fetcher.failures.items() if why.startswith("not tried")]
    assert len(skipped) >= 16
    assert fetcher.failures[urls[-1]] == "not tried: the 1 s for all AIA fetches had passed"
    assert fetcher.failures[urls[0]] == "no complete answer within 0.4 s"


def test_a_redirect_shares_the_url_deadline() -> None:
    """Redirects do not restart the clock: a hop to a trickling path ends at the same deadline."""
    with LoopbackServer(trickle(ok(b"x" * 5000), 0.1)) as slow:
        moved = b"HTTP/1.1 302 Found\r\nLocation: %s/r2.der\r\n\r\n" % slow.base.encode()
        with LoopbackServer(answer(moved)) as first:
            fetcher = AiaFetcher(url_timeout=1.0)
            started = time.monotonic()
            assert fetcher.fetch(f"{first.base}/r2.der") == []
            assert time.monotonic() - started < 2.5
    assert list(fetcher.failures.values()) == ["no complete answer within 1 s"]


def test_the_defaults_are_five_seconds_per_url_and_twenty_in_all() -> None:
    fetcher = AiaFetcher()
    assert (fetcher.url_timeout, fetcher.run_timeout) == (5.0, 20.0)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("https://169.254.169.254/x.der", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/x.der", "fe80::1 is a link-local address"),
        ("http://[::ffff:169.254.169.254]/x.der", "is a link-local address"),
        ("http://[fd00:ec2::254]/x.der", "the cloud metadata address"),
        ("http://0.0.0.0/x.der", "0.0.0.0 is an unspecified address"),
        ("http://[::]/x.der", ":: is an unspecified address"),
    ],
)
def test_link_local_and_unspecified_addresses_are_refused_unconnected(
    connects: list[str], url: str, reason: str
) -> None:
    fetcher = AiaFetcher()
    started = time.monotonic()
    assert fetcher.fetch(url) == []
    assert time.monotonic() - started < 0.5
    assert connects == []
    assert reason in fetcher.failures[url]
    assert fetcher.failures[url].endswith("never fetched")


def test_a_name_resolving_to_the_metadata_address_is_refused(
    connects: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is on the resolved address, not on the name."""

    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "aia.example.test"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    fetcher = AiaFetcher()
    url = "http://aia.example.test/r2.der"
    assert fetcher.fetch(url) == []
    assert connects == []
    assert fetcher.failures[url] == (
        "aia.example.test: 169.254.169.254 is a link-local address (cloud metadata), never fetched"
    )


def test_the_checked_address_is_the_one_connected_to(
    connects: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once; the connection goes to that address (no second lookup that
    a rebinding DNS server could answer differently); the Host header keeps the name."""
    lookups: list[str] = []

    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    requests: list[bytes] = []
    with LoopbackServer(answer(ok(R2_DER), requests)) as server:
        url = f"http://aia.example.test:{server.port}/r2.der"
        (issuer,) = AiaFetcher().fetch(url)
    assert issuer.subject.rfc4514_string().startswith("CN=Example Issuing CA R2")
    assert (lookups, connects) == (["aia.example.test"], ["127.0.0.1"])
    assert f"Host: aia.example.test:{server.port}\r\n".encode() in requests[0]


def test_a_redirect_to_the_metadata_address_is_refused(connects: list[str]) -> None:
    moved = b"HTTP/1.1 301 Moved\r\nLocation: http://169.254.169.254/latest/\r\n\r\n"
    with LoopbackServer(answer(moved)) as server:
        fetcher = AiaFetcher()
        assert fetcher.fetch(f"{server.base}/r2.der") == []
    assert connects == ["127.0.0.1"]
    assert "link-local" in fetcher.failures[f"{server.base}/r2.der"]


def test_loopback_is_fetched_and_each_url_once() -> None:
    requests: list[bytes] = []
    with LoopbackServer(answer(ok(R2_DER), requests)) as server:
        fetcher = AiaFetcher()
        url = f"{server.base}/r2.der"
        assert len(fetcher.fetch(url)) == 1
        assert len(fetcher.issuers_of(cert_with_urls([url, url]))) == 1
    assert len(requests) == 1
    assert requests[0].startswith(b"GET /r2.der HTTP/1.1\r\n")


def test_https_handshake_shares_the_url_deadline() -> None:
    """A TLS record header, then its body a byte at a time: the handshake ends at the deadline."""
    record = b"\x16\x03\x03\x40\x00" + b"\x02" * 400
    with LoopbackServer(trickle(record, 0.05, request=False)) as server:
        fetcher = AiaFetcher(url_timeout=1.0)
        url = f"https://127.0.0.1:{server.port}/r2.der"
        started = time.monotonic()
        assert fetcher.fetch(url) == []
        assert time.monotonic() - started < 2.5
    assert fetcher.failures[url] == "no complete answer within 1 s"


def test_an_https_server_with_an_untrusted_certificate_is_a_reason(tmp_path: Path) -> None:
    context = tls_context(tmp_path, "leaf-2026.pem", "issuing-r2.pem")

    def serve(conn: socket.socket, stop: threading.Event) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    with LoopbackServer(serve) as server:
        fetcher = AiaFetcher()
        url = f"https://127.0.0.1:{server.port}/r2.der"
        assert fetcher.fetch(url) == []
    assert fetcher.failures[url] == "TLS: CERTIFICATE_VERIFY_FAILED"
