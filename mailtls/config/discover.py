"""Find the configurations to read from the paths on the command line, and read them all."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

from mailtls.config import certfile, dovecot, postfix
from mailtls.config.source import ConfigFiles, describe_os_error
from mailtls.errors import ConfigError, UsageError
from mailtls.gcpause import collector_paused
from mailtls.models import ConfigResult

DEFAULT_PATHS = ("/etc/dovecot", "/etc/postfix")


def classify(path: str) -> tuple[str, str]:
    """(`dovecot`, `postfix` or `certificate`, the file or folder to read) for one
    command-line path."""
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
    if certfile.is_certificate_file(path):
        return "certificate", path
    return "dovecot", path


def read_all(
    paths: Sequence[str],
    env: Mapping[str, str],
    files: ConfigFiles | None = None,
    *,
    key_file: str | None = None,
    names: Sequence[str] = (),
) -> ConfigResult:
    """Read every configuration named (or the system's, when none is named). A certificate
    file is one endpoint; `key_file` and `names` (--key, --name) are for such files only."""
    files = files or ConfigFiles()
    if not paths:
        paths = [p for p in DEFAULT_PATHS if os.path.isdir(p)]
        if not paths:
            raise UsageError("no /etc/dovecot or /etc/postfix here: name the configuration")
    result = ConfigResult()
    kinds = [classify(path) for path in paths]
    if (key_file or names) and not any(kind == "certificate" for kind, _ in kinds):
        raise UsageError("--key and --name are for a certificate file named on the command line")
    with collector_paused():  # 10,000 local_name blocks: three full collections, 0.2 s
        for kind, target in kinds:
            if kind == "dovecot":
                result = result.merged(dovecot.read(target, files, env))
            elif kind == "postfix":
                result = result.merged(postfix.read(target, files))
            else:
                result = result.merged(certfile.read(target, key_file, names))
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
