"""The only module that writes: backups, atomic replacement, restore, stale temporary files.

Root works in folders other users can write (a renewal client's), so every step is relative
to a folder opened once (`dir_fd`), names are opened with O_NOFOLLOW, new files are created
with O_EXCL and their final mode, owners and modes are set on descriptors, never on paths,
and a file is replaced only if it is still the one that was read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
import signal
import stat
from dataclasses import dataclass

from mailtls.checks.permissions import unsafe_component
from mailtls.errors import MailtlsError

BACKUP_SUFFIX = ".bak"
TEMP_MARK = ".mailtls-tmp-"
MAX_BYTES = 4 * 1024 * 1024
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
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


class FileChanged(MailtlsError):
    """The file is no longer the one read: renewed, replaced or swapped for a symlink."""


@dataclass(frozen=True)
class Identity:
    """What a file was when read; compared again just before it is replaced."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    sha256: str
    mode: int
    uid: int
    gid: int


@dataclass
class Target:
    """A file to replace: its folder held open from the read to the write."""

    path: str  # the real path, for messages
    folder: int  # descriptor of the folder
    name: str
    identity: Identity
    data: bytes

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.folder)


@dataclass(frozen=True)
class Written:
    path: str
    backup: str | None


def open_folder(path: str) -> int:
    """The folder, opened without following a symlink at its last component."""
    return os.open(os.path.abspath(path), _DIR)


def open_target(real_path: str) -> Target:
    """Open the folder of `real_path` once and read the file relative to it."""
    folder = open_folder(os.path.dirname(real_path) or ".")
    try:
        name = os.path.basename(real_path)
        data, identity = _read(folder, name, real_path)
        return Target(real_path, folder, name, identity, data)
    except BaseException:
        os.close(folder)
        raise


def _read(folder: int, name: str, shown: str) -> tuple[bytes, Identity]:
    try:
        fd = os.open(name, _READ, dir_fd=folder)
    except OSError as error:
        raise FileChanged(
            f"{shown}: cannot open it without following a link ({error.strerror})"
        ) from None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileChanged(f"{shown} is no longer a regular file")
        data = stream.read(MAX_BYTES + 1)
    digest = hashlib.sha256(data).hexdigest()
    identity = Identity(
        info.st_dev,
        info.st_ino,
        info.st_size,
        info.st_mtime_ns,
        digest,
        stat.S_IMODE(info.st_mode),
        info.st_uid,
        info.st_gid,
    )
    return data, identity


def check_unchanged(target: Target) -> None:
    """Raise FileChanged unless the name still holds the file read (inode, size, mtime, hash)."""
    _, now = _read(target.folder, target.name, target.path)
    if now != target.identity:
        raise FileChanged(f"{target.path} changed since it was read (renewed meanwhile?)")


def symlink_risk(configured: str, real: str) -> str | None:
    """When `configured` reaches `real` through a symlink: why following it is unsafe (a folder
    on the way that another user could change), else None."""
    if os.path.abspath(configured) == real:
        return None
    return unsafe_component(os.path.dirname(real), {0, os.geteuid()})


def temp_name(name: str) -> str:
    return f".{name}{TEMP_MARK}{secrets.token_hex(6)}"


def _create(folder: int, name: str, data: bytes, mode: int, uid: int, gid: int) -> str:
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


def write_atomically(target: Target, data: bytes, *, private: bool = False) -> None:
    """Replace the target with `data`: a temporary file in the same folder with the same mode
    and owner, fsync, a last look that the file is still the one read, rename, fsync the folder.
    A failure at any step leaves the file whole; a changed file raises FileChanged."""
    known = target.identity
    mode = known.mode & 0o600 if private else known.mode
    temp = _create(target.folder, target.name, data, mode, known.uid, known.gid)
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


def backup_name(path: str, now: dt.datetime, backup_dir: str | None) -> str:
    """`<file>.mailtls-<UTC timestamp>.bak`, beside the file or in `backup_dir`."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{os.path.basename(path)}.mailtls-{stamp}{BACKUP_SUFFIX}"
    if backup_dir is None:
        return os.path.join(os.path.dirname(path), name)
    # In a shared folder, the flattened path keeps two `cert.pem` apart.
    flat = path.strip("/").replace("/", "_")
    return os.path.join(backup_dir, f"{flat}.mailtls-{stamp}{BACKUP_SUFFIX}")


def open_backup_dir(path: str) -> int:
    """--backup-dir, opened; made 0700 when missing (its parent must exist)."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        return open_folder(path)
    except OSError as error:
        why = "not a folder" if error.errno == 20 else error.strerror
        raise WriteError(f"--backup-dir {path}: {why}; nothing was changed") from None


