"""Hostile AIA answers and URLs, each from a raw-socket server on 127.0.0.1: a refusal reason
the admin can read, never an exception."""

from __future__ import annotations

import pytest

from mailtls.fix.aia import AiaFetcher
from tests.fix.test_aia import R2_DER, cert_with_urls, ok
from tests.netservers import LoopbackServer, answer

MIB = 1024 * 1024
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

ANSWERS = {
    "bad-status-line": (b"HTTP/1.1 2OO OK\r\n\r\n", "not an HTTP answer: HTTP/1.1 2OO OK"),
    "ssh-banner": (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "not an HTTP answer: SSH-2.0-OpenSSH"),
    "binary-status": (b"\x00\x1b[2J\xe2\x80\xae\r\n", r"not an HTTP answer: \x00\x1b[2J\xe2"),
    "empty": (b"", "the answer ended inside the status line"),
    "long-header": (
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n",
        "a header line longer than 8192 bytes",
    ),
    "101-headers": (
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
        "more than 100 header lines",
    ),
    "header-without-colon": (b"HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", "a malformed header line"),
    "folded-header": (b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "a malformed header line"),
    "chunk-size-not-hex": (CHUNKED + b"zz\r\nab\r\n0\r\n\r\n", "bad chunked encoding: zz"),
    "chunk-longer-than-said": (CHUNKED + b"2\r\nabcdef\r\n0\r\n\r\n", "bad chunked encoding"),
    "chunks-never-end": (CHUNKED + b"2\r\nab\r\n", "the answer ended inside a chunk size line"),
    "chunks-over-1-mib": (
        CHUNKED + b"100000\r\n" + b"a" * MIB + b"\r\n1\r\n",
        "more than 1024 KiB",
    ),
    "content-length-over-1-mib": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n",
        "an answer of 2000000 bytes, more than 1024 KiB",
    ),
    "body-over-1-mib-until-close": (
        b"HTTP/1.0 200 OK\r\n\r\n" + b"a" * (MIB + 1),
        "an answer of more than 1024 KiB",
    ),
    "bad-content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "a malformed Content-Length: -1",
    ),
    "two-content-lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "a malformed Content-Length: 1, 2",
    ),
    "short-body": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
        "the answer ended inside the body",
    ),
    "gzip": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "transfer encoding gzip, chunked is not supported",
    ),
    "not-found": (b"HTTP/1.1 404 Not Found\r\n\r\n", "HTTP Error 404: Not Found"),
    "redirect-without-location": (b"HTTP/1.1 302 Found\r\n\r\n", "HTTP 302 without one Location"),
    "redirect-to-ftp": (
        b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/r2.der\r\n\r\n",
        "ftp://127.0.0.1/r2.der: only http and https are fetched",
    ),
    "redirect-to-itself": (
        b"HTTP/1.1 307 Again\r\nLocation: /r2.der\r\n\r\n",
        "more than 3 redirects",
    ),
    "html": (ok(b"<html>hello</html>"), "the answer holds no certificate"),
}


@pytest.mark.parametrize("case", ANSWERS)
def test_hostile_answer_is_a_refusal_reason(case: str) -> None:
    payload, reason = ANSWERS[case]
    with LoopbackServer(answer(payload)) as server:
        url = f"{server.base}/r2.der"
        fetcher = AiaFetcher(url_timeout=5.0)
        assert fetcher.fetch(url) == []
    assert reason in fetcher.failures[url]


def test_chunked_answer_with_extensions_and_trailers_is_read() -> None:
    half = len(R2_DER) // 2
    body = b"%x;name=value\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (
        half,
        R2_DER[:half],
        len(R2_DER) - half,
        R2_DER[half:],
    )
    with LoopbackServer(answer(CHUNKED + body)) as server:
        assert len(AiaFetcher().fetch(f"{server.base}/r2.der")) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:abc/r2.der", "not a URL (Port could not be cast to integer value"),
        ("http://127.0.0.1:99999/r2.der", "not a URL (Port out of range"),
        ("http://127.0.0.1:0/r2.der", "port 0"),
        ("http://[::1/r2.der", "not a URL (Invalid IPv6 URL)"),
        ("http://127.0.0.1:{port}/a b.der", "spaces, control or non-ASCII characters"),
        (
            "http://127.0.0.1:{port}/r2.der\r\nX-Injected: 1",
            r"http://127.0.0.1:{port}/r2.der\x0d\x0aX-Injected: 1: spaces, control",
        ),
        ("http://127.0.0.1:{port}/r\u00e9.der", "spaces, control or non-ASCII characters"),
        ("ftp://127.0.0.1:{port}/r2.der", "only http and https are fetched"),
        ("file:///etc/shadow", "only http and https are fetched"),
        ("ldap://ldap.example.org/cn=CA?cACertificate", "only http and https are fetched"),
        ("http:///r2.der", "no host, or credentials in the URL"),
        ("http://user:secret@127.0.0.1:{port}/r2.der", "no host, or credentials in the URL"),
    ],
)
def test_hostile_url_is_refused_unfetched(url: str, reason: str) -> None:
    """None of these reaches the server: a URL is checked whole before anything is sent."""
    with LoopbackServer(answer(ok(R2_DER))) as server:
        url = url.replace("{port}", str(server.port))
        fetcher = AiaFetcher()
        if url.isascii():  # a certificate holds only ASCII (IA5String) URIs
            assert fetcher.issuers_of(cert_with_urls([url])) == []
        else:
            assert fetcher.fetch(url) == []
        accepted = server.accepted
    assert reason.replace("{port}", str(server.port)) in fetcher.failures[url]
    assert accepted == 0
