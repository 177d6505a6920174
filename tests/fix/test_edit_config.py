"""`fix --edit-config` end to end: a certbot lineage's cert.pem named in Dovecot and Postfix
configurations is repointed at fullchain.pem, judged by the real doveconf and postconf, and put
back byte for byte when they reject the result."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.backups import backups_of
from mailtls.fix.run import FixOptions, FixResult, exit_code, fix
from mailtls.report import fix_text
from tests.conftest import FIXTURES, run

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
NAME = "mail.example.org"


def pki(*names: str) -> bytes:
    return b"".join((PKI / name).read_bytes() for name in names)


def certbot_lineage(root: Path) -> Path:
    """certbot's layout: archive/NAME/*1.pem, and live/NAME/*.pem symlinks to them."""
    archive = root / "etc" / "letsencrypt" / "archive" / NAME
    live = root / "etc" / "letsencrypt" / "live" / NAME
    archive.mkdir(parents=True)
    live.mkdir(parents=True)
    files = {
        "cert": pki("leaf-2026.pem"),
        "chain": pki("issuing-r2.pem"),
        "fullchain": pki("leaf-2026.pem", "issuing-r2.pem"),
        "privkey": pki("leaf-2026.key"),
    }
    for kind, data in files.items():
        (archive / f"{kind}1.pem").write_bytes(data)
        (live / f"{kind}.pem").symlink_to(f"../../archive/{NAME}/{kind}1.pem")
    (archive / "privkey1.pem").chmod(0o600)
    return live


def run_fix(paths: list[Path], *, dry_run: bool = False, backup: bool = True) -> FixResult:
    settings = AuditOptions(
        at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False, intermediates=()
    )
    names = [str(p) for p in paths]
    options = FixOptions(
        audit=settings,
        offline=True,
        dry_run=dry_run,
        backup=backup,
        lock_file=str(paths[0].parent / "lock"),
        edit_config=True,
        reread=lambda: read_all(names, {}),
    )
    return fix(read_all(names, {}), options)


def dovecot_conf(tmp_path: Path, live: Path, extra: str = "") -> Path:
    conf = tmp_path / "dovecot" / "dovecot.conf"
    conf.parent.mkdir()
    conf.write_text(
        "# the admin's comments stay\n"
        "protocols = imap\n"
        "ssl = required\n"
        f"ssl_cert   =   <{live}/cert.pem\n"
        f"ssl_key = <{live}/privkey.pem\n"
        "\n"
        "#ssl_cert = <old/cert.pem\n" + extra
    )
    conf.chmod(0o640)
    return conf


def test_dovecot_line_repointed_and_doveconf_reads_it(tmp_path: Path, doveconf: str) -> None:
    """Only the value changes, mode kept, backup byte-identical; doveconf now reads the
    full chain; the audit after it is clean and the suggestion is gone."""
    live = certbot_lineage(tmp_path)
    conf = dovecot_conf(tmp_path, live)
    before = conf.read_bytes()
    result = run_fix([conf])
    expected = before.replace(f"{live}/cert.pem".encode(), f"{live}/fullchain.pem".encode())
    assert conf.read_bytes() == expected
    assert before.count(b"cert.pem") == 2 and expected.count(b"/cert.pem") == 1  # the comment's
    assert conf.stat().st_mode & 0o777 == 0o640
    (backup,) = backups_of(str(conf), None)
    assert Path(backup).read_bytes() == before
    shown = run([doveconf, "-c", str(conf), "-n"])
    assert f"ssl_cert = <{live}/fullchain.pem" in shown.stdout
    assert result.suggestions == []
    assert result.after is not None and not [
        f for f in result.after.findings if f.severity.value == "error"
    ]
    assert exit_code(result, dry_run=False) == 0
    text = fix_text.render(result, dry_run=False, diff=False)
    assert f"repointed {conf}:4: {live}/cert.pem -> {live}/fullchain.pem" in text
    assert "doveconf -c" in text and "accepted it" in text


