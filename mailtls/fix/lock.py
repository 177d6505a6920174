"""The run lock: one fix or restore at a time, in a folder only we can write, waited for with a
bound. (The old place, world-writable /run/lock, let anyone hold it, or plant a FIFO or symlink.)"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator

from mailtls.errors import MailtlsError

ROOT_LOCK = "/run/mailtls/fix.lock"
LOCK_ENV = "MAILTLS_LOCK_FILE"  # another place (tests; a host without /run)
WAIT_ENV = "MAILTLS_LOCK_WAIT"  # seconds to wait for another run (default 30)
DEFAULT_WAIT = 30.0
_POLL = 0.1


class LockError(MailtlsError):
    """The lock cannot be taken: held too long, or its place is not ours alone."""


def default_lock() -> str:
    """/run/mailtls/fix.lock for root; a 0700 folder of the user's own otherwise."""
    if os.environ.get(LOCK_ENV):
        return os.environ[LOCK_ENV]
    if os.geteuid() == 0:
        return ROOT_LOCK
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "mailtls", "fix.lock")
    return os.path.join(tempfile.gettempdir(), f"mailtls-{os.geteuid()}", "fix.lock")


def lock_wait() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, DEFAULT_WAIT)))
    except ValueError:
        raise LockError(f"{WAIT_ENV} must be a number of seconds") from None


def _own_folder(path: str) -> int:
    """The lock's folder: made 0700 if missing (its parent must exist), then checked to be a
    real folder of ours that nobody else can write."""
    try:
        os.mkdir(path, 0o700)
    except OSError as error:
        if error.errno != errno.EEXIST:
            raise LockError(f"cannot make the lock folder {path}: {error.strerror}") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise LockError(f"the lock folder {path} is not a folder ({error.strerror})") from None
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        os.close(fd)
        raise LockError(
            f"the lock folder {path} is owned by uid {info.st_uid}, mode"
            f" {stat.S_IMODE(info.st_mode):04o}: it must be ours and closed to others"
        )
    return fd


def _open_lock(path: str) -> int:
    folder = _own_folder(os.path.dirname(path) or ".")
    try:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(os.path.basename(path), flags, 0o600, dir_fd=folder)
    except OSError as error:
        raise LockError(f"cannot open the lock {path}: {error.strerror}") from None
    finally:
        os.close(folder)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise LockError(f"the lock {path} is not a regular file of ours")
    return fd


# Locks this process holds: path -> when taken. flock locks an open file description, so a
# second open and flock of the same file by this process would wait for itself: the hook
# holds the lock from its first check to its last reload, and the fix it runs inside
# takes it again. Only the outermost holder opens and releases it.
_held: dict[str, float] = {}


@contextlib.contextmanager
def run_lock(path: str | None = None, wait: float | None = None) -> Iterator[float]:
    """Hold the lock; yields the time it was taken (temporary files older are stale). Another
    run holding it is waited for, at most `wait` seconds, then a one-line error. Within a run
    that holds it already, it is held: nothing is waited for."""
    target = path or default_lock()
    held = os.path.realpath(target)  # `/run/mailtls/./fix.lock` is the same lock
    if held in _held:
        yield _held[held]
        return
    limit = lock_wait() if wait is None else wait
    fd = _open_lock(target)
    try:
        deadline = time.monotonic() + limit
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"another mailtls run holds {target} (waited {limit:g} s); try again later"
                    ) from None
                time.sleep(_POLL)  # flock has no timeout; a short poll keeps the bound
        _held[held] = time.time()
        try:
            yield _held[held]
        finally:
            del _held[held]
    finally:
        os.close(fd)
