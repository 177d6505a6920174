"""Dovecot filter blocks: which nestings Dovecot takes, and the networks `local` and `remote`
name (found by differential testing against doveconf 2.3 and 2.4)."""

from __future__ import annotations

import functools
import ipaddress
from typing import TYPE_CHECKING

from mailtls.errors import ConfigError

if TYPE_CHECKING:
    from mailtls.config.dovecot_syntax import Line

Filter = tuple[tuple[str, str], ...]
# Dovecot 2.3 and 2.4 reject other nestings: local { local_name { remote { protocol { } } } }.
FILTER_ORDER = ("local", "local_name", "remote", "protocol")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=65536)
def network(value: str) -> Network | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:  # a host name, which Dovecot looks up
        return None


def check_nesting(parent: Filter, line: Line) -> None:
    """The order 2.3 and 2.4 want, local { local_name { remote { protocol { } } } }; a
    local_name, local or remote block may hold another of its kind, a network inside the
    outer one (found by differential testing)."""
    rank = FILTER_ORDER.index(line.key)
    for outer, value in parent:
        same = outer == line.key != "protocol"
        if same and outer != "local_name" and not inside(line.value, value):
            raise ConfigError(
                f"{line.location}: {outer} net1 {{ {outer} net2 {{ .. }} }} requires net2 to be"
                " inside net1"
            )
        if FILTER_ORDER.index(outer) >= rank and not same:
            raise ConfigError(
                f"{line.location}: {outer} {{ {line.key} {{ .. }} }} not allowed"
                f" (Dovecot wants {line.key} {{ {outer} {{ .. }} }})"
            )


def inside(inner: str, outer: str) -> bool:
    inner_net, outer_net = network(inner), network(outer)
    if inner_net is None or outer_net is None or inner_net.version != outer_net.version:
        return False  # a host name (Dovecot looks it up), or IPv4 in IPv6
    return inner_net.subnet_of(outer_net)  # type: ignore[arg-type]


def nested(parent: Filter, item: tuple[str, str]) -> Filter:
    """2.3: the scope of a block in `parent`, where a filter of its kind gives way to it."""
    if any(kind == item[0] for kind, _ in parent):
        return tuple(item if kind == item[0] else (kind, value) for kind, value in parent)
    return (*parent, item)
