"""TLSA look-ups through one resolver: what it answered, whether it validated, bounded in time.

dnspython is an extra (`mailtls[dane]`): it is imported only when a look-up is set up, by
mailtls.dane.query, so everything else in mailtls runs without it.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable

# Defined once in answer.py (the checks use them without dnspython); re-exported here.
from mailtls.dane.answer import Answer as Answer
from mailtls.dane.answer import Lookup as Lookup
from mailtls.dane.answer import Status as Status
from mailtls.errors import UsageError

NEEDS_DNSPYTHON = "--dane needs dnspython: pip install 'mailtls[dane]'"
_RESOLVER_FORMS = "IP, IP:PORT, [IPv6]:PORT or IPv6"


def parse_resolver(text: str) -> tuple[str, int]:
    """`--resolver`: an IP address with an optional port (53). Names are refused: looking a
    resolver up would need a resolver, and the point is to pick one."""
    value = text.strip()
    host, port_text = value, ""
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _bad_resolver(text)
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise _bad_resolver(text) from None
    if value.startswith("[") and address.version == 4:
        raise _bad_resolver(text)
    return str(address), _port(port_text, text)


def _port(port_text: str, text: str) -> int:
    if not port_text:
        return 53
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _bad_resolver(text)
    return int(port_text)


def _bad_resolver(text: str) -> UsageError:
    return UsageError(f"--resolver wants {_RESOLVER_FORMS}, not {text[:80]!r}")


def endpoint_text(host: str, port: int) -> str:
    """`127.0.0.1:53`, `[::1]:53`: the resolver as a finding names it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolver_lookup(resolver: str | None = None, timeout: float = 5.0) -> Lookup:
    """A look-up through `resolver` (None: the first nameserver of /etc/resolv.conf), each
    question answered or given up within `timeout` seconds, UDP and TCP retry together."""
    if not timeout > 0:
        raise UsageError(f"the DNS timeout must be more than 0 seconds, not {timeout}")
    try:
        from mailtls.dane import query
    except ImportError as error:
        if not (error.name or "").partition(".")[0] == "dns":
            raise  # a bug of ours, not a missing extra
        raise UsageError(NEEDS_DNSPYTHON) from None
    host, port = parse_resolver(resolver) if resolver is not None else query.system_resolver()

    def lookup(owner: str) -> Answer:
        return query.ask(owner, host, port, timeout)

    return lookup


def lookup_many(
    owners: Iterable[str], lookup: Lookup, workers: int = 16, deadline: float = 30.0
) -> dict[str, Answer]:
    """Every owner's answer, each distinct name asked once, `workers` at a time; names not
    answered within `deadline` seconds in all are TIMEOUT. Keys are the owners as given."""
    given = list(owners)
    distinct = list(dict.fromkeys(_key(owner) for owner in given))
    answers = _Batch(distinct, lookup).run(workers, deadline)
    late = f"not answered within the {deadline:g} s for all names"
    for owner in distinct:
        answers.setdefault(owner, Answer(owner, Status.TIMEOUT, detail=late))
    return {owner: answers[_key(owner)] for owner in given}


def _key(owner: str) -> str:
    return owner.rstrip(".").lower()


class _Batch:
    """Names handed out to daemon threads one at a time; the caller waits for all of them or
    the deadline, whichever is first. Threads still asking after it are abandoned: each is
    bounded by its own look-up's timeout, and being daemons they never hold the process."""

    def __init__(self, owners: list[str], lookup: Lookup) -> None:
        self.owners = owners
        self.lookup = lookup
        self.next = 0
        self.answers: dict[str, Answer] = {}
        self.failure: BaseException | None = None
        self.stopped = False
        self.changed = threading.Condition()

    def run(self, workers: int, deadline: float) -> dict[str, Answer]:
        for _ in range(max(1, min(workers, len(self.owners)))):
            threading.Thread(target=self._work, daemon=True).start()
        end = time.monotonic() + deadline
        with self.changed:
            while len(self.answers) < len(self.owners) and self.failure is None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            self.stopped = True
            if self.failure is not None:
                raise self.failure  # a bug in the look-up, not an answer: show it
            return dict(self.answers)

    def _work(self) -> None:
        while (owner := self._take()) is not None:
            try:
                answer = self.lookup(owner)
            except BaseException as error:  # handed to the caller's thread, raised there
                with self.changed:
                    self.failure = error
                    self.changed.notify_all()
                return
            with self.changed:
                self.answers[owner] = answer
                self.changed.notify_all()

    def _take(self) -> str | None:
        with self.changed:
            if self.stopped or self.next >= len(self.owners):
                return None
            self.next += 1
            return self.owners[self.next - 1]
