"""The demo's report, shared by the renderer tests."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from mailtls.audit import AuditOptions, audit
from mailtls.config.discover import read_all
from mailtls.models import Report
from tests.conftest import FIXTURES


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
