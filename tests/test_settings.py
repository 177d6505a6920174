"""The configuration file: every key read, every mistake said as file:line on one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailtls.errors import ConfigError
from mailtls.settings import DEFAULT_PATH, Settings, load_settings, parse
from mailtls.settings_file import DEFAULT_TEXT

FULL = """\
dovecot: [/etc/dovecot, /etc/dovecot-second/dovecot.conf]
postfix:
  - /etc/postfix
  - /etc/postfix-out
ca_files: [/etc/ssl/private-root.pem]
system_trust: false
intermediates: [/etc/ssl/intermediates]
backups:
  dir: /var/backups/mailtls
  keep: 3
reload:
  dovecot: systemctl reload dovecot
  postfix: systemctl reload postfix@-
warn_days: 21
ignore:
  codes: [self-signed]
  paths:
    /etc/ssl/legacy/*: [key-permissions, cert-expiring]
probe:
  host: 127.0.0.1
  timeout: 2.5
"""


def write(tmp_path: Path, text: str, mode: int = 0o644) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_every_key_is_read(tmp_path: Path) -> None:
    """A file that sets every key gives exactly those values."""
    path = write(tmp_path, FULL)
    assert load_settings(path, {}) == Settings(
        dovecot=("/etc/dovecot", "/etc/dovecot-second/dovecot.conf"),
        postfix=("/etc/postfix", "/etc/postfix-out"),
        ca_files=("/etc/ssl/private-root.pem",),
        system_trust=False,
        intermediates=("/etc/ssl/intermediates",),
        backup_dir="/var/backups/mailtls",
        keep_backups=3,
        dovecot_reload="systemctl reload dovecot",
        postfix_reload="systemctl reload postfix@-",
        warn_days=21,
        ignore=("self-signed",),
        ignore_paths=(("/etc/ssl/legacy/*", ("key-permissions", "cert-expiring")),),
        probe_host="127.0.0.1",
        probe_timeout=2.5,
        source=path,
    )


def test_the_default_file_says_the_defaults() -> None:
    """`config init` changes nothing: its file means what no file means."""
    assert parse(DEFAULT_TEXT, "x.yaml") == Settings(source="x.yaml")


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing set yet\n")
    assert load_settings(path, {}) == Settings(source=path)


ERRORS = {
    "unknown top-level key": ("dovecot: []\nbackup_dir: /x\n", 2, "unknown key 'backup_dir'"),
    "unknown key in a section": ("backups:\n  dir: /x\n  kept: 3\n", 3, "'backups.kept'"),
    "a string for a flag": ("\n\nsystem_trust: 'no'\n", 3, "system_trust: expected true or"),
    "a number for a path list": ("ca_files: 7\n", 1, "ca_files: expected a list of paths"),
    "a bad item in a block list": (
        "postfix:\n  - /etc/postfix\n  - 12\n",
        3,
        "postfix: expected a list of paths",
    ),
    "keep 0": ("backups:\n  keep: 0\n", 2, "backups.keep: expected a whole number of at least 1"),
    "keep true": ("backups:\n  keep: true\n", 2, "backups.keep"),
    "warn_days too far": ("warn_days: 100000\n", 1, "warn_days: expected a whole number"),
    "timeout NaN": ("probe:\n  timeout: .nan\n", 2, "probe.timeout: expected a number"),
    "timeout zero": ("probe:\n  timeout: 0\n", 2, "probe.timeout: expected a number"),
    "an unknown code": ("ignore:\n  codes: [no-such-code]\n", 2, "'no-such-code' is not a"),
    "an unknown code for a path": (
        "ignore:\n  paths:\n    /x/*: [nope]\n",
        3,
        "ignore.paths /x/*: 'nope' is not a finding code",
    ),
    "a section that is not a mapping": ("reload: systemctl\n", 1, "reload: expected a mapping"),
    "a list for the whole file": ("- dovecot\n", 1, "expected a mapping of settings"),
    "a YAML syntax error": ("dovecot: []\nprobe:\n  host: [a\n", 4, ""),
    "a key given twice": ("warn_days: 3\nwarn_days: 4\n", 2, "duplicate"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_mistakes_are_one_line_with_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, said = ERRORS[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    message = str(raised.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert said in message
    assert "\n" not in message


def test_a_missing_default_file_is_the_defaults_without_loading_ruamel(tmp_path: Path) -> None:
    """No /etc/mailtls/config.yaml is the common case; it costs no YAML import (start-up)."""
    code = (
        "import sys, mailtls.cli, mailtls.settings as s\n"
        f"s.DEFAULT_PATH = {str(tmp_path / 'absent.yaml')!r}\n"
        "assert s.load_settings(None, {}) == s.Settings()\n"
        "assert not [m for m in sys.modules if m.startswith('ruamel')], 'ruamel imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MAILTLS_CONFIG"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    """--config FILE or MAILTLS_CONFIG=FILE: a typo must not silently mean the defaults."""
    absent = str(tmp_path / "typo.yaml")
    for given, env in ((absent, {}), (None, {"MAILTLS_CONFIG": absent})):
        with pytest.raises(ConfigError, match="no such file"):
            load_settings(given, env)


def test_the_environment_names_the_file_and_the_option_wins(tmp_path: Path) -> None:
    first = write(tmp_path, "warn_days: 5\n")
    other = tmp_path / "other.yaml"
    other.write_text("warn_days: 9\n")
    assert load_settings(None, {"MAILTLS_CONFIG": first}).warn_days == 5
    assert load_settings(str(other), {"MAILTLS_CONFIG": first}).warn_days == 9
    assert DEFAULT_PATH == "/etc/mailtls/config.yaml"


@pytest.mark.parametrize("mode", [0o664, 0o646])
def test_a_file_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    """It names commands mailtls runs as root: a group- or world-writable file is refused."""
    path = write(tmp_path, "reload:\n  dovecot: /tmp/evil\n", mode)
    with pytest.raises(ConfigError, match="others can write it"):
        load_settings(path, {})


def test_a_file_too_large_or_not_utf8_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_settings(path, {})
    Path(path).write_bytes(b"warn_days: 3 # \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, {})


def test_the_cli_says_the_line_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "dovecot: []\nprobe:\n  port: 993\n")
    done = subprocess.run(
        [sys.executable, "-m", "mailtls", "audit", "--config", path, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"mailtls: error: {path}:3: unknown key 'probe.port'")
    assert done.stderr.count("\n") == 1
