"""Dovecot 2.3 and 2.4: from config statements to the certificate endpoints Dovecot serves."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from mailtls.config.dovecot_expand import expand
from mailtls.config.dovecot_filters import (
    FILTER_ORDER,
    Filter,
    Network,
    check_nesting,
    nested,
    network,
)
from mailtls.config.dovecot_syntax import IncludeWalker, Line
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from mailtls.models import ConfigResult, Finding, Location

# Dovecot 2.4 named filters whose settings carry the filter's name as a prefix.
PREFIX_FILTERS = ("ssl_server", "ssl_client")
# Dovecot 2.4 boolean lists: `protocols { imap = yes  pop3 = no }` adds to and takes from the
# list; `protocols = imap, pop3` replaces it. 2.4's default is empty (the packages add theirs
# in /usr/share/dovecot/protocols.d/*.protocol).
BOOLEAN_LISTS = ("protocols",)
SLOTS = {
    "2.3": {"main": ("ssl_cert", "ssl_key"), "alt": ("ssl_alt_cert", "ssl_alt_key")},
    "2.4": {
        "main": ("ssl_server_cert_file", "ssl_server_key_file"),
        "alt": ("ssl_server_alt_cert_file", "ssl_server_alt_key_file"),
    },
}
TLS_KEYS = {key for slots in SLOTS.values() for pair in slots.values() for key in pair}

SSL_VALUES = ("yes", "no", "required")  # anything else stops doveconf: "Invalid value"


@dataclass(frozen=True)
class Setting:
    value: str
    location: Location
    from_file: bool = False
    quoted: bool = False


@dataclass
class _Frame:
    filter: Filter
    prefix: str = ""
    other: bool = False
    boolean_list: str = ""  # 2.4: `protocols {`: each line adds or removes one name


@dataclass
class DovecotConfig:
    """Every filter scope's settings, in the order the scopes first appear."""

    path: str
    version: str = "2.3"
    declared: bool = False  # starts with `dovecot_config_version`: a whole 2.4 configuration
    scopes: dict[Filter, dict[str, Setting]] = field(default_factory=lambda: {(): {}})
    scope_locations: dict[Filter, Location] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # `service NAME { inet_listener NAME { port = ... } }`: where the daemon listens.
    listeners: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    # Scopes by their set of filters: what `effective` looks sub-scopes up in.
    _by_items: dict[frozenset[tuple[str, str]], list[Filter]] = field(
        default_factory=lambda: {frozenset(): [()]}
    )
    # `local`/`remote` values by kind and network: what a narrower network's scope inherits.
    _nets: dict[tuple[str, Network], list[str]] = field(default_factory=dict)
    # `local_name` values by each name they list, and each scope's place in the file.
    _names: dict[str, list[str]] = field(default_factory=dict)
    _order: dict[Filter, int] = field(default_factory=dict)

    def open_scope(self, scope: Filter, location: Location) -> None:
        """Note a filter block; a scope met again (a second `local_name x {`) merges."""
        if scope not in self.scopes:
            self.scopes[scope] = {}
            self.scope_locations[scope] = location
            self._by_items.setdefault(frozenset(scope), []).append(scope)
            self._order[scope] = len(self._order)
            for kind, value in scope:
                for name in value.lower().split() if kind == "local_name" else ():
                    if value not in self._names.setdefault(name, []):
                        self._names[name].append(value)
                net = network(value) if kind in ("local", "remote") else None
                if net is not None and value not in self._nets.get((kind, net), []):
                    self._nets.setdefault((kind, net), []).append(value)

    def effective(self, scope: Filter) -> dict[str, Setting]:
        """Settings that apply in `scope`: every scope it contains, the more specific later.

        A scope has at most four filters, so its sub-scopes are looked up, not searched for:
        10,000 local_name blocks cost 10,000 look-ups, not 10,000 squared."""
        applying = [
            found
            for size in range(len(scope) + 1)
            for subset in itertools.combinations(scope, size)
            for variant in itertools.product(*(self._covering(item) for item in subset))
            for found in self._by_items.get(frozenset(variant), ())
        ]
        merged: dict[str, Setting] = {}
        for applied in sorted(dict.fromkeys(applying), key=self._rank):
            merged.update(self.scopes[applied])
        return merged

    def _covering(self, item: tuple[str, str]) -> list[tuple[str, str]]:
        """`item`, and for a `local`/`remote` network the filters of the networks holding it:
        a connection from 10.1.0.1 matches `remote 10.0.0.0/8` too (found by differential
        testing). Looked up per prefix length, not searched for."""
        kind, value = item
        if kind == "local_name":
            return [item, *self._rivals(value)]
        net = network(value) if kind in ("local", "remote") else None
        if net is None:
            return [item]
        found = [item]
        for prefix in range(net.prefixlen + 1):
            outer = net.supernet(new_prefix=prefix)
            found += [(kind, v) for v in self._nets.get((kind, outer), ()) if v != value]
        return found

    def _rivals(self, value: str) -> list[tuple[str, str]]:
        """Other `local_name` blocks an SNI name `value` also matches (the same name, or `*.`
        and its parent domain): Dovecot merges them all, the one it picks winning (found by
        differential testing). For one plain name; a block of several is left as it is."""
        name = value.lower()
        if " " in name or name.startswith("*."):
            return []
        wildcard = "*." + name.partition(".")[2]
        found = self._names.get(name, []) + self._names.get(wildcard, [])
        return [("local_name", v) for v in dict.fromkeys(found) if v != value]

    def _rank(self, scope: Filter) -> tuple[int, int, int]:
        """Merge order (later wins): fewer filters first; then the wider networks; then, among
        local_name blocks, the one Dovecot picks last: 2.3 the first in the file, 2.4 the last."""
        size, bits = _specificity(scope)
        place = self._order.get(scope, 0) if any(k == "local_name" for k, _ in scope) else 0
        return size, bits, place if self.version == "2.4" else -place


