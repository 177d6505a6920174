"""A certificate file named on the command line is checked alone (issue 8, section 5): what
an admin does with the bundle a CA sent, before installing it."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from tests.conftest import FIXTURES
from tests.test_cli import mailtls

PKI = FIXTURES / "pki"
TRUST = ("--at", "2026-11-29", "--no-system-trust", "--ca-file", str(PKI / "root.pem"))


def bundle(tmp_path: Path, *names: str) -> Path:
    path = tmp_path / "chain.pem"
    path.write_bytes(b"".join((PKI / n).read_bytes() for n in names))
    return path


def codes(stdout: str) -> list[str]:
    return sorted(f["code"] for f in json.loads(stdout)["findings"])


def test_complete_bundle_is_clean_without_a_key(tmp_path: Path) -> None:
    """No --key: the key is not checked (no key-missing); the chain and dates are."""
    path = bundle(tmp_path, "leaf-2026.pem", "issuing-r2.pem")
    done = mailtls("audit", str(path), "--format", "json", *TRUST)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["findings"] == []
    (endpoint,) = report["endpoints"]
    assert endpoint["service"] == "file"
    assert endpoint["cert_file"] == str(path)


def test_leaf_alone_with_wrong_key_and_name(tmp_path: Path) -> None:
    path = bundle(tmp_path, "leaf-2026.pem")
    done = mailtls(
        "audit", str(path), "--key", str(PKI / "leaf-rsa.key"), "--name", "www.example.net",
        "--format", "json", "--ignore", "key-permissions", *TRUST,
    )  # fmt: skip
    assert done.returncode == 1
    assert codes(done.stdout) == ["key-mismatch", "missing-intermediate", "name-mismatch"]


def test_combined_file_checks_its_own_key(tmp_path: Path) -> None:
    path = bundle(tmp_path, "leaf-2026.key", "leaf-2026.pem", "issuing-r2.pem")
    path.chmod(0o600)
    done = mailtls("audit", str(path), "--format", "json", *TRUST)
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["endpoints"][0]["key_file"] == str(path)


def test_fix_completes_the_file_in_place(tmp_path: Path) -> None:
    path = bundle(tmp_path, "leaf-2026.pem")
    done = mailtls(
        "fix", str(path), "--intermediates", str(PKI / "issuing-r2.pem"), "--offline", *TRUST
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "through the symlink" not in done.stdout
    served = x509.load_pem_x509_certificates(path.read_bytes())
    assert [c.subject.rfc4514_string() for c in served] == [
        "CN=mail.example.org",
        "CN=Example Issuing CA R2,O=Example Trust Services",
    ]


def test_config_holding_a_certificate_block_is_still_a_config(tmp_path: Path) -> None:
    """A Dovecot file with settings is read as Dovecot even if a PEM block sits in it."""
    conf = tmp_path / "dovecot.conf"
    conf.write_bytes(
        f"ssl_cert = <{PKI}/leaf-2026-fullchain.pem\nssl_key = <{PKI}/leaf-2026.key\n".encode()
        + (PKI / "leaf-2026.pem").read_bytes()
    )
    done = mailtls("audit", str(conf), *TRUST)
    assert done.returncode == 2
    assert "expecting '=' or '{'" in done.stderr


def test_key_option_without_a_certificate_file_is_a_usage_error() -> None:
    done = mailtls("audit", str(FIXTURES / "demo" / "etc" / "dovecot"), "--key", "/x")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mailtls: error: --key and --name are for a certificate file named on the command line"
    )


def test_footer_names_the_most_severe_code_first(tmp_path: Path) -> None:
    path = bundle(tmp_path, "leaf-2026.pem")
    key = tmp_path / "key.pem"
    key.write_bytes((PKI / "leaf-2026.key").read_bytes())
    key.chmod(0o644)
    done = mailtls("audit", str(path), "--key", str(key), *TRUST)
    assert done.stdout.splitlines()[-1] == (
        "What each code means and how to fix it: mailtls explain missing-intermediate"
        " (also: key-permissions)"
    )
