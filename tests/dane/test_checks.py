"""The DANE findings (mailtls/checks/dane.py) from in-memory answers: records computed from
the fixture certificates, judged against a Postfix configuration's chain on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mailtls.checks import dane as dane_checks
from mailtls.checks.dane import Owner, Upcoming, disk_findings, owners, served_findings
from mailtls.checks.registry import CODES
from mailtls.config.discover import read_all
from mailtls.dane.answer import Answer, Status
from mailtls.dane.publish import next_material
from mailtls.dane.records import TlsaRecord, for_cert
from mailtls.models import ConfigResult, Finding
from mailtls.pki.load import FileCache
from tests.dane.oracle import PKI, openssl_data

MX = "_25._tcp.mx.example.org."
SUBMISSION = """smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
submissions inet n      -       y       -       -       smtpd
  -o smtpd_tls_wrappermode=yes
"""


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


def postfix(tmp_path: Path, master: str | None = None, *certs: str) -> ConfigResult:
    """Postfix receiving mail as mx.example.org with leaf-2026 and its issuer (or `certs`)."""
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes(
        b"".join((PKI / f"{c}.pem").read_bytes() for c in certs or ("leaf-2026", "issuing-r2"))
    )
    (tmp_path / "main.cf").write_text(
        "myhostname = mx.example.org\nsmtpd_tls_security_level = may\n"
        f"smtpd_tls_cert_file = {chain}\nsmtpd_tls_key_file = {PKI / 'leaf-2026.key'}\n"
    )
    if master is not None:
        (tmp_path / "master.cf").write_text(master)
    return read_all([str(tmp_path)], {})


def found(config: ConfigResult, answer: Answer, upcoming: Upcoming | None = None) -> list[Finding]:
    checked, _ = owners(config.endpoints, config.listeners)
    return disk_findings(checked, {MX: answer}, FileCache(), upcoming)


def signed(*records: TlsaRecord, owner: str = MX) -> Answer:
    return Answer(owner, Status.OK, records, secure=True)


def test_owners_are_port_25_and_the_submission_ports_with_tls(tmp_path: Path) -> None:
    config = postfix(tmp_path, SUBMISSION)
    checked, notes = owners(config.endpoints, config.listeners)
    assert [o.name for o in checked] == [
        MX,
        "_465._tcp.mx.example.org.",
        "_587._tcp.mx.example.org.",
    ]
    assert {o.files for o in checked} == {(str(tmp_path / "fullchain.pem"),)}
    assert notes == []


def test_without_master_cf_port_25_only_and_names_narrow(tmp_path: Path) -> None:
    config = postfix(tmp_path)
    checked, _ = owners(config.endpoints, config.listeners, ["mail.example.net"])
    assert [o.name for o in checked] == ["_25._tcp.mail.example.net."]


LEAF, ISSUER = "leaf-2026", "issuing-r2"


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("matching_type", [0, 1, 2])
@pytest.mark.parametrize(("usage", "which"), [(3, LEAF), (2, ISSUER)])
def test_a_record_of_the_chain_is_silent(
    tmp_path: Path, usage: int, which: str, selector: int, matching_type: int
) -> None:
    """Usages 3 (the leaf) and 2 (the issuer served), each selector and matching type."""
    record = for_cert(cert(which), usage, selector, matching_type)
    assert found(postfix(tmp_path), signed(record)) == []


@pytest.mark.parametrize(
    ("usage", "which"),
    [(3, "leaf-rsa"), (2, "issuing-r1"), (2, "root"), (3, ISSUER), (2, LEAF)],
    ids=["other-key", "other-ca", "root-not-served", "ee-of-the-ca", "ta-of-the-leaf"],
)
def test_records_of_something_else_are_a_mismatch(tmp_path: Path, usage: int, which: str) -> None:
    (finding,) = found(postfix(tmp_path), signed(for_cert(cert(which), usage)))
    assert finding.code == "tlsa-mismatch"
    assert finding.severity is CODES["tlsa-mismatch"].severity
    assert finding.endpoint == "postfix:global"
    assert finding.path == str(tmp_path / "fullchain.pem")


def test_mismatch_names_owner_published_and_records_to_publish(tmp_path: Path) -> None:
    """The records to publish are openssl's SHA-256 of the leaf's and the issuer's keys."""
    old = for_cert(cert("leaf-rsa"), 3)
    (finding,) = found(postfix(tmp_path), signed(old))
    leaf = openssl_data(PKI / "leaf-2026.pem", 1, 1).hex()
    issuer = openssl_data(PKI / "issuing-r2.pem", 1, 1).hex()
    assert finding.message.startswith(
        f"{MX}: none of the signed TLSA records (3 1 1 {old.data.hex()[:16]})"
    )
    assert f"Publish: {MX} IN TLSA 3 1 1 {leaf}; {MX} IN TLSA 2 1 1 {issuer}" in finding.message


def test_old_and_new_records_side_by_side_are_silent(tmp_path: Path) -> None:
    """The rollover done right: the old key's record and the new one's, both published."""
    answer = signed(for_cert(cert("leaf-rsa"), 3), for_cert(cert(LEAF), 3))
    assert found(postfix(tmp_path), answer) == []


