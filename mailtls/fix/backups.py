"""Backups: made before a file is replaced, pruned to `backups.keep`, put back by restore.

As in apply.py: every step relative to a folder opened once, O_NOFOLLOW and O_EXCL, modes
from the first byte, and a file replaced only if it is still the one that was read. A backup
is used for a restore only if it is a regular file that root or the file's owner owns and
others cannot write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import re
import stat

from mailtls.errors import MailtlsError
from mailtls.fix.apply import BACKUP_SUFFIX, WriteError, Written, create, step, write_atomically
from mailtls.fix.target import (
    MAX_BYTES,
    READ_FLAGS,
    FileChanged,
    Target,
    check_unchanged,
    open_folder,
    open_target,
    symlink_risk,
)


def backup_name(path: str, now: dt.datetime, backup_dir: str | None) -> str:
    """`<file>.mailtls-<UTC timestamp>.bak`, beside the file or in `backup_dir`."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{_stem(path, backup_dir)}{stamp}{BACKUP_SUFFIX}"
    return os.path.join(backup_dir or os.path.dirname(path), name)


def _stem(path: str, backup_dir: str | None) -> str:
    """What every backup name of `path` starts with. In a shared folder the whole path is
    kept, percent-encoded: `/a_b/c.pem` and `/a/b_c.pem` must never share backups."""
    if backup_dir is None:
        return f"{os.path.basename(path)}.mailtls-"
    flat = path.strip("/").replace("%", "%25").replace("/", "%2F")
    if len(os.fsencode(flat)) > MAX_STEM:
        # A name has 255 bytes at most (with the stamp, `.bak` and the temporary file's marks
        # on top): a long path keeps its tail, the file's own name, and a hash of it whole.
        tail = flat[-KEPT_TAIL:]
        while len(os.fsencode(tail)) > KEPT_TAIL:  # characters of several bytes
            tail = tail[1:]
        digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
        flat = f"{digest}~{tail}"
    return f"{flat}.mailtls-"


MAX_STEM = 150  # bytes: 150 + 35 for `.mailtls-<stamp>.bak` + 27 for `.<name>.mailtls-tmp-<hex>`
KEPT_TAIL = 120


def _ours(path: str, backup_dir: str | None) -> re.Pattern[str]:
    """Exactly the names backup_name gives `path`'s backups, and no other file's (a file
    named `x.pem.mailtls-y` has backups that start like those of `x.pem`)."""
    stamp = r"[0-9]{8}T[0-9]{12}Z"
    return re.compile(re.escape(_stem(path, backup_dir)) + stamp + re.escape(BACKUP_SUFFIX))


def open_backup_dir(path: str) -> int:
    """--backup-dir, opened; made 0700 when missing (its parent must exist)."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        return open_folder(path)
    except OSError as error:
        why = {
            errno.ENOTDIR: "not a folder",
            errno.ENOENT: "its parent folder does not exist",
        }.get(error.errno or 0, error.strerror)
        if os.path.islink(path):  # O_NOFOLLOW: a link is not taken for the folder
            why = "a symlink (give the folder it points to)"
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
    temp = create(folder, os.path.basename(final), target.data, mode, known.uid, known.gid)
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
        write_atomically(target, new)  # the file keeps the mode its daemons read it with
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
    ours = _ours(path, backup_dir)
    folder = backup_dir or os.path.dirname(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [n for n in names if ours.fullmatch(n)]
    return [os.path.join(folder, n) for n in sorted(found)]


def prune_backups(
    folder: int, path: str, backup_dir: str | None, keep: int, spare: str
) -> list[str]:
    """Remove all but the `keep` newest mailtls backups of `path` from `folder` (a descriptor
    of where they are), never `spare` (the one just made, whatever its clock said). Only
    regular files named exactly as `backup_name` names them are touched."""
    ours = _ours(path, backup_dir)
    found = []
    for name in os.listdir(folder):
        if not ours.fullmatch(name) or name == os.path.basename(spare):
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                found.append(name)
    removed = []
    for name in sorted(found)[: max(0, len(found) - (keep - 1))]:  # `spare` is one of `keep`
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder)
            removed.append(name)
    return removed


def restore(path: str, backup_dir: str | None, backup: str | None = None) -> str:
    """Put the newest backup of `path` (or `backup`, one of its backups) back, atomically;
    return the backup used. Only a regular file owned by root or the file's owner and closed
    to others' writes is used."""
    real = os.path.realpath(path)
    risk = symlink_risk(path, real)
    if risk:
        raise MailtlsError(f"{path}: not restored: it leads through a symlink and {risk}")
    found = backups_of(real, backup_dir)
    if backup is not None:  # the hook's rollback: the very backup it made, not a newer one
        found = [b for b in found if b == backup]
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
        fd = os.open(os.path.basename(backup), READ_FLAGS, dir_fd=folder)
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
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise MailtlsError(f"{backup}: not restored: larger than any certificate file")
    return data
