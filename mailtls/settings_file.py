"""`mailtls config init|set|show`: the commented default, edits that keep the user's comments."""

from __future__ import annotations

import io
import os
from dataclasses import fields
from typing import Any

from mailtls.errors import ConfigError, UsageError
from mailtls.settings import KEYS, PATH_IGNORES, Invalid, Settings, parse, read_text

DEFAULT_TEXT = """\
# mailtls configuration, read by audit, fix, probe and hook (`mailtls config show` prints
# the settings in effect). An option given on the command line replaces the value here.

# Dovecot and Postfix configurations to read: files or folders, several allowed (a second
# Dovecot, Postfix multi-instance). Both empty: /etc/dovecot and /etc/postfix.
dovecot: []
postfix: []

# Trust these roots too (PEM files), and the system's CAs unless system_trust is false.
ca_files: []
system_trust: true

# Files or folders where missing intermediates may be found.
intermediates: []

backups:
  dir:          # empty: each backup beside the file changed
  keep:         # backups kept per file after a fix (older mailtls ones removed); empty: all

reload:
  dovecot:      # command instead of doveadm [-c CONF] reload
  postfix:      # command instead of postfix [-c DIR] reload

warn_days:      # warn this many days before expiry; empty: a third of the lifetime

ignore:
  codes: []     # finding codes left out of every report
  paths: {}     # path glob: [codes] left out for the files matching it, e.g.
  #   {/etc/ssl/legacy/*: [self-signed]}

probe:
  host:         # where audit --live and the hook connect; empty: each listen address
  timeout: 10   # seconds per listener
"""


def init(path: str, force: bool) -> None:
    """Write the commented default (0644); an existing file is kept unless `force`."""
    from mailtls.fix.apply import write_report

    if os.path.lexists(path) and not force:
        raise UsageError(f"{path} exists; --force replaces it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755, exist_ok=True)
    write_report(path, DEFAULT_TEXT.encode(), 0o644)


def set_value(path: str, key: str, text: str) -> str:
    """Set KEY to VALUE (YAML: `21`, `true`, `[a, b]`, `null`, or a plain string), checked
    first, in the file's own layout; returns the line now in the file."""
    from mailtls.fix.apply import write_report

    if key not in KEYS:
        hint = "; edit that mapping in the file" if key == PATH_IGNORES else ""
        raise UsageError(f"no setting {key!r}{hint} (known: {', '.join(KEYS)})")
    value = _checked_value(key, text)
    try:
        old = read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (mailtls config init writes one)") from None
    parse(old, path)  # a file already wrong is said as it is, before anything changes
    new = _edited(old, path, key, value)
    parse(new, path)
    write_report(path, new.encode(), os.stat(path).st_mode & 0o777)
    return key + ": " + (text if value is not None else "null")


def _checked_value(key: str, text: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        value = YAML(typ="safe").load(text)
    except YAMLError:
        value = text  # `a: b` and the like: meant as the string it is
    _, check = KEYS[key]
    if isinstance(value, str) and _takes_list(key):
        value = [value]  # `config set ca_files /etc/ssl/ours.pem`
    try:
        check(value)
    except Invalid as error:
        raise UsageError(f"config set {key} {text}: {error}") from None
    return value


def _takes_list(key: str) -> bool:
    return key in {"dovecot", "postfix", "ca_files", "intermediates", "ignore.codes"}


def _edited(text: str, path: str, key: str, value: Any) -> str:
    """The file with KEY set: the value's own bytes replaced where the layout allows (every
    other byte kept), else the document rewritten by ruamel.yaml (comments and order kept)."""
    from mailtls.yaml_edit import set_in_text

    section, _, leaf = key.rpartition(".")
    spliced = set_in_text(text, section, leaf, value)
    field, check = KEYS[key]
    if spliced is not None and getattr(parse(spliced, path), field) == check(value):
        return spliced
    return _rewritten(text, path, section, leaf, value)


def _rewritten(text: str, path: str, section: str, leaf: str, value: Any) -> str:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from mailtls.settings import load_document, round_trip

    document = load_document(text, path)
    if document is None:
        document = CommentedMap()
    holder = document
    if section:
        if document.get(section) is None:
            document[section] = CommentedMap()
        holder = document[section]
    if isinstance(value, list):
        value = CommentedSeq(value)
        value.fa.set_flow_style()  # one line: the rest of the file does not move
    holder[leaf] = value
    out = io.StringIO()
    round_trip().dump(document, out)
    return out.getvalue()


def show(settings: Settings) -> str:
    """The settings in effect, as the file would say them, and where they come from."""
    from mailtls.settings import round_trip

    by_field = {field: key for key, (field, _) in KEYS.items()}
    document: dict[str, Any] = {}
    for item in fields(Settings):
        if item.name == "source":
            continue
        value = getattr(settings, item.name)
        key = PATH_IGNORES if item.name == "ignore_paths" else by_field[item.name]
        value = {g: list(c) for g, c in value} if item.name == "ignore_paths" else value
        value = list(value) if isinstance(value, tuple) else value
        section, _, leaf = key.rpartition(".")
        (document.setdefault(section, {}) if section else document)[leaf] = value
    yaml = round_trip()
    yaml.representer.add_representer(type(None), _null)
    out = io.StringIO()
    yaml.dump(document, out)  # in the file's order
    origin = settings.source or "no configuration file: the defaults"
    return f"# {origin}\n{out.getvalue()}"


def _null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")
