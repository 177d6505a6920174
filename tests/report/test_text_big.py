"""The text report of a big host: a summary first, a finding shared by many endpoints once."""

from __future__ import annotations

from pathlib import Path

from mailtls.audit import audit
from mailtls.models import Report
from mailtls.report import text
from tests.hosts import multitenant, options


def test_summary_first_and_shared_findings_said_once(tmp_path: Path) -> None:
    """40 domains, the last 10 naming tenant 0's files (its leaf alone): 11 Dovecot blocks
    and Postfix's default name that file; its missing-intermediate is said once, with the
    config lines where it is named, and each endpoint points to it in one short line."""
    report = audit(multitenant(tmp_path, 40, shared=10), options(tmp_path, None))
    lines = text.render(report).splitlines()
    files = {f for e in report.endpoints for f in e.files()}
    assert lines[0] == (
        f"{len(report.endpoints)} endpoints in 2 configurations,"
        f" {len(files)} certificate or key files; {len(report.findings)} findings"
    )
    by_code: dict[str, int] = {}
    for finding in report.findings:
        by_code[finding.code] = by_code.get(finding.code, 0) + 1
    summary = lines[1 : lines.index("")]
    assert [line.split()[0] for line in summary] == sorted(
        by_code, key=lambda c: (-report_rank(report, c), -by_code[c], c)
    )
    assert all(line.split()[1] == str(by_code[line.split()[0]]) for line in summary)

    t0 = f"{tmp_path}/ssl/mail.t0.example/fullchain.pem"
    said = [line for line in lines if f"missing-intermediate {t0}: no certificate" in line]
    assert len(said) == 1
    heading = lines.index(said[0]) - 1
    assert lines[heading] == f"{t0}  (the same for 12 endpoints)"
    assert lines[heading + 2].startswith("  also at ") and lines[heading + 2].endswith(
        " and 6 more"
    )
    pointers = [line for line in lines if line.endswith(f"said once below, for {t0}")]
    assert len(pointers) == 12
    # A finding of one endpoint alone stays in its block, greppable as before.
    assert any(
        line.startswith(f"  {tmp_path}/dovecot.conf:") and "cert-expired" in line for line in lines
    )


def report_rank(report: Report, code: str) -> int:
    return next(f.severity.rank for f in report.findings if f.code == code)
