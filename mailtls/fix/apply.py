"""The only module that writes: backups, atomic replacement, restore, and the run lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import glob
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from mailtls.errors import MailtlsError

BACKUP_SUFFIX = ".bak"
DEFAULT_LOCK = "/run/lock/mailtls.lock"


class WriteError(MailtlsError):
    """A write that failed; the file named is as it was before."""


@dataclass(frozen=True)
class Written:
    path: str
    backup: str | None


def backup_name(path: str, now: dt.datetime, backup_dir: str | None) -> str:
    """`<file>.mailtls-<UTC timestamp>.bak`, beside the file or in `backup_dir`."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{os.path.basename(path)}.mailtls-{stamp}{BACKUP_SUFFIX}"
    if backup_dir is None:
        return os.path.join(os.path.dirname(path), name)
    # In a shared folder, the flattened path keeps two `cert.pem` apart.
    flat = path.strip("/").replace("/", "_")
    return os.path.join(backup_dir, f"{flat}.mailtls-{stamp}{BACKUP_SUFFIX}")


def backups_of(path: str, backup_dir: str | None) -> list[str]:
    """Backups of `path`, oldest first."""
    sample = backup_name(path, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), backup_dir)
    prefix = sample[: sample.rindex(".mailtls-") + len(".mailtls-")]
    return sorted(glob.glob(glob.escape(prefix) + "*" + BACKUP_SUFFIX))  # UTC stamps sort


def write_atomically(path: str, data: bytes, *, private: bool = False) -> None:
    """Replace `path` with `data`: a temporary file in the same folder with the same mode and
    owner, fsync, rename over, fsync the folder. A failure at any step leaves `path` whole."""
    folder = os.path.dirname(path) or "."
    info = _stat_or_none(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            mode = (info.st_mode & 0o7777) if info else 0o644
            os.fchmod(stream.fileno(), mode & 0o600 if private else mode)
            if info is not None:
                _chown(stream.fileno(), info.st_uid, info.st_gid)
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def make_backup(path: str, now: dt.datetime, backup_dir: str | None, private: bool) -> str:
    """A byte-identical copy with the file's mode and owner (0600 or tighter if it holds a
    key), written atomically so a crash never leaves half a backup."""
    target = backup_name(path, now, backup_dir)
    with open(path, "rb") as stream:
        data = stream.read()
    info = os.stat(path)
    write_atomically(target, data, private=private)
    mode = info.st_mode & 0o7777
    os.chmod(target, mode & 0o600 if private else mode)
    with contextlib.suppress(PermissionError):
        os.chown(target, info.st_uid, info.st_gid)
    return target


def apply_change(
    path: str, new: bytes, *, backup: bool, backup_dir: str | None, private: bool, now: dt.datetime
) -> Written:
    """Back `path` up (when asked), then replace it atomically."""
    saved = make_backup(path, now, backup_dir, private) if backup else None
    try:
        write_atomically(path, new)
    except OSError as error:
        raise WriteError(f"{path}: could not write ({error.strerror}); it is unchanged") from None
    return Written(path, saved)


def restore(path: str, backup_dir: str | None) -> str:
    """Put the newest backup of `path` back, atomically; return the backup used."""
    found = backups_of(path, backup_dir)
    if not found:
        raise MailtlsError(f"{path}: no mailtls backup found")
    with open(found[-1], "rb") as stream:
        data = stream.read()
    write_atomically(path, data)
    return found[-1]


@contextlib.contextmanager
def run_lock(path: str | None = None) -> Iterator[None]:
    """One fix at a time: a second run fails at once instead of writing beside the first."""
    target = path or (DEFAULT_LOCK if os.access("/run/lock", os.W_OK) else _temp_lock())
    with open(target, "a") as stream:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise MailtlsError(f"another mailtls run holds {target}; try again later") from None
            raise
        yield


def _temp_lock() -> str:
    return os.path.join(tempfile.gettempdir(), "mailtls.lock")


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _chown(fd: int, uid: int, gid: int) -> None:
    with contextlib.suppress(PermissionError):
        os.fchown(fd, uid, gid)


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
