"""The command line over the configuration file, the file over the defaults."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailtls.errors import UsageError
from mailtls.merge import Given, fix_options, merged
from mailtls.models import Finding, Report, Severity
from tests.conftest import FIXTURES

DEMO = FIXTURES / "demo" / "etc"
FILE = """\
dovecot: [/srv/dovecot]
postfix: [/srv/postfix, /srv/postfix-out]
ca_files: [/file/root.pem]
system_trust: false
intermediates: [/file/pool]
backups: {dir: /file/backups, keep: 2}
reload: {dovecot: file-dovecot-reload, postfix: file-postfix-reload}
warn_days: 11
ignore:
  codes: [self-signed]
  paths: {/etc/ssl/legacy/*: [key-permissions]}
probe: {host: 127.0.0.2, timeout: 3}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(FILE)
    return {"MAILTLS_CONFIG": str(path)}


def test_the_file_gives_what_the_command_line_does_not(env: dict[str, str]) -> None:
    run = merged(Given(at="2026-11-29"), env)
    options = fix_options(Given(), run)
    assert run.paths == ("/srv/dovecot", "/srv/postfix", "/srv/postfix-out")
    assert run.audit.ca_files == ("/file/root.pem",)
    assert run.audit.intermediates == ("/file/pool",)
    assert (run.audit.system_trust, run.audit.warn_days) == (False, 11)
    assert (run.ignore, run.host, run.timeout) == (("self-signed",), "127.0.0.2", 3.0)
    assert (options.backup_dir, options.keep_backups) == ("/file/backups", 2)
    assert options.dovecot_command == "file-dovecot-reload"
    assert options.postfix_command == "file-postfix-reload"


def test_the_command_line_wins_over_the_file(env: dict[str, str]) -> None:
    given = Given(
        paths=("/cli/dovecot",),
        ca_files=["/cli/root.pem"],
        intermediates=[],
        at="2026-11-29",
        warn_days=30,
        system_trust=True,
        ignore=[],
        backup_dir="/cli/backups",
        dovecot_reload="cli-dovecot",
        postfix_reload="cli-postfix",
        host="::1",
        timeout=7.5,
    )
    run = merged(given, env)
    options = fix_options(given, run, backup=False, dry_run=True)
    assert run.paths == ("/cli/dovecot",)
    assert run.audit.ca_files == ("/cli/root.pem",)
    assert run.audit.intermediates == ()  # given empty is given: --intermediates not repeated
    assert (run.audit.system_trust, run.audit.warn_days) == (True, 30)
    assert (run.ignore, run.host, run.timeout) == ((), "::1", 7.5)
    assert (options.backup_dir, options.backup, options.dry_run) == ("/cli/backups", False, True)
    assert (options.dovecot_command, options.postfix_command) == ("cli-dovecot", "cli-postfix")
    assert options.keep_backups == 2  # the file's: there is no such option


def test_no_file_is_the_defaults(tmp_path: Path) -> None:
    run = merged(Given(config=None), {"MAILTLS_CONFIG": ""})
    assert run.paths == () and run.audit.ca_files == () and run.audit.system_trust is True
    assert run.timeout == 10.0 and fix_options(Given(), run).keep_backups is None


def test_warn_days_from_the_command_line_is_still_bounded(env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="--warn-days 99999"):
        merged(Given(warn_days=99999), env)


def finding(code: str, path: str | None) -> Finding:
    return Finding(code, Severity.WARNING, "x", path=path)


def test_codes_ignored_for_a_path_glob_only(env: dict[str, str]) -> None:
    run = merged(Given(ignore=[]), env)
    report = Report(
        (),
        (),
        (
            finding("key-permissions", "/etc/ssl/legacy/old.key"),
            finding("key-permissions", "/etc/ssl/current/new.key"),
            finding("cert-expiring", "/etc/ssl/legacy/old.pem"),
            finding("key-permissions", None),
        ),
        (),
        dt.datetime(2026, 11, 29, tzinfo=dt.UTC).isoformat(),
    )
    kept = [(f.code, f.path) for f in run.filtered(report).findings]
    assert kept == [
        ("key-permissions", "/etc/ssl/current/new.key"),
        ("cert-expiring", "/etc/ssl/legacy/old.pem"),
        ("key-permissions", None),
    ]


def audit(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILTLS_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "mailtls", "audit", "--at", "2026-11-29", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_the_demo_audited_with_a_config_file_and_overridden(tmp_path: Path) -> None:
    """The file names the configurations, the trust and the codes to ignore; each option on
    the command line replaces one of them."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"dovecot: [{DEMO / 'dovecot'}]\npostfix: [{DEMO / 'postfix'}]\n"
        f"ca_files: [{DEMO / 'ssl' / 'root.pem'}]\nsystem_trust: false\n"
        "ignore:\n  codes: [missing-intermediate, key-permissions]\n"
    )
    quiet = audit("--format", "json", config=config)
    assert quiet.returncode == 0, quiet.stderr + quiet.stdout
    assert '"findings": []' in quiet.stdout
    assert str(DEMO / "postfix") in quiet.stdout  # both configurations from the file
    story = audit("--ignore", "key-permissions", config=config)
    assert story.returncode == 1 and "missing-intermediate" in story.stdout
    assert "3 endpoints in 2 configurations" in story.stdout
    named = audit(str(DEMO / "dovecot"), config=config)
    assert named.returncode == 0 and "2 endpoints in 1 configurations" in named.stdout