def test_broken_config_elsewhere_rolls_back_to_the_exact_bytes(
    tmp_path: Path, doveconf: str
) -> None:
    """A setting doveconf does not know, elsewhere in the file, makes it reject the edited
    file: the original bytes come back, the suggestion stays, exit 1."""
    live = certbot_lineage(tmp_path)
    conf = dovecot_conf(tmp_path, live, "not_a_dovecot_setting = 1\n")
    assert run([doveconf, "-c", str(conf), "-n"]).returncode != 0  # the oracle rejects it
    before = conf.read_bytes()
    result = run_fix([conf])
    assert conf.read_bytes() == before
    (outcome,) = result.edited
    assert outcome.rolled_back and not outcome.written
    assert outcome.validation is not None and "not_a_dovecot_setting" in outcome.validation.output
    assert len(result.suggestions) == 1
    assert exit_code(result, dry_run=False) == 1
    text = fix_text.render(result, dry_run=False, diff=False)
    assert "NOT repointed" in text and "put back, byte for byte" in text


def test_rollback_without_a_backup(tmp_path: Path, doveconf: str) -> None:
    """--no-backup: the old bytes kept in memory are put back."""
    live = certbot_lineage(tmp_path)
    conf = dovecot_conf(tmp_path, live, "not_a_dovecot_setting = 1\n")
    before = conf.read_bytes()
    result = run_fix([conf], backup=False)
    assert conf.read_bytes() == before
    assert result.edited[0].rolled_back
    assert backups_of(str(conf), None) == []


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    live = certbot_lineage(tmp_path)
    conf = dovecot_conf(tmp_path, live)
    before = conf.read_bytes()
    result = run_fix([conf], dry_run=True)
    assert conf.read_bytes() == before
    text = fix_text.render(result, dry_run=True, diff=False)
    assert f"would repoint {conf}:4:" in text
    assert exit_code(result, dry_run=True) == 1


def postfix_dir(tmp_path: Path, main: str, master: str = "") -> Path:
    folder = tmp_path / "postfix"
    folder.mkdir()
    (folder / "main.cf").write_text(main)
    (folder / "master.cf").write_text(master)
    return folder


def test_postfix_main_cf_repointed(tmp_path: Path, postconf: str) -> None:
    live = certbot_lineage(tmp_path)
    main = (
        "# main.cf\nmyhostname = mail.example.org\nsmtpd_tls_security_level = may\n"
        f"smtpd_tls_cert_file = {live}/cert.pem\nsmtpd_tls_key_file = {live}/privkey.pem\n"
    )
    folder = postfix_dir(tmp_path, main)
    result = run_fix([folder])
    assert (folder / "main.cf").read_text() == main.replace("/cert.pem", "/fullchain.pem")
    shown = run([postconf, "-c", str(folder), "-h", "smtpd_tls_cert_file"])
    assert shown.stdout.strip() == f"{live}/fullchain.pem"
    assert exit_code(result, dry_run=False) == 0


def test_postfix_master_cf_override_repointed(tmp_path: Path, postconf: str) -> None:
    """The -o override in master.cf is the line that sets the value: that one changes."""
    live = certbot_lineage(tmp_path)
    main = f"myhostname = mail.example.org\nsmtpd_tls_key_file = {live}/privkey.pem\n"
    master = (
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "submission inet n       -       y       -       -       smtpd\n"
        "  -o syslog_name=postfix/submission\n"
        "  -o smtpd_tls_security_level=encrypt\n"
        f"  -o smtpd_tls_cert_file={live}/cert.pem\n"
    )
    folder = postfix_dir(tmp_path, main, master)
    result = run_fix([folder])
    assert (folder / "master.cf").read_text() == master.replace("/cert.pem", "/fullchain.pem")
    assert (folder / "main.cf").read_text() == main
    shown = run([postconf, "-c", str(folder), "-P", "submission/inet/smtpd_tls_cert_file"])
    assert shown.stdout.strip().endswith(f"= {live}/fullchain.pem")
    assert exit_code(result, dry_run=False) == 0