def _specificity(scope: Filter) -> tuple[int, int]:
    """Merge order: fewer filters first; among as many, the wider networks first (Dovecot
    takes the narrower network's value wherever it was written)."""
    bits = sum(n.prefixlen for k, v in scope if k in ("local", "remote") and (n := network(v)))
    return len(scope), bits


def read_config(path: str, files: ConfigFiles, env: Mapping[str, str]) -> DovecotConfig:
    """Parse dovecot.conf (or a fragment) and everything it includes."""
    walker = IncludeWalker(files)
    lines = list(walker.lines(path))
    config = DovecotConfig(os.path.abspath(path))
    config.version = _detect_version(lines)
    config.declared = _declared(lines)
    stack = [_Frame(())]
    sections: list[tuple[str, str]] = []
    for line in lines:
        if line.kind == "section":
            stack.append(_open_section(config, stack[-1], line))
            sections.append((line.key, line.value))
            _note_listener(config, sections, None)
        elif line.kind == "end":
            if len(stack) == 1:
                raise ConfigError(f"{line.location}: unexpected '}}'")
            stack.pop()
            sections.pop()
        elif not stack[-1].other:
            _set(config, stack[-1], line, env)
        else:
            _note_listener(config, sections, line)
    if len(stack) > 1:
        raise ConfigError(f"{config.path}: missing '}}' at the end of the configuration")
    config.findings[:0] = walker.findings
    _check_protocol_names(config)
    return config


def _check_protocol_names(config: DovecotConfig) -> None:
    """2.3 splits `protocols` at spaces only: `imap, pop3` names a protocol `imap,`, and
    Dovecot stops (2.4 takes the commas). Checked globally: in filter blocks, doveconf checks
    only some (not a shadowed local_name, nor one of several names)."""
    setting = config.scopes[()].get("protocols")
    if config.version == "2.3" and setting is not None and "," in setting.value:
        name = next(word for word in setting.value.split() if "," in word)
        raise ConfigError(f"{setting.location}: protocols: Unknown protocol: {name}")


def _note_listener(
    config: DovecotConfig, sections: list[tuple[str, str]], line: Line | None
) -> None:
    if len(sections) < 2 or sections[-2][0] != "service" or sections[-1][0] != "inet_listener":
        return
    settings = config.listeners.setdefault((sections[-2][1], sections[-1][1]), {})
    if line is None:
        return
    value = line.value
    # doveconf checks each line as it reads it: a bad port stops it though a later line or an
    # unused protocol would have made it moot.
    if line.key == "port" and not (value.isascii() and value.isdigit() and int(value) <= 65535):
        raise ConfigError(f"{line.location}: Invalid port number {value}")
    if line.key == "ssl":
        value = "yes" if _boolean(line) else "no"
    settings[line.key] = value


def _boolean(line: Line) -> bool:
    """Dovecot's boolean: yes, y or 1 (any case) and no (any case); anything else stops it."""
    lowered = line.value.lower()
    if lowered not in ("yes", "y", "1", "no"):
        raise ConfigError(
            f"{line.location}: {line.key}: Invalid boolean value: {line.value} (use yes or no)"
        )
    return lowered != "no"


