"""Small hostile servers for network tests: bound to 127.0.0.1 port 0 in the test process, a
thread per connection. The socket listens before the port is handed out, so nothing waits for
readiness; `close()` ends every trickle at once."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType

Behaviour = Callable[[socket.socket, threading.Event], None]


class LoopbackServer:
    """Runs `behaviour(conn, stop)` for each connection; counts connections and requests."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.accepted = 0
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.behaviour(conn, self.stop)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self.listener.close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_request(conn: socket.socket, seen: list[bytes] | None = None) -> bytes:
    """The request head (up to the empty line, at most 64 KiB); kept in `seen` if given."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        head += chunk
    if seen is not None:
        seen.append(head)
    return head


def answer(payload: bytes, seen: list[bytes] | None = None) -> Behaviour:
    """Read the request, send `payload`, close."""

    def run(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn, seen)
        conn.sendall(payload)

    return run


def trickle(payload: bytes, interval: float, request: bool = True) -> Behaviour:
    """Send `payload` one byte per `interval` (after reading the request, if `request`)."""

    def run(conn: socket.socket, stop: threading.Event) -> None:
        if request:
            read_request(conn)
        for byte in _bytes(payload):
            if stop.wait(interval):
                return
            conn.sendall(byte)

    return run


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept and say nothing until the test ends."""
    stop.wait(60)


def _bytes(payload: bytes) -> Iterator[bytes]:
    return (payload[i : i + 1] for i in range(len(payload)))
