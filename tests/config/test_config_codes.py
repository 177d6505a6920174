"""Each configuration finding code fires on a small config made for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtls.checks.registry import CODES
from mailtls.config import dovecot, postfix
from mailtls.config.source import ConfigFiles

DOVECOT = {
    "include-unreadable": ("!include sub\nssl_cert = </x\n", ["include-unreadable"]),
    "include-unreadable-binary": ("!include bin.conf\nssl_cert = </x\n", ["include-unreadable"]),
    "missing-file-prefix": ("ssl_cert = /etc/ssl/x.pem\nssl_key = </k\n", ["missing-file-prefix"]),
    "wrong-version-setting": (
        "dovecot_config_version = 2.4.0\nssl_server_cert_file = /x\nssl_cert = </x\n",
        ["wrong-version-setting"],
    ),
    "unresolved-variable": ("ssl_cert = <$ENV:NOT_SET/x.pem\n", ["unresolved-variable"]),
    "inline-pem": ('ssl_cert = "-----BEGIN CERTIFICATE-----"\nssl_key = </k\n', ["inline-pem"]),
    "runtime-variable": (
        "dovecot_config_version = 2.4.0\nssl_server_cert_file = /tls/%{local_name}.pem\n",
        ["runtime-variable"],
    ),
}


@pytest.mark.parametrize("case", DOVECOT)
def test_dovecot_config_code(tmp_path: Path, case: str) -> None:
    text, expected = DOVECOT[case]
    (tmp_path / "sub").mkdir()
    (tmp_path / "bin.conf").write_bytes(b"\x00\x01")
    (tmp_path / "dovecot.conf").write_text(text)
    result = dovecot.read(str(tmp_path / "dovecot.conf"), ConfigFiles(), {})
    assert sorted(f.code for f in result.findings) == expected
    for finding in result.findings:
        assert finding.severity == CODES[finding.code].severity


POSTFIX = {
    "sni-map-not-built": ("tls_server_sni_maps = hash:{d}/sni\n", ["sni-map-not-built"]),
    "sni-map-unsupported": ("tls_server_sni_maps = pcre:{d}/sni.pcre\n", ["sni-map-unsupported"]),
    "config-syntax": ("  leading = white space\nmyhostname = a.example\n", ["config-syntax"]),
}


@pytest.mark.parametrize("case", POSTFIX)
def test_postfix_config_code(tmp_path: Path, case: str) -> None:
    text, expected = POSTFIX[case]
    (tmp_path / "sni").write_text("example.org /k /c\n")
    (tmp_path / "main.cf").write_text(
        text.replace("{d}", str(tmp_path)) + "smtpd_tls_cert_file = /c\n"
    )
    result = postfix.read(str(tmp_path), ConfigFiles())
    assert sorted(f.code for f in result.findings) == expected
    for finding in result.findings:
        assert finding.severity == CODES[finding.code].severity
