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


def folder_findings(endpoint: Endpoint, cert_paths: Iterable[str]) -> Iterator[Finding]:
    """cert-dir-writable: someone other than root or the file's owner can replace the file."""
    seen: set[str] = set()
    for path in cert_paths:
        real = os.path.realpath(path)
        folder = os.path.dirname(real)
        if folder in seen:
            continue
        seen.add(folder)
        try:
            owner = os.stat(real).st_uid
            info = os.stat(folder)
        except OSError:
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