def make_backup(
    target: Target, now: dt.datetime, backup_dir: tuple[str, int] | None, private: bool
) -> str:
    """A byte-identical copy of what was read, with the file's mode (0600 or tighter if it
    holds a key, from the first byte) and owner, complete before its name appears: written
    as a temporary file, then linked to a name that must not exist yet (no planted file or
    symlink is ever followed or replaced)."""
    final = backup_name(target.path, now, backup_dir[0] if backup_dir else None)
    folder = backup_dir[1] if backup_dir else target.folder
    known = target.identity
    mode = known.mode & 0o600 if private else known.mode
    check_unchanged(target)
    step()
    temp = _create(folder, os.path.basename(final), target.data, mode, known.uid, known.gid)
    try:
        os.link(temp, os.path.basename(final), src_dir_fd=folder, dst_dir_fd=folder)
        step()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
    step()
    os.fsync(folder)
    step()
    return final


def apply_change(
    target: Target,
    new: bytes,
    *,
    backup: bool,
    backup_dir: tuple[str, int] | None,
    private: bool,
    now: dt.datetime,
) -> Written:
    """Back the target up (when asked), then replace it atomically. OSError becomes WriteError
    (the file is whole); FileChanged passes through (the file is someone else's now)."""
    saved = None
    try:
        saved = make_backup(target, now, backup_dir, private) if backup else None
        write_atomically(target, new, private=private)
    except (OSError, FileChanged) as error:  # raised only before the rename
        if saved is not None:  # the file stays as it was: its copy would only mislead
            folder = backup_dir[1] if backup_dir else target.folder
            with contextlib.suppress(OSError):
                os.unlink(os.path.basename(saved), dir_fd=folder)
        if isinstance(error, OSError):
            raise WriteError(
                f"{target.path}: could not write ({error.strerror}); it is unchanged"
            ) from None
        raise
    return Written(target.path, saved)


def backups_of(path: str, backup_dir: str | None) -> list[str]:
    """Names of the backups of `path`, oldest first (UTC stamps sort)."""
    sample = os.path.basename(backup_name(path, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), backup_dir))
    prefix = sample[: sample.rindex(".mailtls-") + len(".mailtls-")]
    folder = backup_dir or os.path.dirname(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [n for n in names if n.startswith(prefix) and n.endswith(BACKUP_SUFFIX)]
    return [os.path.join(folder, n) for n in sorted(found)]


def restore(path: str, backup_dir: str | None) -> str:
    """Put the newest backup of `path` back, atomically; return the backup used. Only a
    regular file owned by root or the file's owner and closed to others' writes is used."""
    real = os.path.realpath(path)
    risk = symlink_risk(path, real)
    if risk:
        raise MailtlsError(f"{path}: not restored: it leads through a symlink and {risk}")
    found = backups_of(real, backup_dir)
    if not found:
        raise MailtlsError(f"{path}: no mailtls backup found")
    target = open_target(real)
    try:
        data = _trusted_backup(found[-1], {0, target.identity.uid})
        write_atomically(target, data)
    except FileChanged as error:
        raise MailtlsError(f"{error}; nothing was restored") from None
    except OSError as error:
        raise WriteError(f"{real}: could not write ({error.strerror}); it is unchanged") from None
    finally:
        target.close()
    return found[-1]


def _trusted_backup(backup: str, owners: set[int]) -> bytes:
    folder = open_folder(os.path.dirname(backup))
    try:
        fd = os.open(os.path.basename(backup), _READ, dir_fd=folder)
    except OSError as error:
        raise MailtlsError(f"{backup}: not restored ({error.strerror}: a link?)") from None
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid not in owners or info.st_mode & 0o022:
            raise MailtlsError(
                f"{backup}: not restored: not a regular file owned by root or the file's owner"
                " and closed to others' writes (planted?)"
            )
        return stream.read(MAX_BYTES + 1)


def sweep_stale(folder: int, before: float) -> list[str]:
    """Remove our own temporary files a killed run left (`.NAME.mailtls-tmp-RANDOM`), made
    before this run took the lock, owned by us or by the owner of NAME."""
    removed = []
    for entry in os.scandir(folder):
        name = entry.name
        if not (name.startswith(".") and TEMP_MARK in name):
            continue
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
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
