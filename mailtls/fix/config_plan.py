"""`fix --edit-config`, the plan (pure): which configuration line names a renewal lineage's
leaf-alone file, and the same bytes with only that value changed to the full-chain file."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailtls.config.source import byte_lines
from mailtls.fix.config_lists import replace_tokens, repoint_list
from mailtls.models import Endpoint, Service

# The settings that name the certificate file a daemon serves (the leaf first).
_KEYS = (
    rb"ssl_cert|ssl_alt_cert|ssl_server_cert_file|ssl_server_alt_cert_file"
    rb"|(?:smtpd|smtp|lmtp)_tls_(?:cert|eccert|dcert)_file"
)
# `ssl_cert = </path` (Dovecot 2.3), `ssl_server_cert_file = /path` (2.4), `name = /path`
# (main.cf), `-o name=/path` and `-o { name = /path }` (master.cf). The value is a path
# written out, quoted or not; a `$variable` or `%{variable}` never equals the path read.
_SETTING = re.compile(
    rb"(?:^|(?<=[\s{]))(?:" + _KEYS + rb")[ \t]*=[ \t]*<?[ \t]*"
    rb"(?P<value>\"[^\"\r\n]*\"|[^\s\"#},]+)"
)
# What may be written unquoted into either daemon's configuration without changing meaning.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/._@+:=-]*")


@dataclass(frozen=True)
class Repoint:
    """A lineage's leaf-alone file named where its full-chain file belongs."""

    cert: str  # the path the configuration names
    fullchain: str
    tool: str
    endpoints: tuple[str, ...]

    @property
    def suggestion(self) -> str:
        return (
            f"{self.cert} is in a {self.tool} lineage, which renewals rewrite: point the"
            f" configuration at {self.fullchain} instead (used by {', '.join(self.endpoints)})"
        )


@dataclass(frozen=True)
class LineEdit:
    line: int  # 1-based
    old: str  # the value as the line writes it
    new: str


@dataclass(frozen=True)
class ConfigEdit:
    """New bytes for one configuration file: only the values on `lines` differ."""

    path: str  # the configuration file, as the endpoints' sources name it
    service: Service
    config: str  # what the daemon's own parser reads: dovecot.conf, or main.cf's folder
    lines: tuple[LineEdit, ...]
    endpoints: tuple[str, ...]
    old: bytes
    new: bytes
    table: str = ""  # an SNI map source: the `type:/path` postmap -F rebuilds from it
    # Each SNI name edited, and the files Postfix must read for it once the index is rebuilt.
    lookups: tuple[tuple[str, tuple[str, ...]], ...] = ()


def repoint_line(
    data: bytes, line: int, cert: str, fullchain: str, base: str, *, continued: bool = False
) -> tuple[bytes, LineEdit] | str:
    """`data` with the value naming `cert` on `line` replaced by `fullchain`, every other byte
    kept; or why not. `base` is the folder a relative value is read from. `continued`
    (Postfix): the lines after it that start with white space belong to it (a master.cf
    entry's `-o` lines)."""
    if not _PLAIN_PATH.fullmatch(fullchain):
        return f"{fullchain} holds characters that would need quoting"
    lines = byte_lines(data)
    if not 1 <= line <= len(lines):
        return f"line {line} is not in the file"
    found = [
        (number, match)
        for number in _logical(lines, line, continued)
        for match in _settings(lines[number - 1], cert, base)
    ]
    if not found:
        return (
            f"line {line} does not write {cert} out (it comes through a variable or an"
            " include, or continues on the next line)"
        )
    if len(found) > 1:
        return f"line {line} names {cert} more than once"
    number, match = found[0]
    text = lines[number - 1]
    start, end = match.span("value")
    quoted = text[start : start + 1] == b'"'
    value = os.fsencode(fullchain)
    lines[number - 1] = text[:start] + (b'"' + value + b'"' if quoted else value) + text[end:]
    return b"".join(lines), LineEdit(number, os.fsdecode(text[start:end]), fullchain)


def _logical(lines: list[bytes], line: int, continued: bool) -> list[int]:
    numbers = [line]
    while continued and numbers[-1] < len(lines) and lines[numbers[-1]][:1] in (b" ", b"\t"):
        numbers.append(numbers[-1] + 1)
    return numbers


def _settings(text: bytes, cert: str, base: str) -> list[re.Match[bytes]]:
    # Past a `#` may be a comment (Dovecot's rule): never a value to change.
    return [
        m
        for m in _SETTING.finditer(text)
        if b"#" not in text[: m.start()] and _writes(m.group("value"), cert, base)
    ]


