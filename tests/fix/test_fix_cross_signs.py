"""`mailtls fix` on the 2021 chain: it drops the dead cross-sign and the expired old root, and
never goes looking for the removed root (a removed root is not a missing intermediate)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from fixtures.build import Issued, key_pem, pem
from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.aia import AiaFetcher
from mailtls.fix.run import FixOptions, FixResult, exit_code, fix
from mailtls.report import fix_text
from tests.checks.test_cross_signs import AFTER_DST, dst_2021
from tests.oracle.oracle import day


class CountingFetcher(AiaFetcher):
    """The real fetcher, counting what it is asked for: the test asserts it is asked nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def issuers_of(self, cert: x509.Certificate) -> list[tuple[x509.Certificate, str]]:
        self.asked.append(cert.subject.rfc4514_string())
        return super().issuers_of(cert)


def serve_and_fix(
    tmp_path: Path,
    served: list[Issued],
    key: Issued,
    root: Issued,
    at: dt.datetime,
    *,
    intermediates: tuple[str, ...] = (),
    fetcher: AiaFetcher | None = None,
) -> FixResult:
    """A Dovecot server serving `served` with `key`'s key, fixed at `at` with only `root`
    trusted; online only when a fetcher is given."""
    (tmp_path / "cert.pem").write_bytes(pem(*(c.cert for c in served)))
    (tmp_path / "key.pem").write_bytes(key_pem(key.key))
    (tmp_path / "key.pem").chmod(0o600)
    (tmp_path / "roots.pem").write_bytes(pem(root.cert))
    conf = tmp_path / "dovecot.conf"
    conf.write_text(f"ssl_cert = <{tmp_path}/cert.pem\nssl_key = <{tmp_path}/key.pem\n")
    roots = (str(tmp_path / "roots.pem"),)
    settings = AuditOptions(at=at, ca_files=roots, system_trust=False, intermediates=intermediates)
    options = FixOptions(
        audit=settings, offline=fetcher is None, backup=False, lock_file=str(tmp_path / "lock")
    )
    return fix(read_all([str(conf)], {}), options, fetcher)


def fix_2023(tmp_path: Path, served: list[Issued], fetcher: AiaFetcher | None = None) -> FixResult:
    """The 2021 history's server, fixed in 2023 with only ISRG Root X1 trusted."""
    h = dst_2021()
    return serve_and_fix(tmp_path, served, h.leaf, h.new_root, AFTER_DST, fetcher=fetcher)


def test_fix_drops_dead_cross_sign_and_old_root_without_fetching(tmp_path: Path) -> None:
    h = dst_2021()
    fetcher = CountingFetcher()
    result = fix_2023(tmp_path, [h.leaf, h.issuing, h.cross, h.old_root], fetcher)
    assert fetcher.asked == []
    served = x509.load_pem_x509_certificates((tmp_path / "cert.pem").read_bytes())
    assert served == [h.leaf.cert, h.issuing.cert]
    assert result.after is not None and result.after.findings == ()
    assert exit_code(result, dry_run=False) == 0


def test_fix_says_what_it_removed_and_why(tmp_path: Path) -> None:
    h = dst_2021()
    result = fix_2023(tmp_path, [h.issuing, h.leaf, h.cross, h.old_root, h.issuing])
    text = fix_text.render(result, dry_run=False, diff=True)
    assert (
        "  removed 'ISRG Root X1' (a cross-sign by 'DST Root CA X3': not on the path clients take)"
        in text
    )
    assert (
        "  removed 'DST Root CA X3' (a root, expired on 2021-09-30: clients use their own copy"
        in text
    )
    assert "  removed a second copy of 'R3'" in text


def test_fix_that_only_reorders_says_so(tmp_path: Path) -> None:
    h = dst_2021()
    text = fix_text.render(fix_2023(tmp_path, [h.issuing, h.leaf]), dry_run=False, diff=False)
    assert "  put the leaf first, each issuer after what it signed" in text
    assert "removed" not in text


