"""Private CAs made the way admins make them (`openssl req -x509`) are trusted as OpenSSL trusts
them: no keyUsage on the root is fine, a keyUsage without keyCertSign is not.

The certificates are made by the real openssl at test time (it is the oracle: the same command
the `untrusted-root` hint tells admins to use); the clock is pinned a day after they start.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from mailtls.models import Report
from tests.conftest import audit_served

NEW_KEY = {
    "ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "rsa": ["-newkey", "rsa:2048"],
}


def openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=60
    )


def private_ca(tmp_path: Path, kind: str, ca_extensions: str = "") -> None:
    """root.pem as `openssl req -x509` makes it (optionally with extra CA extensions), and a
    leaf for mail.corp.test signed by it, with its key."""
    extra = ["-addext", ca_extensions] if ca_extensions else []
    openssl("req", "-x509", *NEW_KEY[kind], "-nodes", "-keyout", "root.key", "-out", "root.pem",
            "-subj", "/CN=Corp Private Root", "-days", "3650", *extra, cwd=tmp_path)  # fmt: skip
    openssl("req", *NEW_KEY[kind], "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
            "-subj", "/CN=mail.corp.test", cwd=tmp_path)  # fmt: skip
    (tmp_path / "ext").write_text(
        "subjectAltName=DNS:mail.corp.test\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-out", "leaf.pem", "-days", "365", "-extfile", "ext", cwd=tmp_path)  # fmt: skip
    (tmp_path / "leaf.key").chmod(0o600)


def audit_leaf(tmp_path: Path) -> tuple[Report, dt.datetime]:
    leaf = x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())
    at = leaf.not_valid_before_utc + dt.timedelta(days=1)
    report = audit_served(
        tmp_path / "leaf.pem", tmp_path / "leaf.key", at=at,
        ca_files=(str(tmp_path / "root.pem"),), names=("mail.corp.test",),
    )  # fmt: skip
    return report, at


def openssl_verifies(tmp_path: Path, at: dt.datetime) -> bool:
    done = subprocess.run(
        ["openssl", "verify", "-attime", str(int(at.timestamp())), "-purpose", "sslserver",
         "-CAfile", "root.pem", "leaf.pem"],
        cwd=tmp_path, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode == 0


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_private_root_without_key_usage_is_trusted(tmp_path: Path, kind: str) -> None:
    """`openssl req -x509` gives the root no keyUsage: OpenSSL trusts it, so must mailtls."""
    private_ca(tmp_path, kind)
    root = x509.load_pem_x509_certificate((tmp_path / "root.pem").read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.KeyUsage)
    report, at = audit_leaf(tmp_path)
    assert openssl_verifies(tmp_path, at)
    assert [f.code for f in report.findings] == []
    assert report.chains[0].trusted


def test_root_whose_key_usage_forbids_signing_is_not_trusted(tmp_path: Path) -> None:
    """A keyUsage that leaves out keyCertSign: OpenSSL refuses, and mailtls says why."""
    private_ca(tmp_path, "ecdsa", "keyUsage=critical,digitalSignature")
    report, at = audit_leaf(tmp_path)
    assert not openssl_verifies(tmp_path, at)
    (untrusted,) = [f for f in report.findings if f.code == "untrusted-chain"]
    assert "keyCertSign" in untrusted.message
    assert not report.chains[0].trusted