def _declared(lines: list[Line]) -> bool:
    first = next((line for line in lines if line.kind in ("setting", "file-setting")), None)
    return first is not None and first.key == "dovecot_config_version"


def _detect_version(lines: list[Line]) -> str:
    if _declared(lines):
        return "2.4"
    # A conf.d fragment carries no version line: its setting names tell.
    keys = {line.key for line in lines}
    if keys & {"ssl_server_cert_file", "ssl_server_key_file", "ssl_server"}:
        return "2.4"
    return "2.3"


def _open_section(config: DovecotConfig, parent: _Frame, line: Line) -> _Frame:
    if parent.other:
        return _Frame(parent.filter, other=True)
    if line.key in FILTER_ORDER:
        check_nesting(parent.filter, line)
        if config.version == "2.4" and line.key == "local_name" and len(line.value.split()) > 1:
            # 2.3 took `local_name "a b" {` for several names; 2.4 refuses to start.
            raise ConfigError(
                f"{line.location}: Multiple names no longer supported in local_name value"
                " (Dovecot 2.4: one block per name)"
            )
        item = (line.key, line.value)
        # 2.3: an inner block of the same kind takes the outer one's place; 2.4: both apply.
        scope = nested(parent.filter, item) if config.version == "2.3" else (*parent.filter, item)
        config.open_scope(scope, line.location)
        return _Frame(scope)
    if line.key in PREFIX_FILTERS and not line.value and config.version == "2.4":
        return _Frame(parent.filter, prefix=line.key + "_")
    if line.key in BOOLEAN_LISTS and not line.value and config.version == "2.4":
        return _Frame(parent.filter, boolean_list=line.key)
    return _Frame(parent.filter, other=True)


def _set(config: DovecotConfig, frame: _Frame, line: Line, env: Mapping[str, str]) -> None:
    if frame.boolean_list:
        _set_in_list(config, frame, line)
        return
    key = line.key
    if frame.prefix and not key.startswith(frame.prefix):
        key = frame.prefix + key
    setting = Setting(line.value, line.location, line.kind == "file-setting", line.quoted)
    if "$" in setting.value:
        setting = expand(config, frame.filter, key, setting, env, key in TLS_KEYS)
    if key == "ssl" and setting.value not in SSL_VALUES:
        raise ConfigError(
            f"{line.location}: Invalid value: {setting.value} (ssl = yes, no or required)"
        )
    config.scopes[frame.filter][key] = setting


def _set_in_list(config: DovecotConfig, frame: _Frame, line: Line) -> None:
    """`imap = yes` in `protocols { }`: the list as it stands here, with `imap` added (or,
    for `no`, taken out); noted at this line. doveconf 2.4.1 takes any boolean, but adds a
    name only for `yes` as written (`Yes`, `y`, `1` leave the list as it is) and takes one
    out for `no` in any case (found by differential testing)."""
    enable = _boolean(line)
    if enable and line.value != "yes":
        return
    current = config.effective(frame.filter).get(frame.boolean_list)
    names = [n for n in list_items(current.value if current else "") if n != line.key]
    if enable:
        names.append(line.key)
    config.scopes[frame.filter][frame.boolean_list] = Setting(" ".join(names), line.location)


def list_items(value: str) -> list[str]:
    """A 2.4 list value's names: `imap pop3` and `imap, pop3` are the same list."""
    return value.replace(",", " ").split()


# `protocols` when nothing sets it: 2.3's built-in value; 2.4's is empty. A 2.4 conf.d
# fragment read alone (no version line) cannot tell, and is read as 2.3 would be.
DEFAULT_PROTOCOLS = "imap pop3 lmtp"


def protocols(config: DovecotConfig) -> tuple[list[str], Setting | None]:
    """The protocols Dovecot serves, and the line that set them (None: the default)."""
    setting = config.effective(()).get("protocols")
    if setting is None:
        default = "" if config.declared else DEFAULT_PROTOCOLS
        return default.split(), None
    if config.version == "2.4":
        return list_items(setting.value), setting
    return setting.value.split(), setting


def read(path: str, files: ConfigFiles, env: Mapping[str, str]) -> ConfigResult:
    """Endpoints, findings and listeners of one Dovecot configuration."""
    from mailtls.config.dovecot_endpoints import endpoints
    from mailtls.config.dovecot_listeners import listeners

    config = read_config(path, files, env)
    return replace(endpoints(config), listeners=tuple(listeners(config)))
