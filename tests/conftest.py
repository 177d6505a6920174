"""Shared test helpers: the corpus location and the real doveconf/postconf oracles."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mailtls.audit import AuditOptions, audit
from mailtls.models import ConfigResult, Endpoint, Location, Report

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = ROOT / "fixtures"
_CORPUS_SKIPPED = pytest.StashKey[int]()
# The loopback DNS servers of the DANE tests (the `dns_servers` session fixture), for all folders.
pytest_plugins = ["tests.dane.dns_servers"]


def need_binary(name: str) -> str:
    """The oracle's path; in CI a missing oracle is a failure, elsewhere a skip."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed: `make debian-packages` should have done it")
    pytest.skip(f"{name} not installed (make debian-packages)")


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def doveconf() -> str:
    return need_binary("doveconf")


@pytest.fixture
def postconf() -> str:
    return need_binary("postconf")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the corpus, its tests are deselected and one line says why."""
    if CORPUS.is_dir():
        return
    skipped = [i for i in items if "corpus" in getattr(i, "fixturenames", ())]
    if skipped:
        items[:] = [i for i in items if i not in skipped]
        config.hook.pytest_deselected(items=skipped)
        config.stash[_CORPUS_SKIPPED] = len(skipped)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    count = config.stash.get(_CORPUS_SKIPPED, 0)
    if count:
        terminalreporter.write_line(
            f"{count} corpus tests not run: no corpus at {CORPUS} (it ships in ../shared)"
        )


@pytest.fixture
def corpus() -> Path:
    """The public configurations in ../shared/corpus: an extra suite, present in CI and beside
    the team's checkouts, absent from a newcomer's clone (fixtures/etc covers the same readers)."""
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS} (it ships in ../shared beside the repo)")
    return CORPUS


def audit_served(
    cert_file: Path | str,
    key_file: Path | str | None,
    *,
    at: dt.datetime,
    ca_files: tuple[str, ...],
    config: Path | str | None = None,
    names: tuple[str, ...] = (),
    **options: Any,
) -> Report:
    """The audit of one Dovecot server serving `cert_file` with `key_file`, the clock pinned,
    only `ca_files` trusted; `config` is where its configuration line is said to be."""
    where = Path(config) if config else Path(cert_file).parent / "dovecot.conf"
    endpoint = Endpoint(
        id="dovecot:global",
        service="dovecot",
        role="server",
        scope="global",
        source=Location(str(where), 3),
        cert_file=str(cert_file),
        key_file=str(key_file) if key_file is not None else None,
        names=names,
    )
    settings = AuditOptions(at=at, ca_files=ca_files, system_trust=False, **options)
    return audit(ConfigResult((endpoint,)), settings)
