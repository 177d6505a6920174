"""Find the configurations to read from the paths on the command line, and read them all."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

from mailtls.config import dovecot, postfix
from mailtls.config.source import ConfigFiles, describe_os_error
from mailtls.errors import ConfigError, UsageError
from mailtls.models import ConfigResult

DEFAULT_PATHS = ("/etc/dovecot", "/etc/postfix")


def classify(path: str) -> tuple[str, str]:
    """(`dovecot` or `postfix`, the file or folder to read) for one command-line path."""
    try:
        is_dir = os.path.isdir(path)
        os.stat(path)
    except OSError as exc:
        raise describe_os_error(path, exc) from None
    if is_dir:
        if os.path.exists(os.path.join(path, "dovecot.conf")):
            return "dovecot", os.path.join(path, "dovecot.conf")
        if os.path.exists(os.path.join(path, "main.cf")):
            return "postfix", path
        raise ConfigError(f"{path}: holds neither dovecot.conf nor main.cf")
    if os.path.basename(path) in ("main.cf", "master.cf"):
        return "postfix", os.path.dirname(path) or "."
    return "dovecot", path


def read_all(
    paths: Sequence[str], env: Mapping[str, str], files: ConfigFiles | None = None
) -> ConfigResult:
    """Read every configuration named (or the system's, when none is named)."""
    files = files or ConfigFiles()
    if not paths:
        paths = [p for p in DEFAULT_PATHS if os.path.isdir(p)]
        if not paths:
            raise UsageError("no /etc/dovecot or /etc/postfix here: name the configuration")
    result = ConfigResult()
    for path in paths:
        kind, target = classify(path)
        if kind == "dovecot":
            result = result.merged(dovecot.read(target, files, env))
        else:
            result = result.merged(postfix.read(target, files))
    return _unique_ids(result)


def _unique_ids(result: ConfigResult) -> ConfigResult:
    """Endpoint ids stay unique when two configurations of one daemon are read together."""
    seen: dict[str, int] = {}
    endpoints = []
    for endpoint in result.endpoints:
        count = seen.get(endpoint.id, 0)
        seen[endpoint.id] = count + 1
        if count:
            endpoint = replace(endpoint, id=f"{endpoint.id}#{count + 1}")
        endpoints.append(endpoint)
    return replace(result, endpoints=tuple(endpoints))
