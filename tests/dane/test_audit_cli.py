"""`mailtls audit --dane` and `hook --dane` on the command line: usage errors, dnspython
missing, and the DANE findings in every report format (answers from an in-memory look-up)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
from cryptography import x509

from mailtls.audit import AuditOptions, audit
from mailtls.config.discover import read_all
from mailtls.dane.answer import Answer, Status
from mailtls.dane.audit import DaneCheck, dane_report, look_up
from mailtls.dane.records import for_cert
from mailtls.report import json as json_report
from mailtls.report import nagios, prometheus, text
from mailtls.report import yaml as yaml_report
from tests.dane.oracle import PKI
from tests.test_cli import mailtls

MX = "_25._tcp.mail.example.org."
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def postfix(tmp_path: Path) -> Path:
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes((PKI / "leaf-2026-fullchain.pem").read_bytes())
    key = tmp_path / "key.pem"
    key.write_bytes((PKI / "leaf-2026.key").read_bytes())
    key.chmod(0o600)
    (tmp_path / "main.cf").write_text(
        "myhostname = mail.example.org\nsmtpd_tls_security_level = may\n"
        f"smtpd_tls_cert_file = {chain}\nsmtpd_tls_key_file = {key}\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["audit", "--resolver", "127.0.0.1"], "--resolver only go with --dane"),
        (["audit", "--next", "key.pem"], "--next only go with --dane"),
        (["audit", "--resolver", "::1", "--next", "k"], "--resolver and --next only go with"),
        (["hook", "--resolver", "127.0.0.1", "--all"], "--resolver only go with --dane"),
    ],
)
def test_dane_options_without_dane_are_usage_errors(
    tmp_path: Path, args: list[str], said: str
) -> None:
    done = mailtls(*args, str(postfix(tmp_path)))
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"mailtls: error: {said}" + done.stderr.split(said, 1)[1]
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [["audit", "--dane"], ["hook", "--dane-strict", "--all"]])
def test_without_dnspython_dane_says_what_to_install(tmp_path: Path, command: list[str]) -> None:
    """dnspython hidden from the import system, as on a host without the extra."""
    argv = ["mailtls", *command, str(postfix(tmp_path))]
    script = (
        "import sys\nsys.modules['dns'] = None\n"
        f"sys.argv = {argv!r}\nfrom mailtls.cli import main\nmain()\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == "mailtls: error: --dane needs dnspython: pip install 'mailtls[dane]'\n"
    assert done.stdout == ""


def test_dane_findings_appear_in_every_format(tmp_path: Path) -> None:
    config = read_all([str(postfix(tmp_path))], {})
    options = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)
    old = for_cert(x509.load_pem_x509_certificate((PKI / "leaf-rsa.pem").read_bytes()), 3)

    def lookup(owner: str) -> Answer:
        return Answer(owner, Status.OK, (old,), secure=True)

    disk = look_up(config, DaneCheck(lookup))
    report, notes = dane_report(audit(config, options, beside=disk), disk)
    assert notes == []
    assert [f.code for f in report.findings] == ["tlsa-mismatch"]
    assert f"error tlsa-mismatch {MX}: none of the signed TLSA records" in text.render(report)
    (found,) = json.loads(json_report.render(report))["findings"]
    assert (found["code"], found["severity"]) == ("tlsa-mismatch", "error")
    assert "code: tlsa-mismatch" in yaml_report.render(report)
    assert nagios.render(report).startswith("MAILTLS CRITICAL")
    assert 'code="tlsa-mismatch"' in prometheus.render(report, 0.1, 0.0)


def test_audit_dane_live_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's own wiring, in this process (answers from memory): the owners looked
    up before the audit, the chain on disk judged by it, --live's probe findings before
    the DANE findings, as before."""
    from typer.testing import CliRunner

    from mailtls.cli import app
    from mailtls.dane import lookup as dane_lookup

    listen = "127.0.0.1:smtp"  # port 25 receives mail; where nothing listens --live says so
    folder = postfix(tmp_path)
    (folder / "master.cf").write_text(f"{listen} inet n - n - - smtpd\n")
    old = for_cert(x509.load_pem_x509_certificate((PKI / "leaf-rsa.pem").read_bytes()), 3)
    asked: list[str] = []

    def lookup(owner: str) -> Answer:
        asked.append(owner)
        return Answer(owner, Status.OK, (old,), secure=True)

    monkeypatch.setattr(dane_lookup, "resolver_lookup", lambda resolver: lookup)
    args = ["audit", str(folder), "--dane", "--live", "--format", "json", "--at", "2026-11-29"]
    done = CliRunner().invoke(app, [*args, "--ca-file", str(PKI / "root.pem")])
    codes = [f["code"] for f in json.loads(done.stdout)["findings"]]
    assert (done.exit_code, asked) == (1, [MX.rstrip(".")]), done.output
    first = codes.index("tlsa-mismatch")  # the disk's, then what the listener sent, if any
    assert not any(c.startswith("tlsa-") for c in codes[:first])
    assert set(codes[first + 1 :]) <= {"tlsa-served-mismatch"}
    assert "endpoint-unreachable" in codes or "tlsa-served-mismatch" in codes
