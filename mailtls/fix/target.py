"""The file to replace, as read: its folder held open from the read to the write, what it was
(device, inode, size, mtime, hash, mode, owner), and whether it is still that. Reads only."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from dataclasses import dataclass

from mailtls.checks.permissions import unsafe_component
from mailtls.errors import MailtlsError

MAX_BYTES = 4 * 1024 * 1024
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


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


def open_folder(path: str) -> int:
    """The folder, opened without following a symlink at its last component."""
    return os.open(os.path.abspath(path), DIR_FLAGS)


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
        fd = os.open(name, READ_FLAGS, dir_fd=folder)
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
