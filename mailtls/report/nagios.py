"""Nagios/Icinga plugin output: one status line with performance data, details after it.

The plugin guidelines (Monitoring Plugins Development Guidelines): the first line is
`SERVICE STATUS - text | perfdata`, perfdata `'label'=value[UOM];[warn];[crit];[min];[max]`,
more text on the following lines, and the exit code is the status: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import datetime as dt

from mailtls.models import Report, Severity
from mailtls.report.escape import safe

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
_WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


def status(report: Report) -> int:
    """CRITICAL for any error, WARNING for any warning, else OK (infos do not count)."""
    severities = {f.severity for f in report.findings}
    if Severity.ERROR in severities:
        return CRITICAL
    return WARNING if Severity.WARNING in severities else OK


def days_left(report: Report) -> int | None:
    """Whole days until the first certificate served anywhere expires (negative: expired)."""
    at = dt.datetime.fromisoformat(report.at)
    ends = [dt.datetime.fromisoformat(c.not_after) for chain in report.chains for c in chain.certs]
    return min((end - at).days for end in ends) if ends else None


def render(report: Report, warn_days: int | None = None) -> str:
    code = status(report)
    counts = {s: sum(f.severity is s for f in report.findings) for s in Severity}
    left = days_left(report)
    what = (
        f"{len(report.endpoints)} endpoint(s)"
        if report.configs
        else f"{len(report.endpoints)} listener(s)"
    )
    summary = f"{what}, {counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s)"
    if left is not None:
        summary += f", first expiry in {left} day(s)"
    worst = sorted(report.findings, key=lambda f: -f.severity.rank)
    if worst and code != OK:
        summary += f": {worst[0].code}"
    warn = str(warn_days) if warn_days is not None else ""
    perfdata = [
        f"'errors'={counts[Severity.ERROR]};;1;0",
        f"'warnings'={counts[Severity.WARNING]};1;;0",
        f"'infos'={counts[Severity.INFO]};;;0",
    ]
    if left is not None:
        perfdata.insert(0, f"'days_left'={left}d;{warn};0")
    lines = [f"MAILTLS {_WORDS[code]} - {summary.replace('|', '/')} | {' '.join(perfdata)}"]
    lines += [
        f"{f.severity.value} {f.code} {f.message}".replace("|", "/")
        for f in worst
        if f.severity is not Severity.INFO
    ]
    return "\n".join(safe(line) for line in lines) + "\n"


def unknown(reason: str) -> str:
    """What a plugin says when it could not check at all (exit 3)."""
    return safe(f"MAILTLS UNKNOWN - {reason}".replace("|", "/")) + "\n"
