"""Network bounds shared by the AIA fetcher and the probe: one deadline for a whole exchange,
name resolution bounded by it, and connections only to the addresses that were checked."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence

Clock = Callable[[], float]
Address = tuple[int, tuple[str, int] | tuple[str, int, int, int]]  # family, sockaddr
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Deadline:
    """A moment on the monotonic clock; every socket operation gets only the time left, so
    a peer that trickles one byte a second cannot stretch the exchange past it."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        return self.end - self.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sooner(self, other: Deadline) -> Deadline:
        return self if self.end <= other.end else other

    def arm(self, sock: socket.socket) -> None:
        """Give the next operation on `sock` only the time left; none left is a timeout."""
        left = self.remaining()
        if left <= 0:
            raise TimeoutError(f"the {self.seconds:g} s deadline passed")
        sock.settimeout(left)


def ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int, deadline: Deadline) -> list[Address]:
    """The host's addresses, resolved once. getaddrinfo has no timeout of its own, so it runs
    in a daemon thread that is abandoned when the deadline passes."""
    literal = ip_literal(host)
    if literal is not None:
        if literal.version == 4:
            return [(socket.AF_INET, (str(literal), port))]
        return [(socket.AF_INET6, (str(literal), port, 0, 0))]
    answer: list[Address] = []
    failure: list[OSError] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            for family, _, _, _, sockaddr in infos:
                if isinstance(sockaddr[0], str):  # not the (int, bytes) of AF_UNIX-likes
                    answer.append((family, sockaddr))
        except OSError as error:
            failure.append(error)
        except UnicodeError:  # a name the IDNA codec refuses
            failure.append(OSError(f"{host[:80]!r} is not a host name"))

    worker = threading.Thread(target=lookup, daemon=True, name="mailtls-resolve")
    worker.start()
    worker.join(max(deadline.remaining(), 0))
    if worker.is_alive():
        raise TimeoutError(f"resolving {host} took longer than the {deadline.seconds:g} s deadline")
    if failure:
        raise failure[0]
    return answer


def connect(addresses: Sequence[Address], deadline: Deadline) -> socket.socket:
    """A TCP connection to the first of `addresses` that answers, within the deadline; only
    these addresses are used, so what was checked is what is connected to."""
    last: OSError = OSError("no address to connect to")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            deadline.arm(sock)
            sock.connect(sockaddr)
        except TimeoutError:
            sock.close()
            raise
        except OSError as error:
            sock.close()
            last = error
            continue
        return sock
    raise last
