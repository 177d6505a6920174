"""Dovecot config syntax: logical lines, quotes, comments and `!include`, as doveconf reads them."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from mailtls.config.source import ConfigFileError, ConfigFiles, text_lines
from mailtls.errors import ConfigError
from mailtls.models import Finding, Location, Severity

LineKind = Literal["setting", "file-setting", "section", "end"]
MAX_INCLUDE_DEPTH = 64


@dataclass(frozen=True)
class Line:
    """One statement: `key = value`, `key = <file`, `type [name] {`, or `}`."""

    kind: LineKind
    key: str
    value: str
    location: Location
    quoted: bool = False

    @property
    def folder(self) -> str:
        return os.path.dirname(self.location.path)


def _strip_comment(text: str) -> str:
    """Cut a `#` comment, leaving `#` inside quotes alone (config-parser.c does the same)."""
    if "#" not in text:  # most lines: no need to walk them a character at a time
        return text
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return text[:index]
    return text


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first line number, text) with comments cut and `\\` continuations joined.

    As config-parser.c: a blank or comment line, or the end of the file, after a `\\` drops
    the statement begun (found by differential testing against doveconf 2.3 and 2.4)."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text_lines(text), start=1):
        line = _strip_comment(raw.strip()).strip()
        if not line:
            pending = []
            continue
        if line.endswith("\\"):
            if not pending:
                start = number
            part = line[:-1].rstrip()
            pending.append(part + " " if part else "")
            continue
        if pending:
            yield start, "".join(pending) + line
            pending = []
        else:
            yield number, line


def _unquote(value: str) -> tuple[str, bool]:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return inner.replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\"), True
    return value, False


def parse_line(text: str, location: Location) -> Line:
    """Classify one logical line; raise ConfigError where doveconf stops with a fatal error."""
    if text == "}":
        return Line("end", "}", "", location)
    key_end = 0
    while key_end < len(text) and not text[key_end].isspace() and text[key_end] != "=":
        key_end += 1
    key, rest = text[:key_end], text[key_end:].lstrip()
    if key in ("!include", "!include_try"):
        return Line("setting", key, _unquote(rest)[0], location)
    if rest.startswith("="):
        value = rest[1:].lstrip()
        if value.startswith("<"):
            return Line("file-setting", key, value[1:].lstrip(), location)
        value, quoted = _unquote(value)
        return Line("setting", key, value, location, quoted)
    if not rest.endswith("{") or not key:
        raise ConfigError(f"{location}: expecting '=' or '{{' in {text[:60]!r}")
    return Line("section", key, _section_name(rest, text, location), location)


def _section_name(rest: str, text: str, location: Location) -> str:
    """`type {`, `type name {` or `type "name with spaces" {`: config-parser.c takes one word
    or one double-quoted string, then wants `{`; anything else stops Dovecot."""
    if rest[0] == '"':
        end = 1
        while end < len(rest) and rest[end] != '"':
            end += 2 if rest[end] == "\\" else 1
        name, after = _unquote(rest[: end + 1])[0], rest[end + 1 :]
    else:
        word = rest.split(None, 1)
        name, after = (word[0], word[1] if len(word) > 1 else "") if rest != "{" else ("", "{")
    if after.strip() != "{":
        raise ConfigError(
            f"{location}: Expecting '{{' in {text[:60]!r}: Dovecot takes one name per block"
            ' (for several, quote them: local_name "a.example b.example" {)'
        )
    return name


class IncludeWalker:
    """Expand `!include` and `!include_try` in place, as Dovecot does, reporting what fails."""

    def __init__(self, files: ConfigFiles) -> None:
        self.files = files
        self.findings: list[Finding] = []

    def lines(self, path: str) -> Iterator[Line]:
        """All statements of `path` and what it includes; the top file must be readable."""
        yield from self._file(os.path.abspath(path), ())

    def _file(self, path: str, stack: tuple[str, ...]) -> Iterator[Line]:
        text = self.files.read(path)
        for number, content in logical_lines(text):
            line = parse_line(content, Location(path, number))
            if line.key in ("!include", "!include_try") and line.kind == "setting":
                yield from self._include(line, (*stack, path))
            else:
                yield line

    def _include(self, line: Line, stack: tuple[str, ...]) -> Iterator[Line]:
        """Dovecot stops on a non-try `!include` that matches nothing and on a file that
        includes itself: so does mailtls (ConfigError, exit 2), with doveconf's words."""
        optional = line.key == "!include_try"
        pattern = os.path.join(line.folder, line.value)
        targets = _expand_braces_glob(pattern)
        if not targets and not optional:
            raise ConfigError(f"{line.location}: !include {line.value}: No matches")
        for target in targets:
            if target in stack:
                raise ConfigError(f"{line.location}: Recursive include file: {line.value}")
            if len(stack) >= MAX_INCLUDE_DEPTH:
                raise ConfigError(
                    f"{line.location}: !include nested more than {MAX_INCLUDE_DEPTH} deep"
                )
            try:
                yield from self._file(target, stack)
            except ConfigFileError as error:
                if error.reason != "missing":  # Dovecot reads it as root: mailtls may not
                    self._report("include-unreadable", line, error.detail)
                elif not optional:  # a dangling symbolic link
                    raise ConfigError(
                        f"{line.location}: Couldn't open include file {target}: No such file"
                    ) from None

    def _report(self, code: str, line: Line, message: str) -> None:
        self.findings.append(
            Finding(code, Severity.ERROR, message, source=line.location, path=line.location.path)
        )


MAX_BRACE_VARIANTS = 1024  # `{a,b}` repeated n times is 2**n names: bounded, as input must be


def _expand_braces(pattern: str, limit: int = MAX_BRACE_VARIANTS) -> list[str]:
    """`a{b,c}d` -> [`abd`, `acd`]: glob(3) with GLOB_BRACE, which Python's glob lacks.
    More than `limit` names is a configuration error, not an hour of work."""
    variants = _expand_braces_unbounded(pattern, [limit])
    if variants is None:
        raise ConfigError(f"!include {pattern}: more than {limit} names from its braces")
    return variants


def _expand_braces_unbounded(pattern: str, budget: list[int]) -> list[str] | None:
    budget[0] -= 1
    if budget[0] < 0:
        return None
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        depth += {"{": 1, "}": -1}.get(pattern[end], 0)
        if depth == 0:
            break
    else:
        return [pattern]
    options, depth, current = [], 0, ""
    for char in pattern[start + 1 : end]:
        if char == "," and depth == 0:
            options.append(current)
            current = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        current += char
    options.append(current)
    prefix, suffix = pattern[:start], pattern[end + 1 :]
    variants: list[str] = []
    for option in options:
        more = _expand_braces_unbounded(prefix + option + suffix, budget)
        if more is None:
            return None
        variants += more
    return variants


def _expand_braces_glob(pattern: str) -> list[str]:
    found: list[str] = []
    for variant in _expand_braces(pattern):
        if glob.has_magic(variant):
            found.extend(sorted(glob.glob(variant)))
        elif os.path.lexists(variant):
            found.append(variant)
    return [os.path.normpath(path) for path in dict.fromkeys(found)]
