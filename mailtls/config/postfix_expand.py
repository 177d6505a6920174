"""Postfix `$name` expansion as mac_expand(3) does it: `${a?b}`, `${a:b}`, `${a?{b}:{c}}`, `$$`."""

from __future__ import annotations

from collections.abc import Callable

from mailtls.errors import ConfigError

MAX_NESTING = 100
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_CLOSE = {"{": "}", "(": ")"}

Lookup = Callable[[str], "str | None"]


def expand(value: str, lookup: Lookup, depth: int = 0) -> str:
    """Expand every macro in `value`; an undefined name expands to the empty string."""
    if depth > MAX_NESTING:
        raise ConfigError(f"unreasonable macro call nesting while expanding {value[:40]!r}")
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char != "$" or index + 1 >= len(value):
            out.append(char)
            index += 1
            continue
        following = value[index + 1]
        if following == "$":
            out.append("$")
            index += 2
        elif following in _CLOSE:
            end = _matching(value, index + 1)
            out.append(_braced(value[index + 2 : end], lookup, depth))
            index = end + 1
        elif following in _NAME_CHARS:
            end = index + 1
            while end < len(value) and value[end] in _NAME_CHARS:
                end += 1
            out.append(_named(value[index + 1 : end], lookup, depth))
            index = end
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _matching(value: str, start: int) -> int:
    opener, closer, depth = value[start], _CLOSE[value[start]], 0
    for index in range(start, len(value)):
        if value[index] == opener:
            depth += 1
        elif value[index] == closer:
            depth -= 1
            if depth == 0:
                return index
    raise ConfigError(f"macro {value[start - 1 : start + 40]!r}: missing '{closer}'")


def _named(name: str, lookup: Lookup, depth: int) -> str:
    found = lookup(name)
    return expand(found, lookup, depth + 1) if found else ""


def _braced(body: str, lookup: Lookup, depth: int) -> str:
    name_end = 0
    while name_end < len(body) and body[name_end] in _NAME_CHARS:
        name_end += 1
    name, rest = body[:name_end], body[name_end:]
    if not name:
        raise ConfigError(f"macro ${{{body[:40]}}}: no parameter name")
    if not rest:
        return _named(name, lookup, depth)
    operator, text = rest[0], rest[1:]
    if operator not in "?:":
        raise ConfigError(f"macro ${{{body[:40]}}}: unexpected {operator!r} after the name")
    is_set = bool(_named(name, lookup, depth))
    if operator == "?" and text.startswith("{"):
        when_set, when_unset = _two_branches(text, body)
        chosen = when_set if is_set else when_unset
    else:
        chosen = text if is_set == (operator == "?") else ""
    return expand(chosen, lookup, depth + 1)


def _two_branches(text: str, body: str) -> tuple[str, str]:
    """`{a}:{b}` -> (a, b); Postfix 3.0 and later."""
    first_end = _matching(" " + text, 1) - 1
    first, rest = text[1:first_end], text[first_end + 1 :].strip()
    if not rest:
        return first, ""
    if not rest.startswith(":") or not rest[1:].strip().startswith("{"):
        raise ConfigError(f"macro ${{{body[:40]}}}: expected ':{{...}}' after '{{...}}'")
    second = rest[1:].strip()
    second_end = _matching(" " + second, 1) - 1
    return first, second[1:second_end]
