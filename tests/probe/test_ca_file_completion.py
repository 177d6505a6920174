"""The leaf alone in the certificate file, its intermediate only in the CA file: the running
Postfix sends leaf and intermediate (OpenSSL completes the chain from smtpd_tls_CAfile), the
running Dovecot sends the leaf alone. The audit must say what each daemon really sends, and
agree with the probe of it (issue 8, section 6)."""

from __future__ import annotations

from pathlib import Path

from mailtls.audit import audit
from mailtls.config.discover import read_all
from mailtls.probe.live import live_report
from tests.conftest import FIXTURES
from tests.daemons import dovecot, postfix
from tests.probe.test_daemons import OPTIONS, codes, files, live

PKI = FIXTURES / "pki"


def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ssl" / "ca.pem"
    path.write_bytes((PKI / "issuing-r2.pem").read_bytes())
    return path


def test_postfix_completes_a_leaf_only_file_from_its_ca_file(tmp_path: Path) -> None:
    cert, key = files(tmp_path, "leaf-2026.pem")
    main = (
        f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n"
        f"smtpd_tls_CAfile = {ca_file(tmp_path)}\nsmtpd_tls_security_level = may\n"
    )
    with postfix(tmp_path, main) as running:
        wire = live(running.ports["smtp"], "smtp")
        assert [c.subject for c in wire.chains[0].certs] == [
            "CN=mail.example.org",
            "CN=Example Issuing CA R2,O=Example Trust Services",
        ]
        assert codes(wire) == []
        result = read_all([str(running.config)], {})
        report = audit(result, OPTIONS)
        (chain,) = report.chains
        assert [c.subject for c in chain.certs] == [c.subject for c in wire.chains[0].certs]
        assert chain.trusted
        assert codes(report) == ["chain-from-cafile"]
        compared = live_report(report, result.listeners)
        assert codes(compared) == ["chain-from-cafile"]  # no served-chain-* either way


def test_postfix_sends_the_root_too_when_the_ca_file_holds_it(tmp_path: Path) -> None:
    cert, key = files(tmp_path, "leaf-2026.pem")
    ca = ca_file(tmp_path)
    ca.write_bytes(ca.read_bytes() + (PKI / "root.pem").read_bytes())
    main = (
        f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n"
        f"smtpd_tls_CAfile = {ca}\nsmtpd_tls_security_level = may\n"
    )
    with postfix(tmp_path, main) as running:
        wire = live(running.ports["smtp"], "smtp")
        report = audit(read_all([str(running.config)], {}), OPTIONS)
        assert len(wire.chains[0].certs) == 3
        assert report.chains[0].certs == wire.chains[0].certs
        assert codes(report) == ["chain-from-cafile", "root-in-chain"]


def test_dovecot_does_not_complete_from_ssl_ca(tmp_path: Path) -> None:
    cert, key = files(tmp_path, "leaf-2026.pem")
    extra = f"ssl_ca = <{ca_file(tmp_path)}\n"
    with dovecot(tmp_path, cert, key, extra=extra) as running:
        wire = live(running.ports["imaps"], None)
        assert [c.subject for c in wire.chains[0].certs] == ["CN=mail.example.org"]
        report = audit(read_all([str(running.config)], {}), OPTIONS)
        assert codes(report) == ["missing-intermediate"]
        assert [c.subject for c in report.chains[0].certs] == ["CN=mail.example.org"]
