"""The command line as an admin meets it: exit codes, one-line errors, JSON, the demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailtls.config.source import describe_os_error
from tests.conftest import FIXTURES

DEMO = FIXTURES / "demo" / "etc"


def mailtls(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtls", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


DEMO_ARGS = ("--at", "2026-11-29", "--ca-file", str(DEMO / "ssl" / "root.pem"))


def test_demo_json_lists_both_daemons_and_the_story() -> None:
    """The story: both daemons serve the renewed leaf alone; exit 1, missing-intermediate each."""
    done = mailtls(
        "audit", str(DEMO / "dovecot"), str(DEMO / "postfix"), "--format", "json", *DEMO_ARGS
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["schema"] == 1
    missing = [f["endpoint"] for f in report["findings"] if f["code"] == "missing-intermediate"]
    assert sorted(missing) == sorted(e["id"] for e in report["endpoints"])
    for endpoint in report["endpoints"]:
        (leaf,) = endpoint["chain"]
        assert leaf["subject"] == "CN=mail.example.org"
        assert leaf["issuer"] == "CN=Example Issuing CA R2,O=Example Trust Services"
        assert (leaf["key_type"], leaf["key_size"]) == ("ECDSA secp256r1", 256)
    ssl = str(DEMO / "ssl")
    rows = {
        (e["id"], e["service"], e["role"], e["cert_file"], e["key_file"])
        for e in report["endpoints"]
    }
    assert rows == {
        (
            "dovecot:global",
            "dovecot",
            "server",
            f"{ssl}/mail.example.org.pem",
            f"{ssl}/mail.example.org.key",
        ),
        (
            "dovecot:local_name imap.example.org",
            "dovecot",
            "server",
            f"{ssl}/mail.example.org.pem",
            f"{ssl}/mail.example.org.key",
        ),
        (
            "postfix:global",
            "postfix",
            "server",
            f"{ssl}/mail.example.org.pem",
            f"{ssl}/mail.example.org.key",
        ),
    }
    for endpoint in report["endpoints"]:
        assert set(endpoint) >= {
            "id",
            "service",
            "role",
            "scope",
            "source",
            "cert_file",
            "key_file",
            "chain_files",
            "names",
            "enabled",
        }
        path, line = endpoint["source"].rsplit(":", 1)
        assert Path(path).is_file() and int(line) > 0


def test_demo_text_report_names_files_and_sources() -> None:
    done = mailtls("audit", str(DEMO / "dovecot"), *DEMO_ARGS)
    assert done.returncode == 1
    assert "1. mail.example.org  (issued by Example Issuing CA R2, until 2036-11-01)" in done.stdout
    assert f"cert     {DEMO}/ssl/mail.example.org.pem" in done.stdout
    assert "conf.d/10-ssl.conf:3" in done.stdout


def test_error_findings_give_exit_1_and_fail_on_moves_the_threshold(tmp_path: Path) -> None:
    (tmp_path / "dovecot.conf").write_text(
        '!include sub\nssl_cert = "</nowhere/x"\nssl_key = </k\n'
    )
    (tmp_path / "sub").mkdir()
    files = ("--ignore", "file-missing")  # /nowhere/x: this test is about the config codes
    assert mailtls("audit", str(tmp_path), *files).returncode == 1
    assert mailtls("audit", str(tmp_path), *files, "--ignore", "include-unreadable").returncode == 0
    done = mailtls(
        "audit", str(tmp_path), *files, "--ignore", "include-unreadable", "--fail-on", "warning"
    )
    assert done.returncode == 1
    assert "warning quoted-file-value" in done.stdout


def test_a_configuration_dovecot_refuses_exits_2_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "dovecot.conf").write_text("!include missing.conf\nssl_cert = </x\n")
    done = mailtls("audit", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("dovecot.conf:1: !include missing.conf: No matches")


def _write_binary(path: Path) -> Path:
    target = path / "dovecot.conf"
    target.write_bytes(b"\x7fELF\x00\x01binary")
    return target


def _write_loop(path: Path) -> Path:
    link = path / "loop"
    os.symlink(link, link)
    return link


def _write_unreadable(path: Path) -> Path:
    target = path / "dovecot.conf"
    target.write_text("ssl_cert = </x\n")
    target.chmod(0)
    return target


def _write_huge(path: Path) -> Path:
    target = path / "dovecot.conf"
    with target.open("wb") as out:
        out.truncate(17 * 1024 * 1024)
    return target


def _write_empty_dir(path: Path) -> Path:
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_write_binary, "binary data"),
        (_write_loop, "symbolic link loop"),
        (lambda p: p / "nowhere", "no such file"),
        (_write_empty_dir, "holds neither dovecot.conf nor main.cf"),
        (_write_huge, "larger than 16 MiB"),
    ],
    ids=["binary", "symlink-loop", "missing", "empty-dir", "huge"],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    target = make(tmp_path)
    done = mailtls("audit", str(target))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-0 file anyway")
def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    target = _write_unreadable(tmp_path)
    done = mailtls("audit", str(target))
    assert done.returncode == 2
    assert done.stderr == f"mailtls: error: {target}: permission denied\n"


def test_permission_error_is_said_in_words() -> None:
    """As root (CI) the file system never refuses: check the mapping the CLI relies on."""
    error = describe_os_error("/etc/x", PermissionError(13, "Permission denied"))
    assert (error.reason, str(error)) == ("unreadable", "/etc/x: permission denied")


def test_rejected_config_exits_2_and_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text("myhostname = a.example\nthis is not a parameter\n")
    done = mailtls("audit", str(tmp_path))
    assert done.returncode == 2
    assert "main.cf, line 2: missing '='" in done.stderr


def test_usage_error_exits_2() -> None:
    done = mailtls("audit", "--format", "xml", str(DEMO / "dovecot"))
    assert done.returncode == 2


def test_help_documents_exit_codes() -> None:
    done = mailtls("audit", "--help")
    assert done.returncode == 0
    assert "Exit codes" in done.stdout


def test_reading_changes_nothing_on_disk() -> None:
    before = {p: p.stat().st_mtime_ns for p in DEMO.rglob("*")}
    mailtls("audit", str(DEMO / "dovecot"), str(DEMO / "postfix"))
    assert {p: p.stat().st_mtime_ns for p in DEMO.rglob("*")} == before


def test_yaml_format_and_explain() -> None:
    done = mailtls("audit", str(DEMO / "postfix"), "--format", "yaml", *DEMO_ARGS)
    assert done.returncode == 1
    assert done.stdout.startswith("schema: 1\n")
    explained = mailtls("explain", "missing-intermediate")
    assert explained.returncode == 0
    assert "openssl" in explained.stdout
    unknown = mailtls("explain", "no-such-code")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("mailtls: error: no finding code 'no-such-code'")


def test_bad_at_is_a_usage_error() -> None:
    done = mailtls("audit", str(DEMO / "postfix"), "--at", "next tuesday")
    assert done.returncode == 2
    assert (
        done.stderr
        == "mailtls: error: --at 'next tuesday': not an ISO 8601 time (2026-11-29 or 2026-11-29T12:00Z)\n"
    )


def test_missing_ca_file_is_a_usage_error() -> None:
    done = mailtls("audit", str(DEMO / "postfix"), "--ca-file", "/nonexistent/root.pem")
    assert done.returncode == 2
    assert "/nonexistent/root.pem: no such file" in done.stderr


def test_at_moves_the_clock() -> None:
    """In 2037 the demo leaf (until 2036-11-01) has expired."""
    done = mailtls(
        "audit",
        str(DEMO / "postfix"),
        "--format",
        "json",
        "--at",
        "2037-01-01",
        "--ca-file",
        str(DEMO / "ssl" / "root.pem"),
    )
    codes = {f["code"] for f in json.loads(done.stdout)["findings"]}
    assert "cert-expired" in codes


def test_fix_the_demo_then_restore_it(tmp_path: Path) -> None:
    """The README's story, by the command line: fix with the CA's intermediate, audit clean,
    restore brings the leaf-only file back."""
    shutil.copytree(DEMO, tmp_path / "etc")
    etc = tmp_path / "etc"
    (etc / "ssl" / "mail.example.org.key").chmod(0o600)
    configs = (str(etc / "dovecot"), str(etc / "postfix"))
    trust = ("--at", "2026-11-29", "--ca-file", str(etc / "ssl" / "root.pem"))
    cert = etc / "ssl" / "mail.example.org.pem"
    original = cert.read_bytes()
    dry = mailtls("fix", *configs, *trust, "--offline", "--dry-run")
    assert dry.returncode == 1
    assert "not fixed" in dry.stdout and cert.read_bytes() == original
    done = mailtls(
        "fix", *configs, *trust, "--intermediates", str(FIXTURES / "pki" / "issuing-r2.pem")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"rewrote {cert} for dovecot:global, dovecot:local_name imap.example.org, postfix:global"
        in done.stdout
    )
    assert "after the fix: 0 errors remain" in done.stdout
    assert mailtls("audit", *configs, *trust).returncode == 0
    back = mailtls("restore", str(cert))
    assert back.returncode == 0
    assert cert.read_bytes() == original


def test_every_code_has_its_explanation() -> None:
    """`mailtls explain CODE` says why it matters and how to fix it by hand, for every code."""
    from mailtls.checks.explain import EXPLANATIONS
    from mailtls.checks.explain_config import CONFIG_EXPLANATIONS
    from mailtls.checks.registry import CODES

    assert set(CODES) <= set(EXPLANATIONS) | set(CONFIG_EXPLANATIONS)
    assert not set(EXPLANATIONS) & set(CONFIG_EXPLANATIONS)
    assert set(EXPLANATIONS) | set(CONFIG_EXPLANATIONS) <= set(CODES)
    done = mailtls("explain", "sni-map-stale")
    assert done.returncode == 0
    assert "Why it matters: postmap -F copies" in done.stdout
    assert "Fix by hand: Rebuild the index" in done.stdout