def test_a_value_through_a_variable_is_refused_and_the_suggestion_kept(tmp_path: Path) -> None:
    live = certbot_lineage(tmp_path)
    main = (
        f"le = {live}\nmyhostname = mail.example.org\n"
        "smtpd_tls_cert_file = ${le}/cert.pem\nsmtpd_tls_key_file = ${le}/privkey.pem\n"
    )
    folder = postfix_dir(tmp_path, main)
    result = run_fix([folder])
    assert (folder / "main.cf").read_text() == main
    (suggestion,) = result.suggestions
    assert f"point the configuration at {live}/fullchain.pem" in suggestion
    assert "--edit-config: not rewritten" in suggestion and "variable" in suggestion
    assert exit_code(result, dry_run=False) == 1


def test_cli_edit_config(tmp_path: Path, doveconf: str) -> None:
    """`mailtls fix --edit-config` from the command line."""
    live = certbot_lineage(tmp_path)
    conf = dovecot_conf(tmp_path, live)
    env = {**os.environ, "MAILTLS_LOCK_FILE": str(tmp_path / "lock")}
    done = subprocess.run(
        [sys.executable, "-m", "mailtls", "fix", "--edit-config", "--offline", "--no-system-trust",
         "--ca-file", str(PKI / "root.pem"), "--at", "2026-11-29T00:00:00Z", str(conf)],
        capture_output=True, text=True, check=False, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{live}/fullchain.pem" in conf.read_text()
    assert "after the fix: 0 errors remain" in done.stdout


def test_postconf_warnings_pass_its_fatal_errors_roll_back(tmp_path: Path, postconf: str) -> None:
    """`postconf: warning: ... unused parameter: foo_error_bar` accepts the edit; a macro
    postconf cannot expand (`postconf: fatal:`, exit 1) puts main.cf back byte for byte."""
    live = certbot_lineage(tmp_path)
    main = (
        f"myhostname = mail.example.org\nsmtpd_tls_cert_file = {live}/cert.pem\n"
        f"smtpd_tls_key_file = {live}/privkey.pem\nfoo_error_bar = 1\n"
    )
    folder = postfix_dir(tmp_path, main)
    result = run_fix([folder])
    (outcome,) = result.edited
    assert outcome.written and outcome.validation is not None
    assert "unused parameter: foo_error_bar" in outcome.validation.output
    assert (folder / "main.cf").read_text() == main.replace("/cert.pem", "/fullchain.pem")
    broken = main + "smtpd_banner = bogus$\n"
    (folder / "main.cf").write_text(broken)
    (folder / "main.cf").chmod(0o644)
    rejected = run_fix([folder])
    assert rejected.edited[0].rolled_back
    assert (folder / "main.cf").read_text() == broken


def test_dovecot_conf_d_file_edited_and_the_whole_config_validated(
    tmp_path: Path, doveconf: str
) -> None:
    """The line is in conf.d/10-ssl.conf: that file changes, dovecot.conf does not, and
    doveconf reads the whole configuration from dovecot.conf."""
    live = certbot_lineage(tmp_path)
    top = tmp_path / "dovecot" / "dovecot.conf"
    (top.parent / "conf.d").mkdir(parents=True)
    top.write_text("protocols = imap\n!include conf.d/*.conf\n")
    ssl = top.parent / "conf.d" / "10-ssl.conf"
    ssl.write_text(f"ssl = yes\nssl_cert = <{live}/cert.pem\nssl_key = <{live}/privkey.pem\n")
    result = run_fix([top])
    assert top.read_text() == "protocols = imap\n!include conf.d/*.conf\n"
    assert f"ssl_cert = <{live}/fullchain.pem\n" in ssl.read_text()
    (outcome,) = result.edited
    assert outcome.validation is not None and outcome.validation.argv[1:] == ("-c", str(top), "-n")
    assert f"ssl_cert = <{live}/fullchain.pem" in run([doveconf, "-c", str(top), "-n"]).stdout
    assert exit_code(result, dry_run=False) == 0
