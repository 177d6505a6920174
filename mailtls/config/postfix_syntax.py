"""Postfix syntax: main.cf and map logical lines, master.cf entries and their `-o` overrides."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mailtls.config.source import text_lines
from mailtls.errors import ConfigError
from mailtls.models import Finding, Location, Severity

SERVICE_TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")


@dataclass(frozen=True)
class Param:
    value: str
    location: Location


@dataclass(frozen=True)
class Service:
    """One master.cf entry: `name/type`, the daemon it runs, and its `-o` overrides."""

    name: str
    type: str
    command: str
    location: Location
    overrides: dict[str, Param] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.type}"


def logical_lines(text: str, path: str, findings: list[Finding]) -> Iterator[tuple[int, str]]:
    """Postfix's readlline(3): a line that starts with white space continues the one before;
    comment lines and blank lines are skipped, also inside a continuation."""
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text_lines(text), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0].isspace():
            if current:
                current.append(stripped)
            else:
                findings.append(
                    Finding(
                        "config-syntax",
                        Severity.WARNING,
                        f"logical line must not start with white space: {stripped[:60]!r}"
                        " (Postfix ignores it)",
                        Location(path, number),
                        path,
                    )
                )
            continue
        if current:
            yield start, " ".join(current)
        current, start = [stripped], number
    if current:
        yield start, " ".join(current)


def parse_main(text: str, path: str, findings: list[Finding]) -> dict[str, Param]:
    """main.cf as `name -> Param`; the last definition wins, as in Postfix."""
    params: dict[str, Param] = {}
    for number, line in logical_lines(text, path, findings):
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not name or any(c.isspace() for c in name):
            raise ConfigError(
                f"{path}, line {number}: missing '=' after attribute name: {line[:60]!r}"
            )
        params[name] = Param(value.strip(), Location(path, number))
    return params


def split_braced(text: str, separators: str = " \t\r\n") -> list[str]:
    """Postfix's mystrtokq(3): split at separators, except inside `{ }`, which may nest."""
    if "{" not in text:  # the common case, at C speed: 10,000 SNI map lines
        return [token for token in re.split(f"[{re.escape(separators)}]+", text) if token]
    tokens: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
        elif depth == 0 and char in separators:
            if current:
                tokens.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def parse_master(text: str, path: str, findings: list[Finding]) -> list[Service]:
    """master.cf service entries; raise ConfigError where postconf stops with a fatal error."""
    services = []
    for number, line in logical_lines(text, path, findings):
        where = Location(path, number)
        fields = split_braced(line)
        if len(fields) < 8:
            raise ConfigError(f"{where}: master.cf entry has {len(fields)} fields, not 8 or more")
        name, kind, private, unpriv, chroot, wakeup, maxproc, command, *args = fields
        _check_fields(where, kind, (private, unpriv, chroot), wakeup, maxproc)
        service = Service(name, kind, command.rsplit("/", 1)[-1], where)
        service.overrides.update(_overrides(args, where))
        services.append(service)
    return services


def _check_fields(
    where: Location, kind: str, flags: tuple[str, ...], wakeup: str, maxproc: str
) -> None:
    if kind not in SERVICE_TYPES:
        raise ConfigError(f"{where}: bad transport type: {kind!r}")
    for flag in flags:
        if flag not in ("y", "n", "-"):
            raise ConfigError(f"{where}: bad boolean field: {flag!r}")
    if not re.fullmatch(r"-|\d+\??", wakeup):
        raise ConfigError(f"{where}: bad wakeup time field: {wakeup!r}")
    if not re.fullmatch(r"-|\d+", maxproc):
        raise ConfigError(f"{where}: bad process limit field: {maxproc!r}")


def _overrides(args: list[str], where: Location) -> Iterator[tuple[str, Param]]:
    """`-o a=b`, `-oa=b` and `-o { a = b }` (Postfix 3.0 and later), read as the daemon's
    getopt reads them: up to the first word that is not an option, so a `pipe` command's own
    `argv=/usr/sbin/sendmail -oi` is not one of them (postconf_master.c does the same)."""
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-") or arg == "--":
            return
        # `-vo x=y` is `-v -o x=y`: the first `o` after the dash takes the value.
        letter = arg.find("o", 1)
        if letter < 0:
            continue
        if letter + 1 < len(arg):
            assignment = arg[letter + 1 :]
        elif index < len(args):
            assignment = args[index]
            index += 1
        else:
            return
        yield _assignment(assignment, where)


def _assignment(text: str, where: Location) -> tuple[str, Param]:
    if text.startswith("{"):
        end = _closing(text)
        if end != len(text) - 1:  # postconf warns and guesses; mailtls does not guess
            problem = "missing '}'" if end is None else "syntax error after '}'"
            raise ConfigError(f"{where}: {problem} in -o {text!r}")
        text = text[1:-1]
    name, equals, value = text.partition("=")
    if not equals or not name.strip() or any(c.isspace() for c in name.strip()):
        # postconf only warns; the daemon stops: invalid "-o" option value
        raise ConfigError(f"{where}: bad -o option: {text!r}: missing '=' after attribute name")
    return name.strip(), Param(value.strip(), where)


def _closing(text: str) -> int | None:
    """Where the `{` that starts `text` is closed (braces nest), as extpar(3) finds it."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return index
    return None
