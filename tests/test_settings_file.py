"""`mailtls config init|set|show`: the user's comments, order and layout survive an edit."""

from __future__ import annotations

import difflib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mailtls.errors import ConfigError, UsageError
from mailtls.settings import load_settings
from mailtls.settings_file import DEFAULT_TEXT, init, set_value

# A file as an admin leaves it: own comments, own order, odd spacing, quotes, a block list.
USERS = """\
# mail01 -- edited by hand, ticket OPS-1234
probe:
    timeout: 10      # slow link to the DR site
    host: 'mail01.example.org'

postfix:            # both instances
-   /etc/postfix
-   /etc/postfix-out
backups: {dir: /var/backups/mailtls, keep: 4}

# trust our private CA
ca_files: ["/etc/ssl/ours.pem"]
"""


def mailtls(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtls", *args], capture_output=True, text=True, check=False
    )


def changed_lines(old: str, new: str) -> list[str]:
    """The lines removed and added, nothing else."""
    diff = difflib.ndiff(old.splitlines(keepends=True), new.splitlines(keepends=True))
    return [line for line in diff if line[:1] in "-+"]


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(USERS)
    path.chmod(0o600)
    return path


def test_init_writes_the_commented_default_0644_and_keeps_an_existing_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "etc" / "mailtls" / "config.yaml"
    done = mailtls("config", "init", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert path.read_text() == DEFAULT_TEXT
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.write_text("warn_days: 3\n")
    again = mailtls("config", "init", "--config", str(path))
    assert again.returncode == 2 and "--force" in again.stderr
    assert path.read_text() == "warn_days: 3\n"
    forced = mailtls("config", "init", "--config", str(path), "--force")
    assert forced.returncode == 0 and path.read_text() == DEFAULT_TEXT


EDITS = {
    # key, value, the only lines that may change (removed, added)
    "a nested scalar with a comment after it": (
        "probe.timeout",
        "30",
        [
            "-     timeout: 10      # slow link to the DR site\n",
            "+     timeout: 30      # slow link to the DR site\n",
        ],
    ),
    "a flow mapping": (
        "backups.keep",
        "2",
        [
            "- backups: {dir: /var/backups/mailtls, keep: 4}\n",
            "+ backups: {dir: /var/backups/mailtls, keep: 2}\n",
        ],
    ),
    "a list given as one path": (
        "ca_files",
        "/etc/ssl/theirs.pem",
        ['- ca_files: ["/etc/ssl/ours.pem"]\n', "+ ca_files: [/etc/ssl/theirs.pem]\n"],
    ),
    "a block list keeps its own indentation": (
        "postfix",
        "[/etc/postfix, /etc/postfix-b, /etc/postfix-c]",
        ["- -   /etc/postfix-out\n", "+ -   /etc/postfix-b\n", "+ -   /etc/postfix-c\n"],
    ),
    "a quoted string": (
        "probe.host",
        "127.0.0.1",
        ["-     host: 'mail01.example.org'\n", "+     host: 127.0.0.1\n"],
    ),
    "a section not there yet": (
        "reload.dovecot",
        "systemctl reload dovecot",
        ["+ reload:\n", "+   dovecot: systemctl reload dovecot\n"],
    ),
    "a key not there yet goes at the end": (
        "warn_days",
        "21",
        ["+ warn_days: 21\n"],
    ),
}


@pytest.mark.parametrize("case", EDITS)
def test_set_changes_that_value_and_keeps_every_other_byte(users: Path, case: str) -> None:
    key, value, expected = EDITS[case]
    done = mailtls("config", "set", key, value, "--config", str(users))
    assert done.returncode == 0, done.stderr
    assert changed_lines(USERS, users.read_text()) == expected
    assert stat.S_IMODE(users.stat().st_mode) == 0o600  # the file keeps its mode


def test_set_in_the_default_file_touches_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    init(str(path), force=False)
    set_value(str(path), "reload.dovecot", "systemctl reload dovecot")
    assert changed_lines(DEFAULT_TEXT, path.read_text()) == [
        "-   dovecot:      # command instead of doveadm [-c CONF] reload\n",
        "+   dovecot: systemctl reload dovecot # command instead of doveadm [-c CONF] reload\n",
    ]
    assert load_settings(str(path), {}).dovecot_reload == "systemctl reload dovecot"


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("backups.keep", "0", "at least 1"),
        ("system_trust", "maybe", "true or false"),
        ("ignore.codes", "[not-a-code]", "not a finding code"),
        ("probe.port", "993", "no setting 'probe.port'"),
        ("ignore.paths", "x", "edit that mapping in the file"),
    ],
)
def test_set_checks_the_value_before_the_file_is_touched(
    users: Path, key: str, value: str, said: str
) -> None:
    before = os.stat(users)
    with pytest.raises(UsageError, match=said):
        set_value(str(users), key, value)
    after = os.stat(users)
    assert users.read_text() == USERS
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_set_refuses_a_file_already_wrong_and_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    with pytest.raises(ConfigError, match="config init"):
        set_value(str(path), "warn_days", "3")
    path.write_text("warn_days: 3\nprobes: {}\n")
    with pytest.raises(ConfigError, match=r"config.yaml:2: unknown key 'probes'"):
        set_value(str(path), "warn_days", "4")
    assert path.read_text() == "warn_days: 3\nprobes: {}\n"


def test_show_prints_the_settings_in_effect(users: Path, tmp_path: Path) -> None:
    done = mailtls("config", "show", "--config", str(users))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"# {users}\n")
    assert "  timeout: 10.0\n" in done.stdout
    assert "  keep: 4\n" in done.stdout
    assert "  - /etc/postfix-out\n" in done.stdout
    assert "warn_days: null\n" in done.stdout
    env = {k: v for k, v in os.environ.items() if k != "MAILTLS_CONFIG"}
    env["MAILTLS_CONFIG"] = str(tmp_path / "absent.yaml")
    absent = subprocess.run(
        [sys.executable, "-m", "mailtls", "config", "show"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert absent.returncode == 2 and "absent.yaml: no such file" in absent.stderr


def test_a_key_new_to_a_block_section_goes_after_its_last_entry(tmp_path: Path) -> None:
    text = "backups:\n   dir:   # beside\n# about reload\nreload: {dovecot: x}\n"
    path = tmp_path / "config.yaml"
    path.write_text(text)
    set_value(str(path), "backups.keep", "2")
    set_value(str(path), "reload.postfix", "postfix reload")
    assert path.read_text() == (
        "backups:\n   dir:   # beside\n   keep: 2\n# about reload\n"
        "reload: {dovecot: x, postfix: postfix reload}\n"
    )


def test_a_block_list_emptied_is_rewritten_with_its_comments(users: Path) -> None:
    """The one layout the splice leaves to ruamel.yaml: comments and order still kept."""
    set_value(str(users), "postfix", "[]")
    text = users.read_text()
    assert load_settings(str(users), {}).postfix == ()
    assert "# mail01 -- edited by hand, ticket OPS-1234\n" in text
    assert "# slow link to the DR site" in text and "# trust our private CA\n" in text
    assert text.index("probe") < text.index("postfix") < text.index("backups")
