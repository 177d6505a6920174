"""Every finding code fires on a fixture made for it, and a correct chain is silent.

Certificates come from fixtures/build.py (fixed dates); the clock is pinned with `at`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from mailtls.audit import AuditOptions, audit
from mailtls.checks.registry import CODES
from mailtls.models import ConfigResult, Location, Report
from tests.conftest import FIXTURES, audit_served

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
TRUST = (str(PKI / "root.pem"), str(PKI / "legacy-root.pem"))


def run_audit(
    tmp_path: Path,
    certs: list[str],
    key: str | None,
    *,
    names: tuple[str, ...] = (),
    at: dt.datetime = AT,
    key_mode: int = 0o600,
    **options: object,
) -> Report:
    """Serve `certs` (fixture names, in this order) with `key` from a server at tmp_path."""
    (tmp_path / "cert.pem").write_bytes(b"".join((PKI / f"{c}.pem").read_bytes() for c in certs))
    if key is not None:
        (tmp_path / "key.pem").write_bytes((PKI / f"{key}.key").read_bytes())
        (tmp_path / "key.pem").chmod(key_mode)
    return audit_server(tmp_path, names=names, at=at, **options)


def audit_server(
    tmp_path: Path, *, names: tuple[str, ...] = (), at: dt.datetime = AT, **options: object
) -> Report:
    """Audit the server whose cert.pem and key.pem are in tmp_path (as run_audit wrote them)."""
    options.setdefault("ca_files", TRUST)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    return audit_served(cert, key, at=at, names=names, **options)  # type: ignore[arg-type]


def codes(report: Report) -> list[str]:
    return sorted(f.code for f in report.findings)


def test_correct_chain_is_silent(tmp_path: Path) -> None:
    """Leaf then its issuer, the matching key at 0600: nothing to say, and it is trusted."""
    report = run_audit(
        tmp_path, ["leaf-2026", "issuing-r2"], "leaf-2026", names=("imap.example.org",)
    )
    assert codes(report) == []
    (chain,) = report.chains
    assert chain.trusted
    assert [c.subject for c in chain.certs] == [
        "CN=mail.example.org",
        "CN=Example Issuing CA R2,O=Example Trust Services",
    ]


def test_correct_rsa_chain_is_silent(tmp_path: Path) -> None:
    report = run_audit(tmp_path, ["leaf-rsa", "issuing-r2"], "leaf-rsa")
    assert codes(report) == []
    assert report.chains[0].certs[0].key_type == "RSA"


# (served certificates, key, extra options, the codes that must fire, nothing more)
CASES = {
    "missing-intermediate": (["leaf-2026"], "leaf-2026", {}, ["missing-intermediate"]),
    # The daemons take the first certificate as theirs and match the key against it.
    "leaf-not-first": (["issuing-r2", "leaf-2026"], "leaf-2026", {}, ["leaf-not-first"]),
    "chain-order": (
        ["leaf-private", "other-root", "other-issuing"],
        "leaf-private",
        {"ca_files": (*TRUST, str(PKI / "other-root.pem"))},
        ["chain-order", "root-in-chain"],
    ),
    "root-in-chain": (["leaf-2026", "issuing-r2", "root"], "leaf-2026", {}, ["root-in-chain"]),
    "unrelated-cert": (
        ["leaf-2026", "issuing-r2", "issuing-r1"],
        "leaf-2026",
        {},
        ["unrelated-cert"],
    ),
    "duplicate-cert": (
        ["leaf-2026", "issuing-r2", "issuing-r2"],
        "leaf-2026",
        {},
        ["duplicate-cert"],
    ),
    "bad-signature": (
        ["leaf-2026", "issuing-r2-other-key"],
        "leaf-2026",
        {},
        ["bad-signature", "missing-intermediate"],
    ),
    "expired-intermediate": (
        ["leaf-r1-long", "issuing-r1"],
        "leaf-r1-long",
        {},
        ["expired-intermediate"],
    ),
    "intermediate-expires-before-leaf": (
        ["leaf-r1-long", "issuing-r1"],
        "leaf-r1-long",
        {"at": dt.datetime(2025, 12, 1, tzinfo=dt.UTC)},
        ["intermediate-expires-before-leaf"],
    ),
    "expired-cross-sign": (
        ["leaf-2026", "issuing-r2", "root-x1-cross"],
        "leaf-2026",
        {},
        ["expired-cross-sign"],
    ),
    "untrusted-root": (
        ["leaf-private", "other-issuing", "other-root"],
        "leaf-private",
        {},
        ["untrusted-root"],
    ),
    "key-mismatch": (["leaf-2026", "issuing-r2"], "leaf-rsa", {}, ["key-mismatch"]),
    "key-permissions": (
        ["leaf-2026", "issuing-r2"],
        "leaf-2026",
        {"key_mode": 0o644},
        ["key-permissions"],
    ),
    "key-missing": (["leaf-2026", "issuing-r2"], None, {}, ["key-missing"]),
    "cert-expired": (
        ["leaf-2025", "issuing-r1"],
        "leaf-2025",
        {},
        ["cert-expired", "expired-intermediate"],
    ),
    "cert-not-yet-valid": (
        ["leaf-2026", "issuing-r2"],
        "leaf-2026",
        {"at": dt.datetime(2026, 10, 1, tzinfo=dt.UTC)},
        ["cert-not-yet-valid"],
    ),
    "cert-expiring": (
        ["leaf-6-days", "issuing-r2"],
        "leaf-6-days",
        {"at": dt.datetime(2026, 11, 30, tzinfo=dt.UTC)},
        ["cert-expiring"],
    ),
    "name-mismatch": (
        ["leaf-2026", "issuing-r2"],
        "leaf-2026",
        {"names": ("mail.example.net",)},
        ["name-mismatch"],
    ),
    "weak-key": (["leaf-rsa-1024", "issuing-r2"], "leaf-rsa-1024", {}, ["weak-key"]),
    "weak-signature": (["leaf-sha1"], "leaf-rsa", {}, ["self-signed", "weak-signature"]),
    "self-signed": (["self-signed"], "self-signed", {}, ["self-signed"]),
    "untrusted-chain": (
        ["leaf-under-leaf", "leaf-2026", "issuing-r2"],
        "leaf-under-leaf",
        {},
        ["untrusted-chain"],
    ),
    "not-server-cert": (
        ["leaf-client-only", "issuing-r2"],
        "leaf-client-only",
        {},
        ["not-server-cert"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_code_fires_alone(tmp_path: Path, case: str) -> None:
    certs, key, options, expected = CASES[case]
    report = run_audit(tmp_path, certs, key, **options)  # type: ignore[arg-type]
    assert codes(report) == expected
    for finding in report.findings:
        assert finding.severity == CODES[finding.code].severity
        assert finding.endpoint == "dovecot:global"
        assert finding.source == Location(str(tmp_path / "dovecot.conf"), 3)


def test_missing_intermediate_names_the_candidate_it_found(tmp_path: Path) -> None:
    """With --intermediates holding both R1 and R2 (look-alike names), only R2 signed the leaf."""
    pool = tmp_path / "pool"
    pool.mkdir()
    for name in ("issuing-r1", "issuing-r2", "issuing-r2-other-key"):
        (pool / f"{name}.pem").write_bytes((PKI / f"{name}.pem").read_bytes())
    report = run_audit(tmp_path, ["leaf-2026"], "leaf-2026", intermediates=(str(pool),))
    (finding,) = report.findings
    assert finding.code == "missing-intermediate"
    assert "'Example Issuing CA R2'" in finding.message
    assert f"a matching certificate is in {pool}/issuing-r2.pem" in finding.message
    assert finding.fixable


def test_sibling_file_is_a_candidate(tmp_path: Path) -> None:
    (tmp_path / "chain.pem").write_bytes((PKI / "issuing-r2.pem").read_bytes())
    (finding,) = run_audit(tmp_path, ["leaf-2026"], "leaf-2026").findings
    assert f"a matching certificate is in {tmp_path}/chain.pem" in finding.message


def test_expiring_threshold_follows_lifetime_or_warn_days(tmp_path: Path) -> None:
    """A 6-day certificate with 4 days left is fine by a third of its life, not by --warn-days 5."""
    early = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    assert codes(run_audit(tmp_path, ["leaf-6-days", "issuing-r2"], "leaf-6-days", at=early)) == []
    report = run_audit(
        tmp_path, ["leaf-6-days", "issuing-r2"], "leaf-6-days", at=early, warn_days=5
    )
    assert codes(report) == ["cert-expiring"]


def test_encrypted_key_is_reported_not_prompted_for(tmp_path: Path) -> None:
    key = serialization.load_pem_private_key((PKI / "leaf-2026.key").read_bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    report = run_audit(tmp_path, ["leaf-2026", "issuing-r2"], None)
    (tmp_path / "key.pem").write_bytes(encrypted)
    report = audit(
        ConfigResult(report.endpoints), AuditOptions(at=AT, ca_files=TRUST, system_trust=False)
    )
    assert codes(report) == ["key-encrypted"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "file-missing"),
        (b"\x00\x01garbage", "not-a-certificate"),
        (b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "not-a-certificate"),
    ],
    ids=["missing", "binary", "broken-pem"],
)
def test_unusable_certificate_file(tmp_path: Path, content: bytes | None, code: str) -> None:
    report = run_audit(tmp_path, ["leaf-2026"], "leaf-2026")
    cert = tmp_path / "cert.pem"
    if content is None:
        cert.unlink()
    else:
        cert.write_bytes(content)
    report = audit(
        ConfigResult(report.endpoints), AuditOptions(at=AT, ca_files=TRUST, system_trust=False)
    )
    assert codes(report) == [code]


def test_directory_as_certificate_is_unreadable(tmp_path: Path) -> None:
    report = run_audit(tmp_path, ["leaf-2026"], "leaf-2026")
    (tmp_path / "cert.pem").unlink()
    (tmp_path / "cert.pem").mkdir()
    report = audit(
        ConfigResult(report.endpoints), AuditOptions(at=AT, ca_files=TRUST, system_trust=False)
    )
    assert codes(report) == ["file-unreadable"]


# Codes that fire in the tests above outside CASES, and the one no fixture can make.
FIRED_ELSEWHERE = {
    "file-missing",
    "file-unreadable",
    "not-a-certificate",
    "key-encrypted",
    "different-certs",
    "cert-dir-writable",  # tests/checks/test_permissions.py
    "key-too-large",  # tests/pki/test_hostile.py
    "malformed-cert",  # tests/pki/test_hostile.py
    "malformed-cert-ignored",  # tests/pki/test_hostile.py
    "chain-too-long",  # tests/pki/test_hostile.py
}
NO_FIXTURE: dict[str, str] = {}  # code -> why no fixture can make it fire


def test_every_registered_code_has_a_test_that_fires_it() -> None:
    """Audit codes fire above; configuration codes in tests/config, live codes in tests/probe,
    DANE codes in tests/dane and tests/hook, cross-sign codes in test_cross_signs.py (their
    files are scanned)."""
    fired = {code for case in CASES.values() for code in case[3]} | FIRED_ELSEWHERE
    tests = Path(__file__).parent.parent
    config_tests = "".join(
        p.read_text()
        for d in ("config", "probe", "fix", "dane", "hook")
        for p in (tests / d).glob("*.py")
    ) + "".join(
        (tests / "checks" / name).read_text()
        for name in ("test_cross_signs.py", "test_file_forms.py")
    )
    fired |= {code for code in CODES if f'"{code}"' in config_tests}
    assert set(CODES) - fired == set(NO_FIXTURE)
