"""The run lock: ours alone, never a FIFO or a link, waited for with a bound."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailtls.fix.lock import LockError, default_lock, run_lock


def test_second_run_waits_then_says_so_in_one_line(tmp_path: Path) -> None:
    lock = str(tmp_path / "lock")
    with run_lock(lock):  # made ours (0700 folder, regular file); another process holds it next
        pass
    hold = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR);"
    hold += " fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", hold, lock], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with (
            pytest.raises(LockError, match=r"another mailtls run holds .* \(waited 0.3 s\)"),
            run_lock(lock, wait=0.3),
        ):
            pass
        assert 0.3 <= time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    with run_lock(lock, wait=0):  # free again once the other run ends
        pass


def test_a_fifo_at_the_lock_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "lock")
    with (
        pytest.raises(LockError, match="not a regular file"),
        run_lock(str(tmp_path / "lock"), wait=0),
    ):
        pass


def test_a_symlink_at_the_lock_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "lock").symlink_to(tmp_path / "created-by-root")
    with (
        pytest.raises(LockError, match="cannot open the lock"),
        run_lock(str(tmp_path / "lock"), wait=0),
    ):
        pass
    assert not (tmp_path / "created-by-root").exists()


def test_a_lock_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with (
        pytest.raises(LockError, match="must be ours and closed to others"),
        run_lock(str(shared / "lock"), wait=0),
    ):
        pass
    assert not (shared / "lock").exists()


def test_a_missing_lock_folder_is_made_0700(tmp_path: Path) -> None:
    with run_lock(str(tmp_path / "run" / "fix.lock"), wait=0):
        pass
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700


def test_the_default_place_is_never_world_writable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILTLS_LOCK_FILE", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    where = default_lock()
    if os.geteuid() == 0:
        assert where == "/run/mailtls/fix.lock"
    else:
        assert where == "/run/user/1000/mailtls/fix.lock"


def test_the_lock_taken_again_inside_a_run_is_held_not_waited_for(tmp_path: Path) -> None:
    """The hook holds the lock from its first check to its last reload, and the fix inside
    takes it again: that must not wait for itself, nor release it early."""
    lock = str(tmp_path / "lock")
    with run_lock(lock, wait=0) as outer:
        with run_lock(lock, wait=0) as inner:
            assert inner == outer
        with run_lock(f"{tmp_path}/./lock", wait=0) as same:  # another spelling
            assert same == outer
        probe = subprocess.run(["flock", "-n", lock, "true"], check=False, timeout=10)
        assert probe.returncode == 1  # still held by the outer run
    assert subprocess.run(["flock", "-n", lock, "true"], check=False, timeout=10).returncode == 0
