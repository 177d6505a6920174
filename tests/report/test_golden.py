"""Golden files: the demo's report in each format, byte for byte (paths shown as <DEMO>).

Refresh after a deliberate change with `make golden`, then read the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mailtls.models import Report
from mailtls.report import json as json_report
from mailtls.report import text, yaml

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MAILTLS_UPDATE_GOLDEN") == "1"
RENDERERS = {"txt": text.render, "json": json_report.render, "yaml": yaml.render}


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
