"""JSON report: `{"schema": 1, "endpoints": [...], "findings": [...]}`.

The text is exactly what `json.dumps(document, indent=2)` writes (ASCII only), but
`json.dumps` with an indent runs its pure-Python encoder over every value: 2.3 s of a
4,000-endpoint audit. Here a dict of plain values (a certificate, a finding) is encoded in
one step, and a dict met again (an intermediate shared by thousands of chains) is not
encoded again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mailtls.gcpause import collector_paused
from mailtls.models import Report
from mailtls.report.document import document

INDENT = "  "
# ASCII only: U+202E and undecodable file-name bytes (lone surrogates) as \u escapes.
_string = json.encoder.encode_basestring_ascii


def render(report: Report) -> str:
    return "".join(chunks(report))


def chunks(report: Report) -> Iterator[str]:
    """The report in pieces of one endpoint or finding each: written out as they come, a
    20,000-endpoint report (50 MB) is never whole in memory, nor encoded whole."""
    with collector_paused():
        data = document(report)
        memo: dict[tuple[int, int], str] = {}
        yield "{"
        for index, (name, value) in enumerate(data.items()):
            key = ("\n" if index == 0 else ",\n") + INDENT + _string(name) + ": "
            if not isinstance(value, list) or not value:
                out = [key]
                _write(value, 1, out, memo)
                yield "".join(out)
                continue
            yield key + "["
            for number, item in enumerate(value):
                out = ["\n" if number == 0 else ",\n", INDENT * 2]
                _write(item, 2, out, memo)
                yield "".join(out)
            yield "\n" + INDENT + "]"
        yield "\n}\n"


def dumps(value: Any) -> str:
    """Any JSON value, written as `json.dumps(value, indent=2)` would."""
    out: list[str] = []
    _write(value, 0, out, {})
    return "".join(out)


def _write(value: Any, depth: int, out: list[str], memo: dict[tuple[int, int], str]) -> None:
    if isinstance(value, dict):
        _write_dict(value, depth, out, memo)
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = "\n" + INDENT * (depth + 1)
        out.append("[")
        for index, item in enumerate(value):
            out.append(inner if index == 0 else "," + inner)
            _write(item, depth + 1, out, memo)
        out.append("\n" + INDENT * depth + "]")
    else:
        out.append(_scalar(value))


def _write_dict(
    value: dict[str, Any], depth: int, out: list[str], memo: dict[tuple[int, int], str]
) -> None:
    if not value:
        out.append("{}")
        return
    key = (id(value), depth)  # the document holds every dict alive while it is written
    if key in memo:
        out.append(memo[key])
        return
    inner = "\n" + INDENT * (depth + 1)
    if not any(isinstance(v, dict | list | tuple) for v in value.values()):
        items = (f"{_string(k)}: {_scalar(v)}" for k, v in value.items())
        text = "{" + inner + ("," + inner).join(items) + "\n" + INDENT * depth + "}"
        memo[key] = text
        out.append(text)
        return
    out.append("{")
    for index, (name, item) in enumerate(value.items()):
        out.append((inner if index == 0 else "," + inner) + _string(name) + ": ")
        _write(item, depth + 1, out, memo)
    out.append("\n" + INDENT * depth + "}")


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return str(_string(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    return json.dumps(value)  # floats and the like: rare, let json say it
