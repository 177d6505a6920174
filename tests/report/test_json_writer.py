"""The JSON writer writes exactly what json.dumps(indent=2) writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mailtls.models import Report
from mailtls.report import json as json_report
from mailtls.report.document import document

SHARED = {"subject": "CN=Shared \u00e9\u200f", "size": 2048, "ca": True, "none": None}
AWKWARD: dict[str, Any] = {
    "empty list": [],
    "empty dict": {},
    "text": 'quote " backslash \\ newline \n tab \t bell \x07 bidi \u202e ok',
    "numbers": [0, -1, 10**20, 1.5],
    "nested": [{"a": [SHARED, SHARED]}, [[], [{}]], SHARED],
    "flags": [True, False, None],
    "shared again": SHARED,
}


def test_awkward_values_written_as_json_dumps_writes_them() -> None:
    """Escapes, empty containers, a dict shared at several depths, numbers, null."""
    assert json_report.dumps(AWKWARD) == json.dumps(AWKWARD, indent=2)


def test_the_demo_report_is_written_as_json_dumps_writes_it(
    demo_report: tuple[Report, Path],
) -> None:
    """The whole document, certificates shared between chains included."""
    report, _ = demo_report
    expected = json.dumps(document(report), indent=2) + "\n"
    assert json_report.render(report) == expected
