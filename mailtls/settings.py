"""The configuration file (/etc/mailtls/config.yaml): read, checked key by key with file:line."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mailtls.config.source import NotRegularFile, open_regular
from mailtls.errors import ConfigError

DEFAULT_PATH = "/etc/mailtls/config.yaml"
ENV_VAR = "MAILTLS_CONFIG"
MAX_BYTES = 1024 * 1024
MAX_WARN_DAYS = 36500
MAX_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Settings:
    """What the file says; every field has the value mailtls uses when there is no file."""

    dovecot: tuple[str, ...] = ()
    postfix: tuple[str, ...] = ()
    ca_files: tuple[str, ...] = ()
    system_trust: bool = True
    intermediates: tuple[str, ...] = ()
    backup_dir: str | None = None
    keep_backups: int | None = None  # None: every backup is kept
    dovecot_reload: str | None = None
    postfix_reload: str | None = None
    warn_days: int | None = None
    ignore: tuple[str, ...] = ()
    ignore_paths: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, codes)
    probe_host: str | None = None
    probe_timeout: float = 10.0
    source: str | None = None  # the file read, for `config show`


class Invalid(ValueError):
    """A value of the wrong type or out of range; the caller adds file:line."""


def _paths(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Invalid("expected a list of paths, e.g. [/etc/dovecot]")
    return tuple(value)


def _codes(value: object) -> tuple[str, ...]:
    from mailtls.checks.registry import CODES

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid("expected a list of finding codes, e.g. [weak-key]")
    unknown = [v for v in value if v not in CODES]
    if unknown:
        raise Invalid(f"{unknown[0]!r} is not a finding code (mailtls explain lists them)")
    return tuple(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("expected true or false")
    return value


def _text(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise Invalid("expected a string, or nothing (null)")
    return value


def _count(value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise Invalid("expected a whole number of at least 1, or nothing (null: keep all)")
    return value


def _days(value: object) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_WARN_DAYS
    if value is not None and not ok:
        raise Invalid(f"expected a whole number of days, 0 to {MAX_WARN_DAYS}, or nothing")
    return value  # type: ignore[return-value]


def _seconds(value: object) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and math.isfinite(value) and 0 < value <= MAX_TIMEOUT:  # type: ignore[operator,arg-type]
        return float(value)  # type: ignore[arg-type]
    raise Invalid(f"expected a number of seconds, more than 0 and at most {MAX_TIMEOUT:g}")


# Dotted key in the file -> (field of Settings, checker). `ignore.paths` is its own case.
KEYS: dict[str, tuple[str, Callable[[object], Any]]] = {
    "dovecot": ("dovecot", _paths),
    "postfix": ("postfix", _paths),
    "ca_files": ("ca_files", _paths),
    "system_trust": ("system_trust", _flag),
    "intermediates": ("intermediates", _paths),
    "backups.dir": ("backup_dir", _text),
    "backups.keep": ("keep_backups", _count),
    "reload.dovecot": ("dovecot_reload", _text),
    "reload.postfix": ("postfix_reload", _text),
    "warn_days": ("warn_days", _days),
    "ignore.codes": ("ignore", _codes),
    "probe.host": ("probe_host", _text),
    "probe.timeout": ("probe_timeout", _seconds),
}
SECTIONS = {key.partition(".")[0] for key in KEYS if "." in key}
PATH_IGNORES = "ignore.paths"


def config_path(given: str | None, env: Mapping[str, str]) -> tuple[str, bool]:
    """The file to read, and whether it must exist (named by --config or MAILTLS_CONFIG)."""
    if given:
        return given, True
    if env.get(ENV_VAR):
        return env[ENV_VAR], True
    return DEFAULT_PATH, False


def load_settings(given: str | None, env: Mapping[str, str]) -> Settings:
    """The settings in effect: the file's, or the defaults when the default file is absent."""
    path, required = config_path(given, env)
    try:
        text = read_text(path)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such file (mailtls config init writes one)") from None
        return Settings()  # no ruamel import: start-up time matters for the hook
    return parse(text, path)


