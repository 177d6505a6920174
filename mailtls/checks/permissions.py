"""Who else can write a certificate's folder: cert-dir-writable, and the fixer's safety test."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator

from mailtls.checks.registry import finding
from mailtls.models import Endpoint, Finding


def others_can_write(info: os.stat_result, trusted: Iterable[int]) -> str | None:
    """Why a user outside `trusted` (uids) can change the names in this folder, or None.
    A group of gid 0 counts as root's; a sticky folder (like /tmp) still lets anyone add names."""
    allowed = set(trusted)
    if info.st_uid not in allowed:
        return f"owned by uid {info.st_uid}"
    if info.st_mode & stat.S_IWGRP and info.st_gid != 0:
        return f"writable by group {info.st_gid}"
    if info.st_mode & stat.S_IWOTH:
        return "writable by everyone"
    return None


def unsafe_component(folder: str, trusted: Iterable[int]) -> str | None:
    """The first folder on the way to `folder` (itself included) that a user outside `trusted`
    could swap or fill, said in words; None when every component is closed to others. A sticky
    folder on the way (like /tmp) is safe to pass through when the next one belongs to us."""
    allowed = set(trusted) | {0}
    path = "/"
    parts = [p for p in os.path.abspath(folder).split("/") if p]
    for index, part in enumerate(["", *parts]):
        path = os.path.join(path, part) if part else "/"
        try:
            info = os.lstat(path)
        except OSError as error:
            return f"{path}: {error.strerror}"
        if stat.S_ISLNK(info.st_mode):
            return f"{path} is a symlink"
        why = others_can_write(info, allowed)
        last = index == len(parts)
        if why and not (not last and why == "writable by everyone" and _sticky(info)):
            return f"{path} is {why}"
    return None


def _sticky(info: os.stat_result) -> bool:
    return bool(info.st_mode & stat.S_ISVTX)


class FolderFacts:
    """What `folder_findings` learns of the file system, kept for one audit: on a host of
    10,000 domains, realpath and stat of each certificate file were 15% of the run. One run
    only, never longer: a folder's owner and mode may change between two audits."""

    def __init__(self) -> None:
        self._real: dict[str, tuple[str, os.stat_result | None]] = {}
        self._folders: dict[str, os.stat_result | None] = {}

    def file(self, path: str) -> tuple[str, int | None]:
        """The file's real path and its owner (None when it cannot be stat'ed)."""
        real, info = self.real(path)
        if info is None:
            info = _stat(real)
        return real, info.st_uid if info else None

    def real(self, path: str) -> tuple[str, os.stat_result | None]:
        """os.path.realpath(path), and its lstat when that is no symlink. A name is resolved
        in its folder's real path (each folder once: 10,000 domains share all but the last
        component); whatever is not plain (a symlink, a name that is not there, `..`, a
        relative path) is left to os.path.realpath whole."""
        if path not in self._real:
            self._real[path] = self._resolve(path)
        return self._real[path]

    def _resolve(self, path: str) -> tuple[str, os.stat_result | None]:
        folder, name = os.path.split(path)
        if not os.path.isabs(path) or name in ("", ".", "..") or not folder:
            return os.path.realpath(path), None
        candidate = os.path.join(self.real(folder)[0], name)
        info = _lstat(candidate)
        if info is None or stat.S_ISLNK(info.st_mode):
            return os.path.realpath(path), None
        return candidate, info

    def folder(self, folder: str) -> os.stat_result | None:
        if folder not in self._folders:
            self._folders[folder] = _stat(folder)
        return self._folders[folder]


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def folder_findings(
    endpoint: Endpoint, cert_paths: Iterable[str], facts: FolderFacts | None = None
) -> Iterator[Finding]:
    """cert-dir-writable: someone other than root or the file's owner can replace the file."""
    facts = facts or FolderFacts()
    seen: set[str] = set()
    for path in cert_paths:
        real, owner = facts.file(path)
        folder = os.path.dirname(real)
        if folder in seen:
            continue
        seen.add(folder)
        info = facts.folder(folder) if owner is not None else None
        if owner is None or info is None:
            continue  # a missing or unreadable file has its own finding
        why = others_can_write(info, {0, owner})
        if why:
            yield finding(
                "cert-dir-writable",
                f"{folder} (holding {real}) is {why}: another user can replace the certificate"
                " or plant files beside it",
                endpoint=endpoint,
                path=real,
                hint=f"chown root: {folder} && chmod go-w {folder}",
            )
