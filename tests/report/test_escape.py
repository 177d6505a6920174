"""Hostile text in the text reports: a certificate name, a file name, a config value must not
move the cursor, recolour the terminal, start a line of its own or reverse a line."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailtls.audit import AuditOptions, audit
from mailtls.fix.plan import Refusal
from mailtls.fix.run import FixResult
from mailtls.models import ConfigResult, Endpoint, Location, Report
from mailtls.report import fix_text, text
from mailtls.report import json as json_report
from mailtls.report import yaml as yaml_report
from mailtls.report.escape import safe

AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
HOSTILE = "mail\x1b[31m\nx.pem:1 error forged-line all is well\u202egro.elpmaxe\x07"
RAW = ("\x1b", "\x07", "\u202e")


def hostile_cert() -> bytes:
    key = ec.derive_private_key(0x686F7374696C65, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOSTILE.replace("\u202e", ""))]), False
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def hostile_report(tmp_path: Path) -> Report:
    folder = tmp_path / "ssl\x1b]0;owned\x07\u202e"
    folder.mkdir()
    (folder / "cert.pem").write_bytes(hostile_cert())
    endpoint = Endpoint(
        id="dovecot:local_name " + HOSTILE,
        service="dovecot",
        role="server",
        scope="local_name " + HOSTILE,
        source=Location(str(folder / "dovecot.conf"), 3),
        cert_file=str(folder / "cert.pem"),
        key_file=str(folder / "key\n.pem"),
        names=(HOSTILE,),
    )
    return audit(ConfigResult((endpoint,)), AuditOptions(at=AT, system_trust=False))


def assert_clean(output: str) -> None:
    assert not any(char in output for char in RAW)
    assert not any(line.startswith("x.pem:1") for line in output.splitlines())
    assert "forged-line" in output  # said, escaped, on the line it belongs to


@pytest.mark.parametrize("colour", [False, True])
def test_text_report_escapes_names_paths_and_values(tmp_path: Path, colour: bool) -> None:
    output = text.render(hostile_report(tmp_path), colour=colour)
    if colour:
        output = output.replace("\x1b[1;31m", "").replace("\x1b[33m", "").replace("\x1b[0m", "")
    assert_clean(output)
    assert "mail\\e[31m\\nx.pem:1" in output and "\\u202e" in output


def test_fix_report_escapes(tmp_path: Path) -> None:
    report = hostile_report(tmp_path)
    result = FixResult(report, refusals=[Refusal(HOSTILE, (HOSTILE,), HOSTILE)], after=report)
    assert_clean(fix_text.render(result, dry_run=True, diff=True))


def test_json_and_yaml_escape_too(tmp_path: Path) -> None:
    report = hostile_report(tmp_path)
    for output in (json_report.render(report), yaml_report.render(report)):
        assert_clean(output)
    assert json.loads(json_report.render(report))["endpoints"][0]["names"] == [HOSTILE]


def test_undecodable_file_name_bytes_show_as_hex() -> None:
    assert safe(b"/etc/ssl/caf\xe9.pem".decode("utf-8", "surrogateescape")) == (
        "/etc/ssl/caf\\xe9.pem"
    )


def test_error_line_escapes_the_path() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailtls", "audit", "/nonexistent/\x1b[2J\nforged"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "\x1b" not in done.stderr
