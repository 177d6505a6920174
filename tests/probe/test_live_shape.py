"""`audit --live` at scale, by count rather than by time: one connection per distinct
(listener, SNI name), and the progress line only where a person watches."""

from __future__ import annotations

import io
import os
import socket
import ssl
import threading
from collections import Counter
from pathlib import Path

import pytest

from mailtls.models import Endpoint, Listener, Report
from mailtls.probe import run
from mailtls.probe.live import live_report
from mailtls.probe.tls import Target, WireChain, probe
from tests.conftest import FIXTURES
from tests.netservers import LoopbackServer

PKI = FIXTURES / "pki"


def sni_recorder(names: list[str | None]) -> LoopbackServer:
    """A TLS server that keeps the SNI name of each handshake and serves one certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(PKI / "leaf-2026.pem", PKI / "leaf-2026.key")
    lock = threading.Lock()

    def remember(tls: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        with lock:
            names.append(name)

    context.sni_callback = remember

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(5)
        with context.wrap_socket(conn, server_side=True):
            pass

    return LoopbackServer(behaviour)


def endpoint(number: int, service: str, names: tuple[str, ...], slot: str = "main") -> Endpoint:
    return Endpoint(
        id=f"{service}-{number}-{slot}",
        service=service,  # type: ignore[arg-type]
        role="server",
        scope=f"block {number}",
        source=None,
        cert_file=f"/nowhere/{number}.pem",
        key_file=None,
        names=names,
        slot=slot,
        config=f"/etc/{service}",
    )


def test_one_connection_per_listener_and_name(tmp_path: Path) -> None:
    """60 names on two daemons, with Dovecot's alt slot and a block whose wildcard comes
    first naming the same names again: 120 connections, each (listener, name) once."""
    names = [f"mail.tenant{i:03d}.example" for i in range(60)]
    endpoints = [endpoint(i, "dovecot", (n,)) for i, n in enumerate(names)]
    endpoints += [endpoint(i, "dovecot", (n,), slot="alt") for i, n in enumerate(names[:20])]
    endpoints += [endpoint(100 + i, "dovecot", ("*.example", n)) for i, n in enumerate(names[:10])]
    endpoints += [endpoint(i, "postfix", (n,)) for i, n in enumerate(names)]
    seen: dict[str, list[str | None]] = {"dovecot": [], "postfix": []}
    with sni_recorder(seen["dovecot"]) as imaps, sni_recorder(seen["postfix"]) as smtps:
        listeners = [
            Listener("dovecot", "imap-login/imaps", "127.0.0.1", imaps.port, None, "/etc/dovecot"),
            Listener("postfix", "smtps/inet", "127.0.0.1", smtps.port, None, "/etc/postfix"),
        ]
        report = live_report(Report(tuple(endpoints), (), (), (), "2026-11-29"), listeners, None, 5)
        assert (imaps.accepted, smtps.accepted) == (60, 60)
    for service in ("dovecot", "postfix"):
        assert Counter(seen[service]) == Counter(names), service
    served = [chain for chain in report.chains if chain.listener]
    assert len(served) == len(endpoints)  # every endpoint compared, from the one probe
    assert report.findings == ()  # no chain on disk here: nothing to compare, nothing said


def test_probes_never_exceed_the_connection_bound() -> None:
    """However many names, at most MAX_CONNECTIONS handshakes are open at once."""
    open_now = peak = 0
    lock = threading.Lock()
    inner = probe  # what run.probe_all calls, wrapped below

    def counting(target: Target, timeout: float) -> WireChain:
        nonlocal open_now, peak
        with lock:
            open_now += 1
            peak = max(peak, open_now)
        try:
            return inner(target, timeout)
        finally:
            with lock:
                open_now -= 1

    names: list[str | None] = []
    with sni_recorder(names) as server, pytest.MonkeyPatch.context() as patch:
        patch.setattr(run, "probe", counting)
        targets = [Target("127.0.0.1", server.port, None, f"n{i}.example") for i in range(80)]
        wires = run.probe_all(targets, 5)
    assert len(names) == 80 and all(w.error_code is None for w in wires)
    assert 1 < peak <= run.MAX_CONNECTIONS


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal: one line rewritten with \\r, ended once; in a pipe or a log: nothing."""
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    for done in range(1, 11):
        run.terminal_progress(done, 10)
    text = terminal.getvalue()
    assert text.count("\r") == 10 and text.count("\n") == 1 and "10/10" in text.split("\r")[-1]
    read, write = os.pipe()
    with os.fdopen(write, "w") as pipe, os.fdopen(read) as reader:
        monkeypatch.setattr("sys.stderr", pipe)
        for done in range(1, 11):
            run.terminal_progress(done, 10)
        pipe.close()
        assert reader.read() == ""