def test_a_longer_lived_signer_that_leads_nowhere_is_passed_over(tmp_path: Path) -> None:
    """Sectigo's shape, for a store that trusts AddTrust but neither AAA nor USERTrust itself:
    USERTrust is cross-signed by AAA (valid longer, its root not trusted here) and by AddTrust
    (trusted). The fixer once took the longest-lived signer and refused ("no valid
    certificate for AAA"); it now backs out of the dead end and serves the path `openssl
    verify` accepts."""
    from fixtures.build import issue, leaf, utc

    addtrust = issue(
        "t2-addtrust",
        "AddTrust External CA Root",
        None,
        (utc(2000, 5, 30), utc(2020, 5, 30)),
        ca=True,
    )
    aaa = issue(
        "t2-aaa", "AAA Certificate Services", None, (utc(2004, 1, 1), utc(2028, 12, 31)), ca=True
    )
    usertrust = issue(
        "t2-usertrust",
        "USERTrust RSA Certification Authority",
        None,
        (utc(2010, 2, 1), utc(2038, 1, 18)),
        ca=True,
    )
    by_addtrust = issue(
        "t2-ut-addtrust",
        "USERTrust RSA Certification Authority",
        addtrust,
        (utc(2000, 5, 30), utc(2020, 5, 30)),
        ca=True,
        key=usertrust.key,
    )
    by_aaa = issue(
        "t2-ut-aaa",
        "USERTrust RSA Certification Authority",
        aaa,
        (utc(2019, 3, 12), utc(2028, 12, 31)),
        ca=True,
        key=usertrust.key,
    )
    dv = issue(
        "t2-dv",
        "Sectigo RSA Domain Validation Secure Server CA",
        usertrust,
        (utc(2018, 11, 2), utc(2030, 12, 31)),
        ca=True,
    )
    mail = leaf("t2-leaf", dv, (utc(2019, 6, 1), utc(2021, 6, 1)))
    extra = tmp_path / "intermediates"
    extra.mkdir()
    (extra / "bundle.pem").write_bytes(pem(dv.cert, by_aaa.cert, by_addtrust.cert))
    at = utc(2019, 12, 1)
    result = serve_and_fix(tmp_path, [mail], mail, addtrust, at, intermediates=(str(extra),))
    served = x509.load_pem_x509_certificates((tmp_path / "cert.pem").read_bytes())
    assert served == [mail.cert, dv.cert, by_addtrust.cert]
    assert exit_code(result, dry_run=False) == 0
    assert openssl_verify(tmp_path, addtrust, at) == ""


def test_a_rebuild_keeps_a_live_cross_sign_after_the_chain(tmp_path: Path) -> None:
    """March 2020: USERTrust cross-signed by AddTrust is alive, and served for old clients,
    but the renewed file lacks the intermediate (the story). The rebuild used to drop the
    cross-sign while adding the intermediate; it now serves leaf, DV, cross-sign, which
    openssl accepts both with the new root and with only the old one."""
    from tests.checks.test_cross_signs import addtrust_2020

    h = addtrust_2020()
    at = day("2020-03-15")
    (tmp_path / "intermediate.pem").write_bytes(pem(h.issuing.cert))
    result = serve_and_fix(tmp_path, [h.leaf, h.cross], h.leaf, h.new_root, at)
    served = x509.load_pem_x509_certificates((tmp_path / "cert.pem").read_bytes())
    assert served == [h.leaf.cert, h.issuing.cert, h.cross.cert]
    assert exit_code(result, dry_run=False) == 0
    assert result.after is not None
    assert [f.code for f in result.after.findings] == ["cross-sign-served"]
    assert openssl_verify(tmp_path, h.new_root, at) == ""
    assert openssl_verify(tmp_path, h.old_root, at) == ""


def openssl_verify(folder: Path, root: Issued, at: dt.datetime) -> str:
    """What `openssl verify -attime` objects to in folder/cert.pem as served, trusting only
    `root` ("" when it accepts): the client's view of the fixed file."""
    (folder / "anchor.pem").write_bytes(pem(root.cert))
    first = folder / "first.pem"
    first.write_bytes(
        x509.load_pem_x509_certificates((folder / "cert.pem").read_bytes())[0].public_bytes(
            Encoding.PEM
        )
    )
    verify = subprocess.run(
        ["openssl", "verify", "-attime", str(int(at.timestamp())), "-no-CApath", "-no-CAstore",
         "-CAfile", str(folder / "anchor.pem"), "-untrusted", str(folder / "cert.pem"),
         "-purpose", "sslserver", str(first)],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return "" if verify.returncode == 0 else verify.stdout + verify.stderr
