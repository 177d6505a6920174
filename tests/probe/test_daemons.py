"""Live checks against the real Dovecot and Postfix, started on 127.0.0.1 with high ports."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path

from mailtls.audit import AuditOptions, audit
from mailtls.config.discover import read_all
from mailtls.fix.run import FixOptions, fix
from mailtls.models import Report
from mailtls.probe.live import live_report
from mailtls.probe.run import probe_report
from mailtls.probe.tls import Target
from tests.conftest import FIXTURES, need_binary
from tests.daemons import dovecot, postfix

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
OPTIONS = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)


def files(tmp_path: Path, *certs: str) -> tuple[Path, Path]:
    ssl = tmp_path / "ssl"
    ssl.mkdir(exist_ok=True)
    (ssl / "cert.pem").write_bytes(b"".join((PKI / c).read_bytes() for c in certs))
    shutil.copy(PKI / "leaf-2026.key", ssl / "key.pem")
    (ssl / "key.pem").chmod(0o600)
    return ssl / "cert.pem", ssl / "key.pem"


def live(port: int, starttls: str | None, name: str | None = "mail.example.org") -> Report:
    return probe_report([Target("127.0.0.1", port, starttls, name)], OPTIONS, timeout=5)


def codes(report: Report) -> list[str]:
    return sorted(f.code for f in report.findings)


def served_until(port: int, starttls: str | None, count: int, seconds: float = 15) -> Report:
    """Probe until the served chain has `count` certificates: a reload takes effect as the
    login processes restart, so this is the readiness check for it (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        report = live(port, starttls)
        if (report.chains and len(report.chains[0].certs) == count) or time.monotonic() > deadline:
            return report
        time.sleep(0.1)


def test_dovecot_leaf_only_on_every_listener(tmp_path: Path) -> None:
    cert, key = files(tmp_path, "leaf-2026.pem")
    with dovecot(tmp_path, cert, key) as running:
        ports = running.ports
        for port, starttls in (
            (ports["imaps"], None),
            (ports["imap"], "imap"),
            (ports["pop3s"], None),
            (ports["pop3"], "pop3"),
        ):
            report = live(port, starttls)
            assert codes(report) == ["missing-intermediate"], (port, starttls)
            assert [c.subject for c in report.chains[0].certs] == ["CN=mail.example.org"]


def test_dovecot_keeps_the_old_chain_until_reloaded(tmp_path: Path) -> None:
    """The story's second half: the file is fixed, Dovecot still serves the old chain; after
    `doveadm reload` it serves the new one."""
    cert, key = files(tmp_path, "leaf-2026.pem")
    with dovecot(tmp_path, cert, key) as running:
        imaps = running.ports["imaps"]
        assert codes(live(imaps, None)) == ["missing-intermediate"]
        cert.write_bytes(
            (PKI / "leaf-2026.pem").read_bytes() + (PKI / "issuing-r2.pem").read_bytes()
        )
        assert codes(live(imaps, None)) == ["missing-intermediate"]  # stale: not reloaded
        reload = subprocess.run(
            [need_binary("doveadm"), "-c", str(running.config), "reload"],
            capture_output=True,
            check=False,
        )
        assert reload.returncode == 0
        after = served_until(imaps, None, 2)
        assert codes(after) == [] and after.chains[0].trusted


def test_fix_with_reload_against_the_real_dovecot(tmp_path: Path) -> None:
    """mailtls fix --reload: the file gets its intermediate, doveadm reload runs, and the
    listener serves the full chain."""
    cert, key = files(tmp_path, "leaf-2026.pem")
    with dovecot(tmp_path, cert, key) as running:
        options = FixOptions(
            audit=AuditOptions(
                at=AT,
                ca_files=(str(PKI / "root.pem"),),
                system_trust=False,
                intermediates=(str(PKI / "issuing-r2.pem"),),
            ),
            offline=True,
            reload=True,
            lock_file=str(tmp_path / "lock"),
        )
        result = fix(read_all([str(running.config)], {}), options)
        assert [o.step.argv[0] for o in result.outcomes] == ["doveadm"] and all(
            o.ok for o in result.outcomes
        )
        after = served_until(running.ports["imaps"], None, 2)
        assert codes(after) == []


def test_dovecot_local_name_certificate_only_for_its_name(tmp_path: Path) -> None:
    cert, key = files(tmp_path, "leaf-2026.pem", "issuing-r2.pem")
    other = tmp_path / "ssl" / "other.pem"
    other.write_bytes(
        (PKI / "leaf-other-name.pem").read_bytes() + (PKI / "issuing-r2.pem").read_bytes()
    )
    shutil.copy(PKI / "leaf-other-name.key", tmp_path / "ssl" / "other.key")
    block = f"local_name www.example.net {{\n  ssl_cert = <{other}\n  ssl_key = <{tmp_path}/ssl/other.key\n}}\n"
    with dovecot(tmp_path, cert, key, extra=block) as running:
        imaps = running.ports["imaps"]
        by_name = live(imaps, None, "www.example.net")
        default = live(imaps, None, "mail.example.org")
        assert by_name.chains[0].certs[0].subject == "CN=www.example.net"
        assert default.chains[0].certs[0].subject == "CN=mail.example.org"
        assert codes(by_name) == codes(default) == []


def test_postfix_starttls_smtp_submission_and_wrapper_mode(tmp_path: Path) -> None:
    cert, key = files(tmp_path, "leaf-2026.pem")
    main = f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\nsmtpd_tls_security_level = may\n"
    with postfix(tmp_path, main) as running:
        ports = running.ports
        for port, starttls in (
            (ports["smtp"], "smtp"),
            (ports["submission"], "submission"),
            (ports["smtps"], None),
        ):
            report = live(port, starttls)
            assert codes(report) == ["missing-intermediate"], (port, starttls)


def test_postfix_without_tls_is_starttls_missing(tmp_path: Path) -> None:
    with postfix(tmp_path, "smtpd_tls_security_level = none\n") as running:
        assert codes(live(running.ports["smtp"], "smtp")) == ["starttls-missing"]


def live_audit(config: Path) -> list[tuple[str, str]]:
    """`audit --live` on a running daemon's own configuration."""
    result = read_all([str(config)], {})
    report = live_report(audit(result, OPTIONS), result.listeners)
    return sorted(
        (f.code, f.message.split(":")[0] + ":" + f.message.split(":")[1].split(" ")[0])
        for f in report.findings
    )


def test_audit_live_sees_what_a_file_change_without_reload_leaves_behind(tmp_path: Path) -> None:
    """File fixed but not reloaded: served-chain-incomplete on every listener; a new leaf and
    key not reloaded: served-chain-stale; after doveadm reload: clean."""
    cert, key = files(tmp_path, "leaf-2026.pem")
    with dovecot(tmp_path, cert, key) as running:
        before = {code for code, _ in live_audit(running.config)}
        assert before == {"missing-intermediate"}  # on disk; the wire agrees with the file
        cert.write_bytes(
            (PKI / "leaf-2026.pem").read_bytes() + (PKI / "issuing-r2.pem").read_bytes()
        )
        incomplete = live_audit(running.config)
        assert [c for c, _ in incomplete] == ["served-chain-incomplete"] * 4
        cert.write_bytes(
            (PKI / "leaf-rsa.pem").read_bytes() + (PKI / "issuing-r2.pem").read_bytes()
        )
        key.write_bytes((PKI / "leaf-rsa.key").read_bytes())
        assert {c for c, _ in live_audit(running.config)} == {"served-chain-stale"}
        subprocess.run(
            [need_binary("doveadm"), "-c", str(running.config), "reload"], check=True, timeout=30
        )
        served_until(running.ports["imaps"], None, 2)
        deadline = time.monotonic() + 15
        while (found := live_audit(running.config)) and time.monotonic() < deadline:
            time.sleep(0.1)  # each login process picks up the reload as it restarts
        assert found == []


def test_audit_live_on_postfix_services(tmp_path: Path) -> None:
    cert, key = files(tmp_path, "leaf-2026.pem", "issuing-r2.pem")
    main = f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\nsmtpd_tls_security_level = may\n"
    with postfix(tmp_path, main) as running:
        result = read_all([str(running.config)], {})
        assert sorted(listener.port for listener in result.listeners) == sorted(
            running.ports.values()
        )
        report = live_report(audit(result, OPTIONS), result.listeners)
        assert report.findings == ()
        assert len([c for c in report.chains if c.listener]) == 3
