"""Postfix `tls_server_sni_maps`: each map's source text, one endpoint per key, stale indexes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from mailtls.config.postfix_syntax import logical_lines
from mailtls.config.source import ConfigFileError, ConfigFiles
from mailtls.models import Finding, Location, Severity

# Indexed map types: the daemon reads the `postmap` output, not the source text beside it.
INDEX_SUFFIXES = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb", "dbm": ".pag"}
TEXT_TYPES = ("texthash",)


@dataclass(frozen=True)
class SniEntry:
    name: str
    files: tuple[str, ...]
    location: Location
    table: str = ""  # `hash:/etc/postfix/sni`: what `postmap -F` rebuilds


def read_maps(
    spec: str, config_dir: str, files: ConfigFiles, findings: list[Finding], where: Location
) -> list[SniEntry]:
    """Entries of every map named in `tls_server_sni_maps`, in lookup order."""
    entries: list[SniEntry] = []
    for table in _tables(spec):
        kind, _, name = table.partition(":")
        if kind not in INDEX_SUFFIXES and kind not in TEXT_TYPES:
            findings.append(
                Finding(
                    "sni-map-unsupported",
                    Severity.INFO,
                    f"tls_server_sni_maps {table}: mailtls reads only file-based maps"
                    " (hash, btree, lmdb, cdb, dbm, texthash); its certificates are not checked",
                    where,
                    where.path,
                )
            )
            continue
        source = os.path.normpath(os.path.join(config_dir, name))
        try:
            text = files.read(source)
        except ConfigFileError as error:
            findings.append(
                Finding("sni-map-missing", Severity.ERROR, error.args[0], where, source)
            )
            continue
        map_entries = [
            replace(e, table=f"{kind}:{source}")
            for e in _entries(text, source, config_dir, findings)
        ]
        if kind in INDEX_SUFFIXES:
            _check_index(source + INDEX_SUFFIXES[kind], source, map_entries, findings, where)
        entries.extend(map_entries)
    return entries


def _tables(spec: str) -> list[str]:
    return [table for table in re.split(r"[\s,]+", spec.strip()) if table]


def _entries(text: str, source: str, config_dir: str, findings: list[Finding]) -> list[SniEntry]:
    found = []
    for number, line in logical_lines(text, source, findings):
        key, _, value = line.replace("\t", " ").partition(" ")
        paths = tuple(
            os.path.normpath(os.path.join(config_dir, item))
            for item in re.split(r"[\s,]+", value.strip())
            if item
        )
        found.append(SniEntry(key.lower(), paths, Location(source, number)))
    return found


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _check_index(
    index: str, source: str, entries: list[SniEntry], findings: list[Finding], where: Location
) -> None:
    built = _mtime(index)
    if built is None:
        message = f"{index} does not exist: run postmap -F {source}"
        findings.append(Finding("sni-map-not-built", Severity.ERROR, message, where, index))
        return
    newer = [source] if (_mtime(source) or 0) > built else []
    newer += [path for entry in entries for path in entry.files if (_mtime(path) or 0) > built]
    if newer:
        shown = ", ".join(dict.fromkeys(newer[:3])) + (" ..." if len(newer) > 3 else "")
        message = (
            f"{index} is older than {shown}: Postfix still serves what postmap -F copied into"
            f" it; run postmap -F {source}"
        )
        findings.append(Finding("sni-map-stale", Severity.WARNING, message, where, index))
