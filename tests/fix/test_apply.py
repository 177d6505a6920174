"""The writer: a crash at any step leaves the old file or the new one whole, never a mix."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from mailtls.errors import MailtlsError
from mailtls.fix.apply import apply_change, backups_of, restore, run_lock

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
OLD = b"-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n"
NEW = b"-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n" * 3


class Crash(Exception):
    pass


def crash_on(monkeypatch: pytest.MonkeyPatch, name: str, call: int = 1) -> dict[str, int]:
    """Make os.<name> raise on its `call`-th use, as a power cut or full disk would."""
    real = getattr(os, name)
    count = {"n": 0}

    def failing(*args: object, **kwargs: object) -> object:
        count["n"] += 1
        if count["n"] == call:
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, failing)  # the writer calls os.<name> at run time
    return count


STEPS = [
    ("fsync", 1),
    ("fsync", 2),
    ("fsync", 3),
    ("replace", 1),
    ("replace", 2),
    ("fchmod", 1),
    ("fchmod", 2),
    ("fdopen", 1),
    ("fdopen", 2),
]


@pytest.mark.parametrize(("name", "call"), STEPS, ids=[f"{n}-{c}" for n, c in STEPS])
def test_crash_at_every_step_leaves_a_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, call: int
) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(OLD)
    target.chmod(0o640)
    count = crash_on(monkeypatch, name, call)
    with pytest.raises(Crash):
        apply_change(str(target), NEW, backup=True, backup_dir=None, private=False, now=NOW)
    assert count["n"] == call
    assert target.read_bytes() in (OLD, NEW)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".cert.pem.")]
    assert leftovers == []  # no temporary file left behind
    for backup in backups_of(str(target), None):
        assert Path(backup).read_bytes() == OLD  # a backup, where made, is whole


def test_backup_is_byte_identical_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(OLD)
    target.chmod(0o644)
    written = apply_change(str(target), NEW, backup=True, backup_dir=None, private=False, now=NOW)
    assert written.backup == f"{target}.mailtls-20261129T120000000000Z.bak"
    assert Path(written.backup).read_bytes() == OLD
    assert stat.S_IMODE(os.stat(written.backup).st_mode) == 0o644
    assert target.read_bytes() == NEW


def test_backup_dir_and_restore_puts_the_newest_back(tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(OLD)
    folder = tmp_path / "backups"
    folder.mkdir()
    apply_change(str(target), NEW, backup=True, backup_dir=str(folder), private=False, now=NOW)
    later = NOW + dt.timedelta(hours=1)
    apply_change(
        str(target), b"third\n", backup=True, backup_dir=str(folder), private=False, now=later
    )
    assert len(backups_of(str(target), str(folder))) == 2
    used = restore(str(target), str(folder))
    assert used.endswith("20261129T130000000000Z.bak")
    assert target.read_bytes() == NEW


def test_restore_without_backup_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(OLD)
    with pytest.raises(MailtlsError, match="no mailtls backup found"):
        restore(str(tmp_path / "cert.pem"), None)


def test_second_run_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    lock = str(tmp_path / "lock")
    with (
        run_lock(lock),
        pytest.raises(MailtlsError, match="another mailtls run holds"),
        run_lock(lock),
    ):
        pass
    with run_lock(lock):  # free again once the first run ends
        pass
