"""Postfix `smtpd_tls_chain_files` and combined files: key first, then its chain, per key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailtls.audit import AuditOptions, audit
from mailtls.config.discover import read_all
from mailtls.models import Report
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def pki(*names: str) -> bytes:
    return b"".join((PKI / name).read_bytes() for name in names)


def run(tmp_path: Path, main_cf: str, files: dict[str, bytes]) -> Report:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        (tmp_path / name).chmod(0o600)
    (tmp_path / "main.cf").write_text(
        main_cf.replace("{d}", str(tmp_path)) + "smtpd_tls_security_level = may\n"
    )
    options = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)
    return audit(read_all([str(tmp_path)], {}), options)


def test_rsa_and_ecdsa_pairs_in_chain_files_are_two_chains(tmp_path: Path) -> None:
    report = run(
        tmp_path,
        "smtpd_tls_chain_files = {d}/rsa.pem, {d}/ecdsa.pem\n",
        {
            "rsa.pem": pki("leaf-rsa.key", "leaf-rsa.pem", "issuing-r2.pem"),
            "ecdsa.pem": pki("leaf-2026.key", "leaf-2026.pem", "issuing-r2.pem"),
        },
    )
    assert [(c.key_file, [x.key_type for x in c.certs], c.trusted) for c in report.chains] == [
        (str(tmp_path / "rsa.pem"), ["RSA", "ECDSA secp256r1"], True),
        (str(tmp_path / "ecdsa.pem"), ["ECDSA secp256r1", "ECDSA secp256r1"], True),
    ]
    assert report.findings == ()


def test_one_group_missing_its_intermediate_is_found(tmp_path: Path) -> None:
    """The ECDSA chain is complete, the RSA one was renewed without its intermediate."""
    report = run(
        tmp_path,
        "smtpd_tls_chain_files = {d}/rsa.pem {d}/ecdsa.pem\n",
        {
            "rsa.pem": pki("leaf-rsa.key", "leaf-rsa.pem"),
            "ecdsa.pem": pki("leaf-2026.key", "leaf-2026.pem", "issuing-r2.pem"),
        },
    )
    assert [(f.code, f.path) for f in report.findings] == [
        ("missing-intermediate", str(tmp_path / "rsa.pem"))
    ]


def test_key_that_belongs_to_the_other_pair_is_a_mismatch(tmp_path: Path) -> None:
    report = run(
        tmp_path,
        "smtpd_tls_chain_files = {d}/mixed.pem\n",
        {"mixed.pem": pki("leaf-rsa.key", "leaf-2026.pem", "issuing-r2.pem")},
    )
    assert [f.code for f in report.findings] == ["key-mismatch"]


def test_combined_key_and_chain_file_for_cert_and_key(tmp_path: Path) -> None:
    """docker-mailserver's `custom` SSL_TYPE: one file, key then leaf then chain, named twice."""
    report = run(
        tmp_path,
        "smtpd_tls_cert_file = {d}/full.pem\nsmtpd_tls_key_file = {d}/full.pem\n",
        {"full.pem": pki("leaf-2026.key", "leaf-2026.pem", "issuing-r2.pem")},
    )
    assert report.findings == ()
    assert report.chains[0].trusted
