"""JSON report: `{"schema": 1, "endpoints": [...], "findings": [...]}`."""

from __future__ import annotations

import json

from mailtls.models import Report
from mailtls.report.document import document


def render(report: Report) -> str:
    # ASCII only: U+202E and undecodable file-name bytes (lone surrogates) as \u escapes.
    return json.dumps(document(report), indent=2) + "\n"