def test_only_the_next_key_matches(tmp_path: Path) -> None:
    """Records of the key about to be deployed, none of the one served: published too early."""
    answer = signed(for_cert(cert("leaf-rsa"), 3))
    certs, key = next_material(str(PKI / "keys" / "leaf-rsa.key"))
    (finding,) = found(postfix(tmp_path), answer, Upcoming("leaf-rsa.key", certs, key))
    assert finding.code == "tlsa-only-next"
    assert "match the next key (leaf-rsa.key)" in finding.message
    # the same with the next certificate given instead of its key
    certs, key = next_material(str(PKI / "leaf-rsa.pem"))
    (finding,) = found(postfix(tmp_path), answer, Upcoming("leaf-rsa.pem", certs, key))
    assert finding.code == "tlsa-only-next"
    # a next key the records do not match either: a plain mismatch
    certs, key = next_material(str(PKI / "leaf-2025.key"))
    (finding,) = found(postfix(tmp_path), answer, Upcoming("leaf-2025.key", certs, key))
    assert finding.code == "tlsa-mismatch"


@pytest.mark.parametrize("matching", [True, False])
def test_unsigned_records_are_a_warning_either_way(tmp_path: Path, matching: bool) -> None:
    which = LEAF if matching else "leaf-rsa"
    answer = Answer(MX, Status.OK, (for_cert(cert(which), 3),), secure=False)
    (finding,) = found(postfix(tmp_path), answer)
    assert finding.code == "tlsa-unsigned"
    assert finding.severity.value == "warning"
    assert (
        "either the zone is not signed or the resolver does not validate" in finding.message.lower()
    )
    assert ("they match" in finding.message) is matching


@pytest.mark.parametrize("status", [Status.SERVFAIL, Status.TIMEOUT, Status.ERROR])
def test_a_failed_lookup_says_its_status_and_detail(tmp_path: Path, status: Status) -> None:
    answer = Answer(MX, status, detail="127.0.0.1:5353 said so")
    (finding,) = found(postfix(tmp_path), answer)
    assert finding.code == "tlsa-lookup-failed"
    assert f"failed: {status.value} (127.0.0.1:5353 said so)" in finding.message


@pytest.mark.parametrize(
    "answer",
    [
        Answer(MX, Status.NXDOMAIN),
        Answer(MX, Status.NODATA, secure=True),
        signed(TlsaRecord(1, 1, 1, b"\x01" * 32)),  # PKIX-EE: not for SMTP
        signed(TlsaRecord(3, 1, 1, b"\x01" * 20)),  # a digest of the wrong size
        signed(TlsaRecord(3, 2, 1, b"\x01" * 32)),  # an unknown selector
    ],
    ids=["nxdomain", "nodata", "pkix-ee", "short-digest", "unknown-selector"],
)
def test_no_usable_records_is_silent(tmp_path: Path, answer: Answer) -> None:
    assert found(postfix(tmp_path), answer) == []


def test_rsa_and_ecdsa_leaves_in_one_file_must_both_match(tmp_path: Path) -> None:
    """A DANE client that negotiates RSA sees the RSA leaf: one of two matching is not enough."""
    config = postfix(tmp_path, None, "leaf-2026", "leaf-rsa", "issuing-r2")
    (finding,) = found(config, signed(for_cert(cert(LEAF), 3)))
    assert finding.code == "tlsa-mismatch"
    assert found(config, signed(for_cert(cert(ISSUER), 2))) == []


def test_served_chain_is_judged_apart_from_the_disk(tmp_path: Path) -> None:
    """A listener still sending the old chain: the disk matches, what is served does not."""
    config = postfix(tmp_path)
    checked, _ = owners(config.endpoints, config.listeners)
    answers = {MX: signed(for_cert(cert(LEAF), 3))}
    endpoint = config.endpoints[0]
    old = (cert("leaf-rsa"), cert(ISSUER))
    sent = [(endpoint, "127.0.0.1:25", 25, old), (endpoint, "127.0.0.1:587", 587, old)]
    assert disk_findings(checked, answers, FileCache()) == []
    (finding,) = served_findings(checked, answers, sent)
    assert finding.code == "tlsa-served-mismatch"
    assert "matches the chain 127.0.0.1:25 sends" in finding.message
    new = (cert(LEAF), cert(ISSUER))
    assert served_findings(checked, answers, [(endpoint, "127.0.0.1:25", 25, new)]) == []


def test_an_owner_shared_by_endpoints_is_said_for_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judged once, said under each endpoint's own id."""
    calls: list[str] = []
    judge_disk = dane_checks.judge_disk

    def counted(name: str, *rest: Any) -> Any:
        calls.append(name)
        return judge_disk(name, *rest)

    monkeypatch.setattr(dane_checks, "judge_disk", counted)
    config = postfix(tmp_path)
    endpoint = config.endpoints[0]
    files = (str(tmp_path / "fullchain.pem"),)
    other = type(endpoint)(**{**endpoint.__dict__, "id": "postfix:copy"})
    checked = [Owner(endpoint, MX, files), Owner(other, MX, files)]
    findings = disk_findings(checked, {MX: signed(for_cert(cert("leaf-rsa"), 3))}, FileCache())
    assert [f.endpoint for f in findings] == ["postfix:global", "postfix:copy"]
    assert calls == [MX]


def test_an_endpoint_without_a_name_is_said_not_checked(tmp_path: Path) -> None:
    config = postfix(tmp_path)
    (tmp_path / "main.cf").write_text(
        (tmp_path / "main.cf").read_text().replace("myhostname = mx.example.org\n", "")
    )
    config = read_all([str(tmp_path)], {})
    checked, notes = owners(config.endpoints, config.listeners)
    assert checked == []
    assert notes == [
        "postfix:global has no myhostname: its TLSA records are not checked"
        " (set myhostname; --name for a certificate file)"
    ]
