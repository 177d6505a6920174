"""A FIFO swapped in for a file between a check and the open: the readers refused a FIFO
found by stat(), then opened the path again, and that open() waited for a writer forever. They
now open non-blocking and judge the descriptor (a hook must never hang)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mailtls.config.source import ConfigFileError, ConfigFiles
from mailtls.errors import ConfigError
from mailtls.pki.load import load_file
from mailtls.settings import read_text


def finishes(call: Callable[[], object], seconds: float = 5.0) -> object:
    """What `call` returned or raised, failing the test if it blocks."""
    done: list[object] = []

    def run() -> None:
        try:
            done.append(call())
        except Exception as error:  # the reader's own error is the answer
            done.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert done, "the reader blocked on a FIFO"
    return done[0]


@pytest.fixture
def fifo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A FIFO where a file was, with stat() still saying a regular file: the swap happened
    after the check."""
    path = tmp_path / "cert.pem"
    os.mkfifo(path)
    real_stat = os.stat
    regular = real_stat(tmp_path)  # any stat result, to disguise the FIFO as a file

    def disguised(target: object, *args: object, **kwargs: object) -> os.stat_result:
        result = real_stat(target, *args, **kwargs)  # type: ignore[arg-type]
        if stat.S_ISFIFO(result.st_mode):
            fields = list(regular)
            fields[0] = stat.S_IFREG | 0o644
            fields[6] = 100
            return os.stat_result(fields)
        return result

    monkeypatch.setattr(os, "stat", disguised)
    return path


def test_the_certificate_loader_does_not_wait_on_a_fifo(fifo: Path) -> None:
    loaded = finishes(lambda: load_file(str(fifo)))
    assert getattr(loaded, "problem", None) == "file-unreadable"
    assert getattr(loaded, "detail", None) == "not a regular file"


def test_the_configuration_reader_does_not_wait_on_a_fifo(fifo: Path) -> None:
    raised = finishes(lambda: ConfigFiles().read(str(fifo)))
    assert isinstance(raised, ConfigFileError)
    assert "not a regular file" in str(raised)


def test_the_settings_reader_does_not_wait_on_a_fifo(fifo: Path) -> None:
    raised = finishes(lambda: read_text(str(fifo)))
    assert isinstance(raised, ConfigError)
    assert str(raised) == f"{fifo}: not a regular file"
