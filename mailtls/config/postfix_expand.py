"""Postfix `$name` expansion as mac_expand(3) does it: `${a?b}`, `${a:b}`, `${a?{b}:{c}}`, `$$`.

Bounded as Postfix is: a name more than 100 calls deep stops it ("unreasonable macro call
nesting", postconf's fatal "macro processing error"). Each name is expanded once per call and
reused, so `aN = $aN-1 $aN-1` costs N expansions, not 2**N; a result over 16 MiB (twice
postconf's own output on 22 such levels) stops too, where Postfix would go on allocating."""

from __future__ import annotations

import re
from collections.abc import Callable

from mailtls.errors import ConfigError

MAX_NESTING = 100
MAX_EXPANDED_CHARS = 16 * 1024 * 1024
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_CLOSE = {"{": "}", "(": ")"}
_BRACKET = re.compile(r"[{}()]")

Lookup = Callable[[str], "str | None"]


def expand(value: str, lookup: Lookup) -> str:
    """Expand every macro in `value` (a parameter's raw text: its names are at level 0); an
    undefined name expands to the empty string."""
    return _Expander(lookup).text(value, 0)[0]


class _Expander:
    """One expansion: each name's result and height (how many levels it nests) kept once.
    Texts are windows (start, end) of a parameter's value, never copies, and the brackets of
    each value are paired once: `${a?${a?...}}` costs one pass, not one per level."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.done: dict[str, tuple[str, int]] = {}
        self.pairs: dict[int, tuple[str, dict[int, int]]] = {}

    def text(
        self, value: str, level: int, start: int = 0, end: int | None = None
    ) -> tuple[str, int]:
        """`value[start:end]` expanded with its names at `level`; and how deep it went."""
        end = len(value) if end is None else end
        # Plain stretches are kept as (start, end) and cut out at the end: a 16 MB value that
        # calls itself must not hold a copy of itself at each of 100 levels.
        out: list[str | tuple[int, int]] = []
        size = height = 0
        index = start
        while index < end:
            dollar = value.find("$", index, end)
            if dollar < 0 or dollar + 1 >= end:  # none, or a last "$"
                dollar = end
            if dollar > index:
                height = max(height, self._literal(value[index : min(dollar, index + 40)], level))
                out.append((index, dollar))
            if dollar == end:
                break
            piece, next_index, depth = self._macro(value, dollar, level, end)
            out.append(piece)
            height = max(height, depth)
            size += dollar - index + len(piece)
            if size > MAX_EXPANDED_CHARS:
                raise ConfigError(f"{value[start : start + 40]!r} expands to more than 16 MiB")
            index = next_index
        return "".join(p if isinstance(p, str) else value[p[0] : p[1]] for p in out), height

    @staticmethod
    def _literal(text: str, level: int) -> int:
        """Plain text is a call too for mac_expand: 100 names deep, a value's text is 101."""
        if level > MAX_NESTING:
            raise ConfigError(f'Postfix: unreasonable macro call nesting: "{text}"')
        return 1

    def _macro(self, value: str, dollar: int, level: int, end: int) -> tuple[str, int, int]:
        """The macro at `dollar`: its expansion, where the text goes on, its height."""
        following = value[dollar + 1]
        if following == "$":
            return "$", dollar + 2, self._literal("$", level)
        if following in _CLOSE:
            close = self._matching(value, dollar + 1, end)
            piece, height = self._braced(value, dollar + 2, close, level)
            return piece, close + 1, height
        if following in _NAME_CHARS:
            name_end = _name_end(value, dollar + 1, end)
            piece, height = self.named(value[dollar + 1 : name_end], level)
            return piece, name_end, height
        return "$", dollar + 1, self._literal("$", level)

    def named(self, name: str, level: int) -> tuple[str, int]:
        """`$name` called at `level`: Postfix refuses a call deeper than 100."""
        if level > MAX_NESTING:
            raise ConfigError(f'Postfix: unreasonable macro call nesting: "{name}"')
        known = self.done.get(name)
        if known is not None and level + known[1] <= MAX_NESTING + 1:
            return known
        # First use, or too deep this time: expand for real, so the error names the call
        # Postfix names.
        found = self.lookup(name)
        piece, height = self.text(found, level + 1) if found else ("", 0)
        self.done[name] = (piece, height + 1)
        return piece, height + 1

    def _braced(self, value: str, start: int, end: int, level: int) -> tuple[str, int]:
        """`${name}`, `${name?text}`, `${name:text}`, `${name?{a}:{b}}` in value[start:end]."""
        name_end = _name_end(value, start, end)
        body = value[start : min(end, start + 40)]
        if name_end == start:
            raise ConfigError(f"macro ${{{body}}}: no parameter name")
        name = value[start:name_end]
        if name_end == end:
            return self.named(name, level)
        operator = value[name_end]
        if operator not in "?:":
            raise ConfigError(f"macro ${{{body}}}: unexpected {operator!r} after the name")
        if level > MAX_NESTING:
            raise ConfigError(f'Postfix: unreasonable macro call nesting: "{name}"')
        # `?` and `:` test the parameter's text as written, not expanded: `${a?x}` gives x
        # when a = $empty, and a = $a is no loop here (found by differential testing).
        found = self.lookup(name)
        chosen: tuple[int, int] = (name_end + 1, end)
        if operator == "?" and value.startswith("{", name_end + 1):
            when_set, when_unset = self._two_branches(value, name_end + 1, end, body)
            chosen = when_set if found else when_unset
        elif bool(found) != (operator == "?"):
            chosen = (end, end)
        # Postfix parses the chosen text inside the call for `name`: one level deeper.
        piece, height = self.text(value, level + 1, *chosen)
        return piece, height + 1

    def _two_branches(
        self, value: str, start: int, end: int, body: str
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """`{a}:{b}` -> the windows of a and b; Postfix 3.0 and later."""
        first_end = self._matching(value, start, end)
        rest = first_end + 1
        while rest < end and value[rest].isspace():
            rest += 1
        if rest == end:
            return (start + 1, first_end), (end, end)
        second = rest + 1
        while second < end and value[second].isspace():
            second += 1
        if value[rest] != ":" or not value.startswith("{", second, end):
            raise ConfigError(f"macro ${{{body}}}: expected ':{{...}}' after '{{...}}'")
        second_end = self._matching(value, second, end)
        return (start + 1, first_end), (second + 1, second_end)

    def _matching(self, value: str, start: int, end: int) -> int:
        """The bracket closing the one at `start`, within `end`."""
        if id(value) not in self.pairs:
            self.pairs[id(value)] = (value, _pair_brackets(value))
        close = self.pairs[id(value)][1].get(start)
        if close is None or close >= end:
            closer = _CLOSE[value[start]]
            raise ConfigError(f"macro {value[start - 1 : start + 40]!r}: missing '{closer}'")
        return close


def _name_end(value: str, start: int, end: int) -> int:
    while start < end and value[start] in _NAME_CHARS:
        start += 1
    return start


def _pair_brackets(value: str) -> dict[int, int]:
    """Every `{` and `(` paired with the bracket of its kind that closes it, in one pass."""
    pairs: dict[int, int] = {}
    open_at: dict[str, list[int]] = {"{": [], "(": []}
    for match in _BRACKET.finditer(value):
        char, at = match.group(), match.start()
        if char in open_at:
            open_at[char].append(at)
        else:
            stack = open_at["{" if char == "}" else "("]
            if stack:
                pairs[stack.pop()] = at
    return pairs
