"""Property tests: whatever a server sends, each STARTTLS dialogue reaches TLS or ends with a
finding (ProbeError), and a whole probe returns data; never another exception, never a hang."""

from __future__ import annotations

import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtls.checks.registry import CODES
from mailtls.net import Deadline
from mailtls.probe.dialogue import DIALOGUES, LineReader, ProbeError
from mailtls.probe.tls import Target, probe
from tests.netservers import LoopbackServer

# Lines each protocol uses, so that examples get past the greeting often enough.
WORDS = [
    b"220 mail ESMTP",
    b"220-mail",
    b"250-mail",
    b"250-STARTTLS",
    b"250 STARTTLS",
    b"250 ok",
    b"220 go",
    b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi",
    b"* OK hi",
    b"* PREAUTH",
    b"* CAPABILITY STARTTLS",
    b"a OK done",
    b"b OK begin",
    b"+OK",
    b"STLS",
    b".",
    b'"STARTTLS"',
    b'"SIEVE" "x"',
    b"OK",
    b"-ERR",
    b"\x00",
    b"\xff\xfe",
    b"\x1b[2J\xe2\x80\xae",
]
LINES = st.lists(st.one_of(st.sampled_from(WORDS), st.binary(max_size=20)), max_size=12)
ENDINGS = st.sampled_from([b"\r\n", b"\n", b"\r", b""])
SERVER_BYTES = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda lines, end: end.join(lines) + end, LINES, ENDINGS),
)
PROBE_CODES = {"protocol-error", "starttls-missing", "endpoint-unreachable", "tls-handshake-failed"}


def converse(protocol: str, data: bytes) -> None:
    """Run `protocol`'s dialogue against `data` sent at once and then the end of stream; the
    server end stays open, so the client's commands never fail to send."""
    client, server = socket.socketpair()
    with client, server:
        server.sendall(data)
        server.shutdown(socket.SHUT_WR)
        DIALOGUES[protocol](LineReader(client, Deadline(2.0)))


@pytest.mark.parametrize("protocol", sorted(DIALOGUES))
@settings(max_examples=300, deadline=2000)
@given(data=SERVER_BYTES)
def test_dialogue_reaches_tls_or_gives_a_finding(protocol: str, data: bytes) -> None:
    try:
        converse(protocol, data)
    except ProbeError as error:
        assert error.code in PROBE_CODES and error.code in CODES
        assert str(error).isascii() and str(error).isprintable()


@settings(
    max_examples=40, deadline=4000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(protocol=st.sampled_from([None, *sorted(DIALOGUES)]), data=SERVER_BYTES)
def test_a_whole_probe_of_any_server_is_data(protocol: str | None, data: bytes) -> None:
    """Over loopback, with the TLS handshake too: a WireChain with a finding code, or a chain."""

    def run(conn: socket.socket, stop: object) -> None:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)  # then read what the client says until it closes
        conn.settimeout(3)
        while conn.recv(4096):
            pass

    with LoopbackServer(run) as server:
        wire = probe(Target("127.0.0.1", server.port, protocol, "mail.example.org"), 2.0)
    assert wire.error_code in PROBE_CODES
    assert wire.error is not None and wire.error.isprintable()
