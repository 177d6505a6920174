"""File forms the daemons cannot load: DER and PKCS#7 certificates, DER keys. mailtls reads
them to say what they hold, and says as an error that the daemon cannot load them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.run import FixOptions, fix
from tests.checks.test_codes import AT, PKI, TRUST, audit_server, codes, run_audit


def certs(*names: str) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate((PKI / f"{n}.pem").read_bytes()) for n in names]


DER = serialization.Encoding.DER
SHAPES = {
    "pkcs7-pem": lambda: pkcs7.serialize_certificates(
        certs("leaf-2026", "issuing-r2"), serialization.Encoding.PEM
    ),
    "pkcs7-der": lambda: pkcs7.serialize_certificates(certs("leaf-2026", "issuing-r2"), DER),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_pkcs7_chain_is_not_pem(tmp_path: Path, shape: str) -> None:
    """A complete PKCS#7 chain: mailtls reads it (the chain is right) but the daemons cannot."""
    run_audit(tmp_path, ["leaf-2026"], "leaf-2026")
    (tmp_path / "cert.pem").write_bytes(SHAPES[shape]())
    report = audit_server(tmp_path)
    assert codes(report) == ["not-pem"]
    assert "PKCS#7" in report.findings[0].message
    assert not report.chains[0].trusted


def test_der_leaf_is_not_pem(tmp_path: Path) -> None:
    run_audit(tmp_path, ["leaf-2026"], "leaf-2026")
    (tmp_path / "cert.pem").write_bytes(certs("leaf-2026")[0].public_bytes(DER))
    assert codes(audit_server(tmp_path)) == ["missing-intermediate", "not-pem"]


def test_der_key_is_not_pem(tmp_path: Path) -> None:
    run_audit(tmp_path, ["leaf-2026", "issuing-r2"], "leaf-2026")
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), None)
    der = key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "key.pem").write_bytes(der)
    assert codes(audit_server(tmp_path)) == ["key-not-pem"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_fix_writes_pkcs7_as_pem_in_order(tmp_path: Path, shape: str) -> None:
    """`mailtls fix` rewrites the same certificates as PEM, leaf first, and the audit is clean."""
    (tmp_path / "cert.pem").write_bytes(SHAPES[shape]())
    (tmp_path / "key.pem").write_bytes((PKI / "leaf-2026.key").read_bytes())
    (tmp_path / "key.pem").chmod(0o600)
    conf = tmp_path / "dovecot.conf"
    conf.write_text(f"ssl_cert = <{tmp_path}/cert.pem\nssl_key = <{tmp_path}/key.pem\n")
    settings = AuditOptions(at=AT, ca_files=TRUST, system_trust=False)
    options = FixOptions(audit=settings, offline=True, lock_file=str(tmp_path / "lock"))
    result = fix(read_all([str(conf)], {}), options)
    data = (tmp_path / "cert.pem").read_bytes()
    assert data.startswith(b"-----BEGIN CERTIFICATE-----")
    assert x509.load_pem_x509_certificates(data) == certs("leaf-2026", "issuing-r2")
    assert result.after is not None and codes(result.after) == []