def read_text(path: str) -> str:
    """The file, if it is safe to take orders from: it names commands root will run."""
    try:
        with open_regular(path) as stream:
            info = os.fstat(stream.fileno())
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise
    except NotRegularFile:
        raise ConfigError(f"{path}: not a regular file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: not a regular file")
    if info.st_uid not in {0, os.geteuid()} or info.st_mode & 0o022:
        raise ConfigError(
            f"{path}: others can write it, and it names commands mailtls runs:"
            " make it owned by root and not writable by group or others (chmod go-w)"
        )
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES} bytes; not a mailtls configuration")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 (byte {error.start})") from None


def load_document(text: str, path: str) -> Any:
    """The round-trip document (comments and positions kept); a syntax error says file:line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return round_trip().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: {error.problem or error.context}") from None
    except YAMLError as error:
        raise ConfigError(f"{path}: {error}") from None


def round_trip() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def parse(text: str, path: str) -> Settings:
    document = load_document(text, path)
    if document is None:
        return Settings(source=path)
    values = dict(check_document(document, path))
    return Settings(**values, source=path)


def check_document(document: Any, path: str) -> list[tuple[str, Any]]:
    """(field, value) for every key of the file; the first bad key raises with file:line."""
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(document, CommentedMap):
        raise ConfigError(f"{path}:1: expected a mapping of settings (key: value)")
    found: list[tuple[str, Any]] = []
    for key in document:
        line = document.lc.key(key)[0] + 1
        if key in SECTIONS:
            found += _section(document[key], str(key), path, line)
        elif key in KEYS:
            found.append(_checked(str(key), document[key], path, line))
        else:
            raise ConfigError(f"{path}:{line}: unknown key {key!r} ({_known()})")
    return found


def _section(section: Any, name: str, path: str, line: int) -> list[tuple[str, Any]]:
    from ruamel.yaml.comments import CommentedMap

    if section is None:
        return []
    if not isinstance(section, CommentedMap):
        raise ConfigError(f"{path}:{line}: {name}: expected a mapping (key: value)")
    found = []
    for key in section:
        dotted = f"{name}.{key}"
        at = section.lc.key(key)[0] + 1
        if dotted == PATH_IGNORES:
            found.append(("ignore_paths", _path_ignores(section[key], path, at)))
        elif dotted in KEYS:
            found.append(_checked(dotted, section[key], path, at))
        else:
            raise ConfigError(f"{path}:{at}: unknown key {dotted!r} ({_known()})")
    return found


def _checked(dotted: str, value: Any, path: str, line: int) -> tuple[str, Any]:
    name, check = KEYS[dotted]
    try:
        return name, check(_plain(value))
    except Invalid as error:
        raise ConfigError(f"{path}:{_item_line(value, line)}: {dotted}: {error}") from None


def _path_ignores(value: Any, path: str, line: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from ruamel.yaml.comments import CommentedMap

    if value is None:
        return ()
    if not isinstance(value, CommentedMap):
        raise ConfigError(f"{path}:{line}: {PATH_IGNORES}: expected path glob: [codes]")
    found = []
    for glob in value:
        at = value.lc.key(glob)[0] + 1
        if not isinstance(glob, str) or not glob:
            raise ConfigError(f"{path}:{at}: {PATH_IGNORES}: a key must be a path glob")
        try:
            found.append((glob, _codes(_plain(value[glob]))))
        except Invalid as error:
            raise ConfigError(f"{path}:{at}: {PATH_IGNORES} {glob}: {error}") from None
    return tuple(found)


def _plain(value: Any) -> Any:
    """ruamel's scalar types as plain Python ones (a quoted string stays a string)."""
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, CommentedSeq):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


def _item_line(value: Any, line: int) -> int:
    """The line of the first bad item of a list, else the key's line."""
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, CommentedSeq):
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                return int(value.lc.item(index)[0]) + 1
    return line


def _known() -> str:
    return "known: " + ", ".join([*KEYS, PATH_IGNORES])
