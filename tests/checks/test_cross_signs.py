"""Cross-signed chains judged as clients judge them: the 2020 AddTrust and 2021 DST Root CA X3
histories, rebuilt with the fixture builder (same names, same dates, keys derived from labels).

A client stops at a root it trusts; a cross-sign served beside the path is followed only by
clients without that root. A removed old root is never a missing intermediate.
`openssl verify -attime` is the oracle for "does a client accept this chain".
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from fixtures.build import Issued, issue, key_pem, leaf, pem, utc
from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.run import FixOptions, fix
from mailtls.models import Finding, Report, Severity
from tests.conftest import audit_served


@dataclass(frozen=True)
class History:
    old_root: Issued  # expired: AddTrust External CA Root, DST Root CA X3
    new_root: Issued  # self-signed and trusted: USERTrust RSA, ISRG Root X1
    cross: Issued  # the new root's key, certified by the old root
    issuing: Issued  # Sectigo RSA DV, R3
    leaf: Issued


def dst_2021() -> History:
    """Let's Encrypt 2021-2024: DST Root CA X3 expired 2021-09-30, the cross-sign of ISRG Root
    X1 by it ran to 2024-09-30, and the default chain served it."""
    dst = issue("t-dst", "DST Root CA X3", None, (utc(2000, 9, 30), utc(2021, 9, 30)), ca=True)
    isrg = issue("t-isrg", "ISRG Root X1", None, (utc(2015, 6, 4), utc(2035, 6, 4)), ca=True)
    cross = issue(
        "t-isrg-cross", "ISRG Root X1", dst, (utc(2021, 1, 20), utc(2024, 9, 30)), ca=True,
        key=isrg.key,
    )  # fmt: skip
    r3 = issue("t-r3", "R3", isrg, (utc(2020, 9, 4), utc(2025, 9, 15)), ca=True)
    mail = leaf("t-le-leaf", r3, (utc(2021, 8, 1), utc(2025, 8, 1)))
    return History(dst, isrg, cross, r3, mail)


def addtrust_2020() -> History:
    """Sectigo 2020: AddTrust External CA Root and its cross-sign of USERTrust both expired on
    2020-05-30; the self-signed USERTrust was in every current store."""
    addtrust = issue(
        "t-addtrust", "AddTrust External CA Root", None, (utc(2000, 5, 30), utc(2020, 5, 30)),
        ca=True,
    )  # fmt: skip
    usertrust = issue(
        "t-usertrust", "USERTrust RSA Certification Authority", None,
        (utc(2010, 2, 1), utc(2038, 1, 18)), ca=True,
    )  # fmt: skip
    cross = issue(
        "t-usertrust-cross", "USERTrust RSA Certification Authority", addtrust,
        (utc(2000, 5, 30), utc(2020, 5, 30)), ca=True, key=usertrust.key,
    )  # fmt: skip
    dv = issue(
        "t-sectigo-dv", "Sectigo RSA Domain Validation Secure Server CA", usertrust,
        (utc(2018, 11, 2), utc(2030, 12, 31)), ca=True,
    )  # fmt: skip
    mail = leaf("t-sectigo-leaf", dv, (utc(2020, 3, 1), utc(2022, 3, 1)))
    return History(addtrust, usertrust, cross, dv, mail)


def audit_file(
    tmp_path: Path, served: list[Issued], trusted: list[Issued], at: dt.datetime
) -> Report:
    (tmp_path / "cert.pem").write_bytes(pem(*(c.cert for c in served)))
    (tmp_path / "key.pem").write_bytes(key_pem(served[0].key))
    (tmp_path / "key.pem").chmod(0o600)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(pem(*(c.cert for c in trusted)))
    return audit_served(tmp_path / "cert.pem", tmp_path / "key.pem", at=at, ca_files=(str(roots),))


def openssl_accepts(tmp_path: Path, at: dt.datetime) -> bool:
    """`openssl verify` of the served file as a client gets it: first certificate the leaf,
    the rest untrusted, at `at`."""
    served = (tmp_path / "cert.pem").read_text()
    blocks = served.split("-----END CERTIFICATE-----\n")[:-1]
    (tmp_path / "leaf.pem").write_text(blocks[0] + "-----END CERTIFICATE-----\n")
    (tmp_path / "rest.pem").write_text(
        "".join(b + "-----END CERTIFICATE-----\n" for b in blocks[1:])
    )
    untrusted = ["-untrusted", "rest.pem"] if blocks[1:] else []
    done = subprocess.run(
        ["openssl", "verify", "-attime", str(int(at.timestamp())), "-purpose", "sslserver",
         "-CAfile", "roots.pem", *untrusted, "leaf.pem"],
        cwd=tmp_path, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode == 0


def said(report: Report) -> list[tuple[str, Severity]]:
    return sorted((f.code, f.severity) for f in report.findings)


def one(report: Report, code: str) -> Finding:
    (found,) = [f for f in report.findings if f.code == code]
    return found


AFTER_DST = utc(2023, 1, 1)
BEFORE_DST = utc(2021, 9, 1)
AFTER_ADDTRUST = utc(2020, 6, 15)


def test_dst_cross_sign_after_the_old_root_expired(tmp_path: Path) -> None:
    """Leaf, R3, ISRG X1 cross-signed by DST (valid to 2024) in 2023, both roots in the store:
    clients accept it; the cross-sign is dead because DST above it expired."""
    h = dst_2021()
    report = audit_file(tmp_path, [h.leaf, h.issuing, h.cross], [h.new_root, h.old_root], AFTER_DST)
    assert openssl_accepts(tmp_path, AFTER_DST)
    assert said(report) == [("expired-cross-sign", Severity.WARNING)]
    message = one(report, "expired-cross-sign").message
    assert "'DST Root CA X3' above it expired on 2021-09-30" in message
    assert report.chains[0].trusted


def test_dst_cross_sign_with_dst_removed_from_the_store(tmp_path: Path) -> None:
    """The same in 2023 with a current store (DST Root CA X3 removed, as Debian did): trusted,
    the cross-sign only mentioned; the removed root is never a missing intermediate."""
    h = dst_2021()
    report = audit_file(tmp_path, [h.leaf, h.issuing, h.cross], [h.new_root], AFTER_DST)
    assert openssl_accepts(tmp_path, AFTER_DST)
    assert said(report) == [("cross-sign-served", Severity.INFO)]
    assert "'DST Root CA X3'" in one(report, "cross-sign-served").message
    assert report.chains[0].trusted


def test_dst_cross_sign_before_the_old_root_expired_is_only_mentioned(tmp_path: Path) -> None:
    """In 2021-09 both roots were alive: the cross-sign helped old Android; nothing is wrong."""
    h = dst_2021()
    report = audit_file(
        tmp_path, [h.leaf, h.issuing, h.cross], [h.new_root, h.old_root], BEFORE_DST
    )
    assert openssl_accepts(tmp_path, BEFORE_DST)
    assert said(report) == [("cross-sign-served", Severity.INFO)]
    assert report.chains[0].trusted


def test_expired_old_root_served_is_a_root_in_the_chain_not_an_intermediate(
    tmp_path: Path,
) -> None:
    """The file also holds the expired DST root: root-in-chain that says it expired; no
    untrusted-root, no expired-intermediate."""
    h = dst_2021()
    served = [h.leaf, h.issuing, h.cross, h.old_root]
    report = audit_file(tmp_path, served, [h.new_root], AFTER_DST)
    assert openssl_accepts(tmp_path, AFTER_DST)
    assert said(report) == [
        ("expired-cross-sign", Severity.WARNING),
        ("root-in-chain", Severity.INFO),
    ]
    assert "'DST Root CA X3', expired on 2021-09-30" in one(report, "root-in-chain").message
    assert report.chains[0].trusted


def test_only_the_expired_old_root_trusted_is_an_error(tmp_path: Path) -> None:
    """A store that holds only DST (and not ISRG X1) in 2023: clients refuse the chain."""
    h = dst_2021()
    report = audit_file(tmp_path, [h.leaf, h.issuing, h.cross], [h.old_root], AFTER_DST)
    assert not openssl_accepts(tmp_path, AFTER_DST)
    assert ("expired-root", Severity.ERROR) in said(report)
    assert "missing-intermediate" not in [code for code, _ in said(report)]
    assert not report.chains[0].trusted


def test_short_chain_is_silent(tmp_path: Path) -> None:
    h = dst_2021()
    report = audit_file(tmp_path, [h.leaf, h.issuing], [h.new_root], AFTER_DST)
    assert openssl_accepts(tmp_path, AFTER_DST)
    assert said(report) == []


@pytest.mark.parametrize("old_root_trusted", [False, True], ids=["addtrust-removed", "kept"])
def test_addtrust_cross_sign_expired_itself(tmp_path: Path, old_root_trusted: bool) -> None:
    """June 2020: leaf, Sectigo DV, USERTrust cross-signed by AddTrust (both expired 05-30)."""
    h = addtrust_2020()
    trusted = [h.new_root, h.old_root] if old_root_trusted else [h.new_root]
    report = audit_file(tmp_path, [h.leaf, h.issuing, h.cross], trusted, AFTER_ADDTRUST)
    assert openssl_accepts(tmp_path, AFTER_ADDTRUST)
    assert said(report) == [("expired-cross-sign", Severity.WARNING)]
    assert "and it expired on 2020-05-30" in one(report, "expired-cross-sign").message
    assert report.chains[0].trusted


def test_addtrust_chain_with_only_the_old_root_trusted(tmp_path: Path) -> None:
    """The clients that broke in 2020: only AddTrust in their store."""
    h = addtrust_2020()
    report = audit_file(tmp_path, [h.leaf, h.issuing, h.cross], [h.old_root], AFTER_ADDTRUST)
    assert not openssl_accepts(tmp_path, AFTER_ADDTRUST)
    assert any(severity is Severity.ERROR for _, severity in said(report))
    assert not report.chains[0].trusted


def test_cross_sign_served_first_shadows_the_path_openssl_would_need(tmp_path: Path) -> None:
    """2017: Let's Encrypt Authority X3 existed signed by ISRG X1 and cross-signed by DST. A
    file serving the cross-sign first: with only ISRG X1 trusted, OpenSSL takes the first X3
    and fails (it does not backtrack); a path exists through the second. That is an error."""
    dst = issue("t17-dst", "DST Root CA X3", None, (utc(2000, 9, 30), utc(2021, 9, 30)), ca=True)
    isrg = issue("t17-isrg", "ISRG Root X1", None, (utc(2015, 6, 4), utc(2035, 6, 4)), ca=True)
    x3_dst = issue("t17-x3-dst", "Authority X3", dst, (utc(2016, 3, 17), utc(2021, 3, 17)), ca=True)
    x3 = issue(
        "t17-x3-isrg", "Authority X3", isrg, (utc(2016, 10, 6), utc(2021, 10, 6)), ca=True,
        key=x3_dst.key,
    )  # fmt: skip
    mail = leaf("t17-leaf", x3, (utc(2017, 7, 20), utc(2017, 10, 18)))
    at = utc(2017, 8, 4)
    report = audit_file(tmp_path, [mail, x3_dst, x3], [isrg], at)
    assert not openssl_accepts(tmp_path, at)
    assert said(report) == [
        ("cross-sign-served", Severity.INFO),
        ("shadowed-path", Severity.ERROR),
    ]
    assert (
        "serves 'Authority X3' (issued by 'DST Root CA X3') before"
        in one(report, "shadowed-path").message
    )
    conf = tmp_path / "dovecot.conf"
    conf.write_text(f"ssl_cert = <{tmp_path}/cert.pem\nssl_key = <{tmp_path}/key.pem\n")
    settings = AuditOptions(at=at, ca_files=(str(tmp_path / "roots.pem"),), system_trust=False)
    fixed = fix(read_all([str(conf)], {}), FixOptions(audit=settings, offline=True, backup=False))
    # The path openssl needs first; the cross-sign, alive, kept after it for the clients of
    # 2017 that trusted only DST (the fixer keeps a live cross-sign when it rebuilds).
    assert fixed.after is not None and said(fixed.after) == [("cross-sign-served", Severity.INFO)]
    served = x509.load_pem_x509_certificates((tmp_path / "cert.pem").read_bytes())
    assert served == [mail.cert, x3.cert, x3_dst.cert]
    assert openssl_accepts(tmp_path, at)
