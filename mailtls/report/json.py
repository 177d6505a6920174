"""JSON report: `{"schema": 1, "endpoints": [...], "findings": [...]}`."""

from __future__ import annotations

import json

from mailtls.models import ConfigResult
from mailtls.report.document import document


def render(result: ConfigResult) -> str:
    return json.dumps(document(result), indent=2, ensure_ascii=False) + "\n"
