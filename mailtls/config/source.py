"""Read configuration files once each, with limits, and say clearly why one cannot be read."""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import BinaryIO

from mailtls.errors import ConfigError

MAX_CONFIG_BYTES = 16 * 1024 * 1024


class ConfigFileError(ConfigError):
    """A configuration file that cannot be read; `reason` is a short kebab-case word."""

    def __init__(self, path: str, reason: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail


class NotRegularFile(OSError):
    """A FIFO, a device or a socket where a file was expected."""


def open_regular(path: str) -> BinaryIO:
    """The file, opened for reading, if it is a regular file. Opened non-blocking and judged
    by its descriptor: a FIFO put there (even between a check and the open, by another user
    in the folder) is refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def describe_os_error(path: str, exc: OSError) -> ConfigFileError:
    """An OSError in words an admin reads: `no such file`, `symbolic link loop`, ..."""
    if isinstance(exc, NotRegularFile):
        return ConfigFileError(path, "unreadable", "not a regular file")
    if isinstance(exc, FileNotFoundError):
        return ConfigFileError(path, "missing", "no such file")
    if isinstance(exc, PermissionError):
        return ConfigFileError(path, "unreadable", "permission denied")
    if isinstance(exc, IsADirectoryError):
        return ConfigFileError(path, "unreadable", "is a directory, not a file")
    if exc.errno == errno.ELOOP:
        return ConfigFileError(path, "unreadable", "symbolic link loop")
    return ConfigFileError(path, "unreadable", exc.strerror or str(exc))


class ConfigFiles:
    """A cache of configuration texts: each file is read from disk at most once per run."""

    def __init__(self, max_bytes: int = MAX_CONFIG_BYTES) -> None:
        self.max_bytes = max_bytes
        self._texts: dict[str, str | ConfigFileError] = {}

    def read(self, path: str) -> str:
        """The file's text; raises ConfigFileError if it is missing, binary or too large."""
        cached = self._texts.get(path)
        if cached is None:
            cached = self._load(path)
            self._texts[path] = cached
        if isinstance(cached, ConfigFileError):
            raise cached
        return cached

    def _load(self, path: str) -> str | ConfigFileError:
        try:
            with open_regular(path) as stream:  # a FIFO or a device would block or never end
                data = stream.read(self.max_bytes + 1)
        except OSError as exc:
            return describe_os_error(path, exc)
        if len(data) > self.max_bytes:
            limit = self.max_bytes // (1024 * 1024)
            return ConfigFileError(path, "too-large", f"larger than {limit} MiB")
        if b"\0" in data:
            return ConfigFileError(path, "binary", "binary data, not a configuration file")
        # The daemons read bytes: a Latin-1 file name must reach open() as the same bytes.
        # surrogateescape keeps them (open() encodes them back); the report shows \xe9.
        return data.decode("utf-8", errors="surrogateescape")


def text_lines(text: str) -> list[str]:
    """A configuration file's lines as Dovecot and Postfix read them: split at `\n` only (not
    at the form feeds, `\x85` or `\u2028` that str.splitlines also takes), a `\r` before it
    dropped."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def byte_lines(data: bytes) -> list[bytes]:
    """The same lines as text_lines, as bytes with their ends kept: what an edit splices (a
    lone `\r` is no line end for the daemons, as it is for bytes.splitlines)."""
    return re.findall(rb"[^\n]*\n|[^\n]+\Z", data)
