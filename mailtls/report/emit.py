"""Render a report in the asked format, to stdout or to a file, and say the exit code.

text, json and yaml exit 0 or 1 (`--fail-on`); nagios exits with its status (0 OK,
1 WARNING, 2 CRITICAL); prometheus is written for node_exporter's textfile collector, whole
or not at all (`--output`), and exits like text.
"""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum

from mailtls.errors import EXIT_FINDINGS, EXIT_OK
from mailtls.models import Report, Severity


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    YAML = "yaml"
    NAGIOS = "nagios"
    PROMETHEUS = "prometheus"


def render(report: Report, output: Format, started: float, warn_days: int | None) -> str:
    """The report as text in `output`; `started` (time.monotonic()) gives the run's length."""
    if output is Format.JSON:
        from mailtls.report import json

        return json.render(report)
    if output is Format.YAML:
        from mailtls.report import yaml

        return yaml.render(report)
    if output is Format.NAGIOS:
        from mailtls.report import nagios

        return nagios.render(report, warn_days)
    if output is Format.PROMETHEUS:
        from mailtls.report import prometheus

        return prometheus.render(report, time.monotonic() - started, time.time())
    from mailtls.report import text

    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    return text.render(report, colour=colour)


def emit(
    report: Report,
    output: Format,
    *,
    to_file: str | None,
    fail_on: Severity,
    started: float,
    warn_days: int | None = None,
) -> int:
    """Write the report where asked and return the exit code."""
    if output is Format.JSON and to_file is None:
        from mailtls.report import json

        for piece in json.chunks(report):  # a big host's report is never whole in memory
            sys.stdout.write(piece)
    elif to_file is None:
        sys.stdout.write(render(report, output, started, warn_days))
    else:
        rendered = render(report, output, started, warn_days)
        from mailtls.fix.apply import write_report

        write_report(to_file, rendered.encode())
    if output is Format.NAGIOS:
        from mailtls.report import nagios

        return nagios.status(report)
    failing = [f for f in report.findings if f.severity.rank >= fail_on.rank]
    return EXIT_FINDINGS if failing else EXIT_OK
