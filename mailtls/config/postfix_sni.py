"""Postfix `tls_server_sni_maps`: each map's source text, one endpoint per key, stale indexes."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from mailtls.config.postfix_syntax import logical_lines, split_braced
from mailtls.config.source import ConfigFileError, ConfigFiles
from mailtls.errors import ConfigError
from mailtls.models import Finding, Location, Severity

# Indexed map types: the daemon reads the `postmap` output, not the source text beside it.
INDEX_SUFFIXES = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb", "dbm": ".pag"}
TEXT_TYPES = ("texthash",)
SEPARATORS = ", \t\r\n"  # CHARS_COMMA_SP: map lists, inline tables, file lists


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
    for table in split_braced(spec, SEPARATORS):
        kind, _, name = table.partition(":")
        if kind == "inline":
            entries.extend(_inline(name, config_dir, where))
            continue
        if kind not in INDEX_SUFFIXES and kind not in TEXT_TYPES:
            findings.append(
                Finding(
                    "sni-map-unsupported",
                    Severity.INFO,
                    f"tls_server_sni_maps {table}: mailtls reads only file-based and inline maps"
                    " (hash, btree, lmdb, cdb, dbm, texthash, inline); its certificates are"
                    " not checked",
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


def _inline(body: str, config_dir: str, where: Location) -> list[SniEntry]:
    """`inline:{ key=value, { key = value with spaces } }` as dict_inline(3) reads it: the
    daemon reads the files each value names when it opens the table, so no index goes stale."""
    if _group_end(body) != len(body) - 1:
        _inline_error("bad syntax", body, where)
    if not body[1:-1].strip():
        _inline_error("empty table", body, where)
    found: dict[str, SniEntry] = {}  # a key given twice: the later value replaces the earlier
    for item in split_braced(body[1:-1], SEPARATORS):
        if item.startswith("{"):
            end = _group_end(item)
            if end != len(item) - 1:
                problem = "missing '}'" if end is None else "syntax error after '}'"
                _inline_error(f'{problem} in "{item[:40]}"', body, where)
            item = item[1:-1].strip()
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or any(c.isspace() for c in key.strip()):
            _inline_error("missing '=' after attribute name", body, where)
        name = key.strip().lower()
        found[name] = SniEntry(name, _files(value, config_dir), where)
    return list(found.values())


def _group_end(text: str) -> int | None:
    """Where the `{` that starts `text` closes (balpar(3)); None if it does not."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return index if text[0] == "{" else None
    return None


def _inline_error(reason: str, body: str, where: Location) -> None:
    raise ConfigError(
        f'{where}: tls_server_sni_maps: {reason}: "inline:{body[:80]}";'
        ' need "inline:{name=value...}" (Postfix cannot open this table)'
    )


def _files(value: str, config_dir: str) -> tuple[str, ...]:
    """A map value: files, split at commas and white space as dict_file_to_b64(3) does."""
    return tuple(
        os.path.normpath(os.path.join(config_dir, item)) for item in split_braced(value, SEPARATORS)
    )


def _entries(text: str, source: str, config_dir: str, findings: list[Finding]) -> list[SniEntry]:
    """A file map's entries; a key given again is ignored, as postmap (`duplicate entry`) and
    texthash keep the first (found by differential testing)."""
    found: dict[str, SniEntry] = {}
    for number, line in logical_lines(text, source, findings):
        key, _, value = line.replace("\t", " ").partition(" ")
        entry = SniEntry(key.lower(), _files(value, config_dir), Location(source, number))
        found.setdefault(entry.name, entry)
    return list(found.values())


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
