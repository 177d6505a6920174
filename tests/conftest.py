"""Shared test helpers: the corpus location and the real doveconf/postconf oracles."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = ROOT / "fixtures"


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


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the corpus is missing at {CORPUS}: it ships in ../shared beside the repo")
    return CORPUS
