"""Writing, with backups.py the only modules that write: atomic replacement, reports, stale
temporary files, hook files. backups.py makes, prunes and restores the backups.

Root works in folders other users can write (a renewal client's), so every step is relative
to a folder opened once (`dir_fd`), names are opened with O_NOFOLLOW, new files are created
with O_EXCL and their final mode, owners and modes are set on descriptors, never on paths,
and a file is replaced only if it is still the one that was read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
from dataclasses import dataclass

from mailtls.errors import MailtlsError
from mailtls.fix.target import (
    Target,
    check_unchanged,
    open_folder,
)

BACKUP_SUFFIX = ".bak"
TEMP_MARK = ".mailtls-tmp-"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


KILL_AT = "MAILTLS_TEST_KILL_AT"
_steps = [0]


def step() -> None:
    """A seam for the SIGKILL sweep test: with MAILTLS_TEST_KILL_AT=N in the environment,
    the process kills itself at the Nth step of the write path, as a power cut would."""
    wanted = os.environ.get(KILL_AT)
    if wanted:
        _steps[0] += 1
        if _steps[0] == int(wanted):
            os.kill(os.getpid(), signal.SIGKILL)


class WriteError(MailtlsError):
    """A write that failed; the file named is as it was before."""


@dataclass(frozen=True)
class Written:
    path: str
    backup: str | None


def temp_name(name: str) -> str:
    return f".{name}{TEMP_MARK}{secrets.token_hex(6)}"


def create(folder: int, name: str, data: bytes, mode: int, uid: int, gid: int) -> str:
    """A new temporary file holding `data`, created with its final mode (never wider), owned
    as asked, fsynced. Returns its name; removes it on any failure."""
    temp = temp_name(name)
    fd = os.open(temp, _CREATE, mode & 0o777, dir_fd=folder)
    step()
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            step()
            with contextlib.suppress(PermissionError):  # not root: the file stays ours
                os.fchown(stream.fileno(), uid, gid)
            os.fchmod(stream.fileno(), mode)  # after fchown, which clears set-id bits
            step()
            os.fsync(stream.fileno())
            step()
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        raise
    return temp


def write_atomically(target: Target, data: bytes) -> None:
    """Replace the target with `data`: a temporary file in the same folder with the same mode
    and owner, fsync, a last look that the file is still the one read, rename, fsync the folder.
    A failure at any step leaves the file whole; a changed file raises FileChanged."""
    known = target.identity
    temp = create(target.folder, target.name, data, known.mode, known.uid, known.gid)
    try:
        check_unchanged(target)
        step()
        os.replace(temp, target.name, src_dir_fd=target.folder, dst_dir_fd=target.folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=target.folder)
        raise
    step()
    # The rename is done: the file is the new one whatever happens next, so a failing folder
    # fsync (it only delays durability) must not be reported as "unchanged".
    with contextlib.suppress(OSError):
        os.fsync(target.folder)
    step()


def write_report(path: str, data: bytes, mode: int = 0o644) -> None:
    """A report file (`--output`, e.g. for node_exporter's textfile collector) written whole
    or not at all: a temporary file beside it, renamed over it; readers never see half."""
    try:
        folder = open_folder(os.path.dirname(os.path.abspath(path)))
    except OSError as error:
        raise WriteError(f"{path}: {error.strerror or error}") from None
    try:
        name = os.path.basename(path)
        temp = create(folder, name, data, mode, os.geteuid(), os.getegid())
        try:
            os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=folder)
            raise
        with contextlib.suppress(OSError):
            os.fsync(folder)
    except OSError as error:
        raise WriteError(f"{path}: {error.strerror or error}") from None
    finally:
        os.close(folder)


def sweep_stale(folder: int, before: float) -> list[str]:
    """Remove our own temporary files a killed run left (`.NAME.mailtls-tmp-RANDOM`), made
    before this run took the lock, owned by us or by the owner of NAME."""
    removed = []
    for entry in os.scandir(folder):
        name = entry.name
        if not (name.startswith(".") and TEMP_MARK in name):
            continue
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        if not stat.S_ISREG(info.st_mode) or info.st_mtime >= before:
            continue
        if info.st_uid not in {os.geteuid(), _owner(folder, name[1 : name.rindex(TEMP_MARK)])}:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder)
            removed.append(name)
    return removed


def _owner(folder: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False).st_uid
    except OSError:
        return None


def install_file(path: str, data: bytes, mode: int, *, replace: bool) -> None:
    """A new file (a hook script) complete, with its mode, before its name appears: a
    temporary file linked to a name that must not exist yet, or with `replace` renamed over
    whatever is there (a symlink is replaced, never followed)."""
    folder = open_folder(os.path.dirname(path))
    name = os.path.basename(path)
    try:
        temp = create(folder, name, data, mode, os.geteuid(), os.getegid())
        try:
            if replace:
                os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
            else:
                os.link(temp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=folder)
        os.fsync(folder)
    except OSError as error:
        raise WriteError(f"{path}: {error.strerror or error}; nothing was changed") from None
    finally:
        os.close(folder)


def remove_file(target: Target) -> None:
    """Remove the file read as `target`, only if it is still the one read."""
    try:
        check_unchanged(target)
        os.unlink(target.name, dir_fd=target.folder)
        os.fsync(target.folder)
    except OSError as error:
        raise WriteError(f"{target.path}: {error.strerror or error}; not removed") from None
