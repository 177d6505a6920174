"""`fix --edit-config` for Postfix's file lists (pure): the path naming a lineage's leaf-alone
file in a `*_tls_chain_files` value, an SNI map entry, or an inline SNI table, replaced by the
full-chain file; every other byte (separators, comments, CRLF) kept."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from mailtls.config.source import byte_lines

# `name = a, b` (main.cf), `-o name=a,b` and `-o { name = a b }` (master.cf).
_CHAIN_KEY = re.compile(
    rb"(?:^|(?<=[\s{]))(?:smtpd|smtp|lmtp|tlsproxy)_tls_chain_files[ \t]*=[ \t]*"
)
_MAPS_KEY = re.compile(rb"tls_server_sni_maps[ \t]*=[ \t]*")
_LIST = b", \t\r\n"  # CHARS_COMMA_SP: how Postfix splits a list of files
_INLINE = _LIST + b"{}="  # and inline:{ {name = files}, name=file }


@dataclass(frozen=True)
class Token:
    line: int  # 1-based
    start: int
    end: int
    text: str


def physical_lines(lines: list[bytes], line: int) -> list[int]:
    """readlline(3): `line` and the lines after it that start with white space; blank and
    comment lines in between are skipped, and hold no value."""
    numbers, index = [line], line
    while index < len(lines):
        text = lines[index]
        blank = not text.strip() or text.lstrip().startswith(b"#")
        if not blank and text[:1] not in (b" ", b"\t"):
            break
        index += 1
        if not blank:
            numbers.append(index)
    return numbers


def _body(text: bytes) -> int:
    """Where the line's text ends, before its CR/LF."""
    return len(text.rstrip(b"\r\n"))


def _tokens(
    lines: list[bytes], spans: list[tuple[int, int, int]], separators: bytes
) -> list[Token]:
    word = re.compile(rb"[^" + re.escape(separators) + rb"]+")
    return [
        Token(number, *match.span(), os.fsdecode(match.group()))
        for number, start, end in spans
        for match in word.finditer(lines[number - 1], start, end)
    ]


def _whole_value(lines: list[bytes], numbers: list[int], first: int) -> list[tuple[int, int, int]]:
    """From `first` on the first line to the end of the logical line."""
    head = [(numbers[0], first, _body(lines[numbers[0] - 1]))]
    return head + [(n, 0, _body(lines[n - 1])) for n in numbers[1:]]


def chain_values(lines: list[bytes], numbers: list[int]) -> list[list[Token]]:
    """Each `*_tls_chain_files` value on the logical line, as tokens."""
    values = []
    for number in numbers:
        text = lines[number - 1]
        for match in _CHAIN_KEY.finditer(text):
            if number == numbers[0] and match.start() == 0:  # main.cf: the whole logical line
                spans = _whole_value(lines, numbers, match.end())
            else:  # master.cf: `-o name=value` ends at white space, `-o { ... }` at the brace
                braced = text[: match.start()].rstrip().endswith(b"{")
                stop = re.compile(rb"}" if braced else rb"\s").search(text, match.end())
                spans = [(number, match.end(), stop.start() if stop else _body(text))]
            values.append(_tokens(lines, spans, _LIST))
    return values


def map_value(lines: list[bytes], numbers: list[int]) -> list[Token]:
    """An SNI map source entry `name files...`: the files after the name."""
    key = re.match(rb"\S*", lines[numbers[0] - 1])
    assert key is not None  # \S* matches the empty string
    return _tokens(lines, _whole_value(lines, numbers, key.end()), _LIST)


def inline_value(lines: list[bytes], numbers: list[int]) -> list[Token]:
    """main.cf `tls_server_sni_maps = inline:{...}`: every token of the table."""
    match = _MAPS_KEY.match(lines[numbers[0] - 1])
    if match is None:
        return []
    return _tokens(lines, _whole_value(lines, numbers, match.end()), _INLINE)


def naming(tokens: list[Token], cert: str, base: str) -> list[Token]:
    """The tokens that name `cert` (read from `base` when relative); never a `$variable`."""
    return [
        t
        for t in tokens
        if "$" not in t.text
        and os.path.normpath(os.path.join(base, t.text)) == os.path.normpath(cert)
    ]


def replace_tokens(data: bytes, tokens: list[Token], new: str) -> bytes:
    """`data` with each token replaced by `new`, nothing else touched."""
    lines = byte_lines(data)
    for token in sorted(tokens, key=lambda t: (t.line, t.start), reverse=True):
        text = lines[token.line - 1]
        lines[token.line - 1] = text[: token.start] + os.fsencode(new) + text[token.end :]
    return b"".join(lines)


def repoint_list(
    data: bytes, line: int, cert: str, base: str, kind: str, expected: int = 1
) -> list[Token] | str:
    """The tokens naming `cert` in the `kind` of list on `line` ("chain", "map", "inline");
    or why they are not replaced. An inline table must name it `expected` times: once for
    each SNI name being repointed, and for no other."""
    lines = byte_lines(data)
    if not 1 <= line <= len(lines):
        return f"line {line} is not in the file"
    numbers = physical_lines(lines, line)
    if kind == "chain":
        values = [found for v in chain_values(lines, numbers) if (found := naming(v, cert, base))]
        if len(values) > 1:
            return f"line {line} names {cert} in more than one setting"
        tokens = values[0] if values else []
    else:
        listed = map_value(lines, numbers) if kind == "map" else inline_value(lines, numbers)
        tokens = naming(listed, cert, base)
    if kind == "inline" and tokens and len(tokens) != expected:
        return (
            f"the inline table on line {line} names {cert} {len(tokens)} times, for"
            f" {expected} names being repointed: edit it by hand"
        )
    if not tokens:
        return f"line {line} does not write {cert} out (it comes through a variable or an include)"
    return tokens
