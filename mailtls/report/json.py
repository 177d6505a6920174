"""JSON report: `{"schema": 1, "endpoints": [...], "findings": [...]}`."""

from __future__ import annotations

import json

from mailtls.models import Report
from mailtls.report.document import document


def render(report: Report) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"
