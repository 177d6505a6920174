"""Which endpoints a renewal concerns, the hook's log, and its usage errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from mailtls.hook.env import Renewal
from mailtls.hook.log import hook_logger, shown
from mailtls.hook.select import select
from mailtls.models import ConfigResult, Endpoint
from mailtls.pki.load import FileCache
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
MAILTLS = str(Path(sys.executable).parent / "mailtls")


def endpoint(id_: str, cert: Path, names: tuple[str, ...] = ()) -> Endpoint:
    return Endpoint(id_, "dovecot", "server", "global", None, str(cert), None, names=names)


def test_lineage_files_leaf_copies_and_names(tmp_path: Path) -> None:
    """In: the lineage's own file, a copy of its leaf elsewhere, another file for one of its
    names. Out: another leaf for another name."""
    lineage = tmp_path / "live"
    lineage.mkdir()
    (lineage / "cert.pem").write_bytes((PKI / "leaf-2026.pem").read_bytes())
    copy = tmp_path / "copy.pem"
    copy.write_bytes((PKI / "leaf-2026.pem").read_bytes() + (PKI / "issuing-r2.pem").read_bytes())
    renewal = Renewal(
        "certbot",
        str(lineage),
        str(lineage / "cert.pem"),
        (),
        (str(lineage / "cert.pem"),),
        ("imap.example.org",),
    )
    config = ConfigResult(
        endpoints=(
            endpoint("own", lineage / "cert.pem"),
            endpoint("copy", copy),
            endpoint("name", PKI / "leaf-2025.pem", ("IMAP.example.org",)),
            endpoint("other", PKI / "leaf-other-name.pem", ("www.example.net",)),
        )
    )
    chosen = select(config, renewal, FileCache())
    assert [e.id for e in chosen.endpoints] == ["own", "copy", "name"]


def test_syslog_gets_each_line_and_a_dead_socket_is_no_crash(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        hook_logger(stderr=False, dev_log=path).info("rewrote %s", "/etc/ssl/x.pem")
        line = server.recv(4096).decode()
    assert "mailtls[" in line and "hook: rewrote /etc/ssl/x.pem" in line
    (tmp_path / "not-a-socket").write_text("")
    hook_logger(stderr=False, dev_log=str(tmp_path / "not-a-socket")).info("still fine")


def test_hostile_names_are_escaped_in_the_log() -> None:
    assert shown("/etc/ssl/a\nb\u202e.pem") == "/etc/ssl/a\\u000ab\\u202e.pem"


def test_without_a_renewal_or_all_it_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text("smtpd_tls_security_level = none\n")
    (tmp_path / "master.cf").write_text("")
    done = subprocess.run(
        [MAILTLS, "hook", str(tmp_path)], capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "MAILTLS_LOCK_FILE": str(tmp_path / "lock")},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("mailtls: error: no renewal to act on")
    assert done.stderr.count("\n") == 1


def test_all_without_a_renewal_fixes_every_endpoint(tmp_path: Path) -> None:
    """By hand (no renewal client), --all: the fixer's work, a reload, and nothing to probe."""
    cert = tmp_path / "cert.pem"
    cert.write_bytes((PKI / "leaf-2026.key").read_bytes() + (PKI / "leaf-2026.pem").read_bytes())
    cert.chmod(0o600)
    (tmp_path / "main.cf").write_text(
        f"smtpd_tls_chain_files = {cert}\nsmtpd_tls_security_level = may\n"
    )
    (tmp_path / "master.cf").write_text("")
    done = subprocess.run(
        [MAILTLS, "hook", "--all", "--ca-file", str(PKI / "root.pem"), "--no-system-trust",
         "--intermediates", str(PKI / "issuing-r2.pem"), "--offline", "--at", "2026-11-29",
         "--postfix-reload", "true", str(tmp_path)],
        capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "MAILTLS_LOCK_FILE": str(tmp_path / "lock")},
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (
        0,
        "mailtls hook: 1 file fixed, Postfix reloaded, no listener found to check\n",
    ), done.stdout + done.stderr
    assert cert.read_bytes().count(b"BEGIN CERTIFICATE") == 2


def test_wait_must_be_a_bounded_number_of_seconds(tmp_path: Path) -> None:
    """NaN would make the live check wait forever."""
    (tmp_path / "main.cf").write_text("smtpd_tls_security_level = none\n")
    (tmp_path / "master.cf").write_text("")
    for wait in ("nan", "-1", "601"):
        done = subprocess.run(
            [MAILTLS, "hook", "--all", "--wait", wait, str(tmp_path)],
            capture_output=True, text=True, check=False,
            env={"PATH": "/usr/bin:/bin", "MAILTLS_LOCK_FILE": str(tmp_path / "lock")},
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (
            2,
            f"mailtls: error: --wait {float(wait)}: seconds from 0 to 600\n",
        )
