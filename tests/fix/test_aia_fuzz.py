"""Property tests: whatever bytes an AIA server sends and whatever a certificate's URL says,
the fetcher ends with certificates or a reason, never an exception."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtls.fix.aia import AiaFetcher
from mailtls.fix.aia_http import MAX_BYTES, Refused, Response, parse_url, read_response
from tests.fix.test_aia import R2_DER
from tests.netservers import LoopbackServer, answer

FAST = settings(max_examples=400, deadline=2000)

STATUS = st.sampled_from(
    [b"HTTP/1.1 200 OK", b"HTTP/1.0 200", b"HTTP/1.1 302 Found", b"HTTP/1.1 404 x", b"HTTP/2 200"]
)
HEADER = st.one_of(
    st.sampled_from(
        [
            b"Content-Length: 0",
            b"Content-Length: 5",
            b"Content-Length: 99999999999",
            b"Transfer-Encoding: chunked",
            b"Transfer-Encoding: gzip",
            b"Location: /x",
            b"Location: ftp://x/",
            b"X: \x00\xff",
            b" folded",
        ]
    ),
    st.binary(max_size=30),
)
BODY = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"5\r\nabcde\r\n0\r\n\r\n", b"ffffffff\r\n", b"0;x\r\nT: 1\r\n\r\n", R2_DER]),
)
# An answer shaped like HTTP often enough to reach the body readers, mangled the rest of the time.
ANSWER = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda status, headers, body: status + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body,
        STATUS,
        st.lists(HEADER, max_size=6),
        BODY,
    ),
)


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """`data` split at `cuts`, as a socket may deliver it, then the end (b"")."""
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        yield data[start:cut]
        start = cut
    yield data[start:]
    while True:
        yield b""


@FAST
@given(data=ANSWER, cuts=st.lists(st.integers(0, 400), max_size=8))
def test_response_reader_gives_an_answer_or_a_reason(data: bytes, cuts: list[int]) -> None:
    try:
        response = read_response(pieces(data, cuts).__next__)
    except Refused as refusal:
        assert str(refusal)
        assert str(refusal).isprintable() and str(refusal).isascii()
        return
    assert isinstance(response, Response)
    assert 100 <= response.status <= 999
    assert len(response.body) <= MAX_BYTES
    assert response.reason.isprintable() and response.reason.isascii()


@FAST
@given(url=st.one_of(st.text(max_size=60), st.from_regex(r"https?://[^/]{0,20}(/.{0,20})?")))
def test_any_url_is_parsed_or_refused(url: str) -> None:
    try:
        parsed = parse_url(url)
    except Refused as refusal:
        assert str(refusal).isprintable() and str(refusal).isascii()
        return
    assert parsed.scheme in ("http", "https") and 0 < parsed.port < 65536
    assert all(c > " " and c.isascii() for c in parsed.target + parsed.host_header)


@FAST
@given(data=ANSWER)
def test_any_body_gives_certificates_or_a_reason(data: bytes) -> None:
    """What the PEM/DER loader makes of an answer is data too."""
    fetcher = AiaFetcher(opener=lambda url, deadline: data)
    certs = fetcher.fetch("http://aia.example.test/x")
    assert certs or fetcher.failures["http://aia.example.test/x"]


@settings(
    max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=ANSWER)
def test_any_server_bytes_over_loopback_give_certificates_or_a_reason(data: bytes) -> None:
    """The real socket path: connect, request, read, within one short deadline."""
    with LoopbackServer(answer(data)) as server:
        url = f"{server.base}/r2.der"
        fetcher = AiaFetcher(url_timeout=2.0)
        certs = fetcher.fetch(url)
    assert certs or fetcher.failures[url]
