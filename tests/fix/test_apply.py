"""The writer: a crash at any step leaves the old file or the new one whole, never a mix;
files are made with their final mode, owners and modes set on descriptors, never on paths."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from mailtls.errors import MailtlsError
from mailtls.fix.apply import WriteError, Written, sweep_stale
from mailtls.fix.backups import apply_change, backups_of, open_backup_dir, restore
from mailtls.fix.target import FileChanged, open_target

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
OLD = b"-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n"
NEW = b"-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n" * 3


def replace(
    path: Path,
    new: bytes,
    *,
    backup: bool = True,
    backup_dir: str | None = None,
    private: bool = False,
    now: dt.datetime = NOW,
) -> Written:
    """What `fix` does for one file: open it, then back up and replace it."""
    target = open_target(str(path))
    folder = (backup_dir, open_backup_dir(backup_dir)) if backup_dir else None
    try:
        return apply_change(target, new, backup=backup, backup_dir=folder, private=private, now=now)
    finally:
        target.close()
        if folder:
            os.close(folder[1])


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


# Every call of each kind the writer makes for one file with a backup beside it.
STEPS = [
    *[("open", n) for n in (1, 2, 3, 4)],
    *[("fdopen", n) for n in (1, 2, 3, 4)],
    *[("fchown", n) for n in (1, 2)],
    *[("fchmod", n) for n in (1, 2)],
    *[("fsync", n) for n in (1, 2, 3, 4)],
    ("link", 1),
    ("replace", 1),
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
        replace(target, NEW)
    assert count["n"] == call
    assert target.read_bytes() in (OLD, NEW)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    leftovers = [p.name for p in tmp_path.iterdir() if ".mailtls-tmp-" in p.name]
    assert leftovers == []  # no temporary file left behind
    for backup in backups_of(str(target), None):
        assert Path(backup).read_bytes() == OLD  # a backup, where made, is whole


def test_backup_is_byte_identical_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(OLD)
    target.chmod(0o644)
    written = replace(target, NEW)
    assert written.backup == f"{target}.mailtls-20261129T120000000000Z.bak"
    assert Path(written.backup).read_bytes() == OLD
    assert stat.S_IMODE(os.stat(written.backup).st_mode) == 0o644
    assert target.read_bytes() == NEW


def watch_opens(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Every os.open from now on: (name, flags, mode); path-based chmod/chown forbidden."""
    calls: list[tuple[str, int, int]] = []
    real = os.open

    def recording(path: str, flags: int, mode: int = 0o777, **kwargs: object) -> int:
        calls.append((str(path), flags, mode))
        return real(path, flags, mode, **kwargs)  # type: ignore[arg-type]

    def by_path(*args: object, **kwargs: object) -> None:
        raise AssertionError("mode or owner set by path")

    monkeypatch.setattr(os, "open", recording)
    for name in ("chmod", "chown", "lchown"):
        monkeypatch.setattr(os, name, by_path)
    return calls


def test_a_key_file_backup_is_0600_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup of a 0644 file that holds a key is created 0600, never widened or narrowed
    by path after the fact (another user could read it in between)."""
    target = tmp_path / "combined.pem"
    target.write_bytes(OLD)
    target.chmod(0o644)
    opened = watch_opens(monkeypatch)
    written = replace(target, NEW, private=True)
    assert written.backup is not None
    assert stat.S_IMODE(os.stat(written.backup).st_mode) == 0o600
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # the file keeps its mode
    created = [(p, f, m) for p, f, m in opened if f & os.O_CREAT]
    assert len(created) == 2  # the backup's temporary file, then the new file's
    for name, flags, _ in created:
        assert ".mailtls-tmp-" in name
        assert flags & os.O_EXCL and flags & os.O_NOFOLLOW and flags & os.O_CLOEXEC
    assert created[0][2] & 0o077 == 0  # the backup: 0600 from the first byte


def test_backup_dir_and_restore_puts_the_newest_back(tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(OLD)
    folder = tmp_path / "backups"
    replace(target, NEW, backup_dir=str(folder))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # made, closed to others
    replace(target, b"third\n", backup_dir=str(folder), now=NOW + dt.timedelta(hours=1))
    assert len(backups_of(str(target), str(folder))) == 2
    used = restore(str(target), str(folder))
    assert used.endswith("20261129T130000000000Z.bak")
    assert target.read_bytes() == NEW


@pytest.mark.parametrize("kind", ["a file", "no parent", "a symlink"])
def test_unusable_backup_dir_is_one_line_and_changes_nothing(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(OLD)
    where = tmp_path / "file"
    where.write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path)
    place = {
        "a file": str(where),
        "no parent": str(tmp_path / "no" / "such"),
        "a symlink": str(tmp_path / "link"),
    }[kind]
    said = {"a file": "not a folder", "no parent": "its parent", "a symlink": "a symlink"}[kind]
    with pytest.raises(WriteError, match=rf"--backup-dir .*{said}.*nothing was changed") as caught:
        replace(target, NEW, backup_dir=place)
    assert "\n" not in str(caught.value)
    assert target.read_bytes() == OLD


def test_restore_without_backup_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(OLD)
    with pytest.raises(MailtlsError, match="no mailtls backup found"):
        restore(str(tmp_path / "cert.pem"), None)


def test_restore_refuses_a_symlinked_backup(tmp_path: Path) -> None:
    """A newer-named backup that is a symlink to a secret is not followed."""
    target = tmp_path / "cert.pem"
    target.write_bytes(OLD)
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret\n")
    (tmp_path / "cert.pem.mailtls-29991231T000000000000Z.bak").symlink_to(secret)
    with pytest.raises(MailtlsError, match="not restored"):
        restore(str(target), None)
    assert target.read_bytes() == OLD


def test_a_file_changed_before_the_rename_is_left_alone(tmp_path: Path) -> None:
    """A renewal between the read and the write: FileChanged, the renewed bytes stay."""
    path = tmp_path / "cert.pem"
    path.write_bytes(OLD)
    target = open_target(str(path))
    renewed = tmp_path / "renewed"
    renewed.write_bytes(b"renewed\n")
    renewed.rename(path)
    try:
        with pytest.raises(FileChanged, match="changed since it was read"):
            apply_change(target, NEW, backup=False, backup_dir=None, private=False, now=NOW)
    finally:
        target.close()
    assert path.read_bytes() == b"renewed\n"
    assert [p.name for p in tmp_path.iterdir() if ".mailtls-tmp-" in p.name] == []


def test_stale_temporary_files_of_ours_are_swept(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(OLD)
    stale = tmp_path / ".cert.pem.mailtls-tmp-0123456789ab"
    stale.write_bytes(b"half")
    other = tmp_path / ".cert.pem.someone-else"
    other.write_bytes(b"x")
    (tmp_path / ".x.mailtls-tmp-link").symlink_to(tmp_path / "cert.pem")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert sweep_stale(fd, before=0.0) == []  # all made after "the lock was taken"
        assert sweep_stale(fd, before=stale.stat().st_mtime + 1) == [stale.name]
    finally:
        os.close(fd)
    assert other.exists() and (tmp_path / ".x.mailtls-tmp-link").is_symlink()


def test_restore_through_a_symlink_into_an_open_folder_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "cert.pem").write_bytes(OLD)
    replace(shared / "cert.pem", NEW)
    shared.chmod(0o777)
    (tmp_path / "cert.pem").symlink_to(shared / "cert.pem")
    with pytest.raises(MailtlsError, match=f"symlink and {shared} is writable by everyone"):
        restore(str(tmp_path / "cert.pem"), None)
    assert (shared / "cert.pem").read_bytes() == NEW