def _writes(value: bytes, cert: str, base: str) -> bool:
    path = os.fsdecode(value.strip(b'"'))
    if not path or "$" in path or "%" in path:
        return False
    return os.path.normpath(os.path.join(base, path)) == os.path.normpath(cert)


def plan_file(
    path: str, data: bytes, repoints: Sequence[tuple[Repoint, Endpoint]]
) -> ConfigEdit | str:
    """One configuration file's edit for every endpoint whose source line is in it; or why
    it is not edited. Endpoints that share a line (inherited settings) make one edit."""
    new, edits, seen = data, [], set()
    for repoint, endpoint in repoints:
        assert endpoint.source is not None  # grouped by it
        line = endpoint.source.line
        if (line, repoint.cert) in seen:
            continue
        seen.add((line, repoint.cert))
        done = _repoint(new, path, repoint, endpoint, repoints)
        if isinstance(done, str):
            return f"{path}:{line}: {done}"
        new, made = done
        edits += made
    first = repoints[0][1]
    config = first.config if first.service == "dovecot" else os.path.dirname(first.config)
    table = first.sni_table if _kind(first) == "map" else ""
    return ConfigEdit(
        path=path,
        service=first.service,
        config=config,
        lines=tuple(edits),
        endpoints=tuple(dict.fromkeys(e.id for _, e in repoints)),
        old=data,
        new=new,
        table=table,
        lookups=tuple((e.names[0], _swapped(e, r)) for r, e in repoints) if table else (),
    )


def _kind(endpoint: Endpoint) -> str:
    """Which setting names the file: a single path, or a Postfix list of files."""
    if endpoint.service != "postfix" or endpoint.slot != "chain":
        return "single"
    if not endpoint.scope.startswith("sni "):
        return "chain"
    return "map" if endpoint.sni_table else "inline"


def _swapped(endpoint: Endpoint, repoint: Repoint) -> tuple[str, ...]:
    return tuple(repoint.fullchain if f == repoint.cert else f for f in endpoint.chain_files)


def _repoint(
    data: bytes,
    path: str,
    repoint: Repoint,
    endpoint: Endpoint,
    pairs: Sequence[tuple[Repoint, Endpoint]],
) -> tuple[bytes, list[LineEdit]] | str:
    assert endpoint.source is not None
    line, kind = endpoint.source.line, _kind(endpoint)
    if kind == "single":
        postfix = endpoint.service == "postfix"
        base = os.path.dirname(path)
        done = repoint_line(data, line, repoint.cert, repoint.fullchain, base, continued=postfix)
        return done if isinstance(done, str) else (done[0], [done[1]])
    if not _PLAIN_PATH.fullmatch(repoint.fullchain):
        return f"{repoint.fullchain} holds characters that would need quoting"
    same = [e for r, e in pairs if r == repoint and e.source == endpoint.source]
    expected = sum(e.chain_files.count(repoint.cert) for e in same)
    base = os.path.dirname(endpoint.config)  # Postfix reads a relative file from its folder
    tokens = repoint_list(data, line, repoint.cert, base, kind, expected)
    if isinstance(tokens, str):
        return tokens
    edits = [LineEdit(t.line, t.text, repoint.fullchain) for t in tokens]
    return replace_tokens(data, tokens, repoint.fullchain), edits


def group_by_file(
    repoints: Sequence[Repoint], endpoints: Sequence[Endpoint]
) -> tuple[dict[str, list[tuple[Repoint, Endpoint]]], dict[Repoint, str]]:
    """The endpoints of each repoint grouped by the configuration file that sets their
    certificate; repoints with an endpoint whose line is unknown, with the reason."""
    by_id = {e.id: e for e in endpoints}
    files: dict[str, list[tuple[Repoint, Endpoint]]] = {}
    refused: dict[Repoint, str] = {}
    for repoint in repoints:
        mine = [by_id[i] for i in repoint.endpoints if i in by_id]
        unknown = [e for e in mine if e.source is None or not e.source.line]
        if unknown or not mine or not all(_names(e, repoint.cert) for e in mine):
            who = unknown[0].id if unknown else ", ".join(repoint.endpoints)
            refused[repoint] = f"the line that names {repoint.cert} for {who} is not known"
            continue
        for endpoint in mine:
            assert endpoint.source is not None
            files.setdefault(endpoint.source.path, []).append((repoint, endpoint))
    return files, refused


def _names(endpoint: Endpoint, cert: str) -> bool:
    return endpoint.cert_file == cert or cert in endpoint.chain_files
