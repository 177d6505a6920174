"""Golden files: the demo's report in each format, byte for byte (paths shown as <DEMO>).

Refresh after a deliberate change with `make golden`, then read the diff before committing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mailtls.audit import AuditOptions, audit
from mailtls.config.discover import read_all
from mailtls.models import Report
from mailtls.report import json as json_report
from mailtls.report import text, yaml
from tests.conftest import FIXTURES

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MAILTLS_UPDATE_GOLDEN") == "1"
RENDERERS = {"txt": text.render, "json": json_report.render, "yaml": yaml.render}


@pytest.fixture
def demo_report(tmp_path: Path) -> tuple[Report, Path]:
    """The demo server copied aside, its key at 0600 as on a real server, audited at a fixed time."""
    demo = tmp_path / "etc"
    shutil.copytree(FIXTURES / "demo" / "etc", demo)
    (demo / "ssl" / "mail.example.org.key").chmod(0o600)
    config = read_all([str(demo / "dovecot"), str(demo / "postfix")], {})
    options = AuditOptions(
        at=dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC),
        ca_files=(str(demo / "ssl" / "root.pem"),),
        system_trust=False,
    )
    return audit(config, options), demo


@pytest.mark.parametrize("suffix", RENDERERS)
def test_demo_report_matches_golden(demo_report: tuple[Report, Path], suffix: str) -> None:
    report, demo = demo_report
    rendered = RENDERERS[suffix](report).replace(str(demo), "<DEMO>")
    golden = GOLDEN / f"demo.{suffix}"
    if UPDATE:
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def test_json_and_yaml_are_the_same_document(demo_report: tuple[Report, Path]) -> None:
    report, _ = demo_report
    assert json.loads(json_report.render(report)) == YAML(typ="safe").load(yaml.render(report))
