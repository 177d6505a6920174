"""different-certs: one name, two daemons, two chains, one of them worse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailtls.audit import AuditOptions, audit
from mailtls.config.discover import read_all
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def server(tmp_path: Path, dovecot_cert: str, postfix_cert: str) -> list[tuple[str, str | None]]:
    ssl = tmp_path / "ssl"
    ssl.mkdir()
    for name in ("leaf-2026.pem", "leaf-2026-fullchain.pem", "leaf-2026.key"):
        (ssl / name).write_bytes((PKI / name).read_bytes())
    (ssl / "leaf-2026.key").chmod(0o600)
    (tmp_path / "dovecot").mkdir()
    (tmp_path / "dovecot" / "dovecot.conf").write_text(
        f"ssl_cert = <{ssl}/{dovecot_cert}\nssl_key = <{ssl}/leaf-2026.key\n"
    )
    (tmp_path / "postfix").mkdir()
    (tmp_path / "postfix" / "main.cf").write_text(
        f"myhostname = mail.example.org\nsmtpd_tls_cert_file = {ssl}/{postfix_cert}\n"
        f"smtpd_tls_key_file = {ssl}/leaf-2026.key\nsmtpd_tls_security_level = may\n"
    )
    config = read_all([str(tmp_path / "dovecot"), str(tmp_path / "postfix")], {})
    options = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)
    report = audit(config, options)
    return [(f.code, f.endpoint) for f in report.findings if f.code == "different-certs"]


def test_postfix_without_the_intermediate_is_the_worse_one(tmp_path: Path) -> None:
    found = server(tmp_path, "leaf-2026-fullchain.pem", "leaf-2026.pem")
    assert found == [("different-certs", "postfix:global")]


def test_dovecot_worse_is_named_too(tmp_path: Path) -> None:
    found = server(tmp_path, "leaf-2026.pem", "leaf-2026-fullchain.pem")
    assert found == [("different-certs", "dovecot:global")]


def test_same_chain_is_silent(tmp_path: Path) -> None:
    assert server(tmp_path, "leaf-2026-fullchain.pem", "leaf-2026-fullchain.pem") == []
