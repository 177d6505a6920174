"""`audit --dane --live`: the chains a real Postfix sends (127.0.0.1, high ports) reach the
DANE check through live_report's on_served, and are judged against the records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from mailtls.audit import AuditOptions, audit
from mailtls.checks.dane import Owner, served_findings
from mailtls.config.discover import read_all
from mailtls.dane.answer import Answer, Status
from mailtls.dane.audit import Served
from mailtls.dane.records import for_cert
from mailtls.probe.live import live_report
from tests.daemons import postfix
from tests.dane.oracle import PKI

AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / name).read_bytes())


def test_the_served_chain_is_judged(tmp_path: Path) -> None:
    chain, key = tmp_path / "fullchain.pem", tmp_path / "key.pem"
    chain.write_bytes((PKI / "leaf-2026-fullchain.pem").read_bytes())
    key.write_bytes((PKI / "leaf-2026.key").read_bytes())
    key.chmod(0o600)
    main = f"smtpd_tls_cert_file = {chain}\nsmtpd_tls_key_file = {key}\nsmtpd_tls_security_level = may\n"
    with postfix(tmp_path, main) as running:
        config = read_all([str(running.config)], {})
        options = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)
        served = Served()
        live_report(audit(config, options), config.listeners, None, 5, served)
        port = running.ports["smtps"]
        sent = [s for s in served.sent if s[2] == port]
        assert [c.subject for c in sent[0][3]] == [
            cert("leaf-2026.pem").subject,
            cert("issuing-r2.pem").subject,
        ]
    endpoint = sent[0][0]
    owner = Owner(endpoint, f"_{port}._tcp.mail.example.org.", (str(chain),))
    old = Answer(owner.name, Status.OK, (for_cert(cert("leaf-rsa.pem"), 3),), secure=True)
    (finding,) = served_findings([owner], {owner.name: old}, served.sent)
    assert finding.code == "tlsa-served-mismatch"
    assert f"matches the chain 127.0.0.1:{port} sends" in finding.message
    new = Answer(owner.name, Status.OK, (for_cert(cert("issuing-r2.pem"), 2),), secure=True)
    assert served_findings([owner], {owner.name: new}, served.sent) == []
