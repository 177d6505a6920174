"""Helpers for the oracle tests: `openssl verify` as a client judges a file, and mailtls' audit
of the same file with the same clock and the same trusted roots (no system trust)."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailtls.models import Report, Severity
from tests.conftest import FIXTURES, audit_served, need_binary

PKI = FIXTURES / "pki"


def day(text: str) -> dt.datetime:
    """Noon UTC on a day: far from any fixture's midnight boundary."""
    return dt.datetime.fromisoformat(text).replace(hour=12, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    output: str  # what openssl said, for the failure message


def openssl_verify(cert_file: Path, roots: tuple[str, ...], at: dt.datetime, tmp: Path) -> Verdict:
    """`openssl verify` of the file as a daemon serves it: its first certificate is the server's,
    the whole file is what the client receives (untrusted), only `roots` are trusted. No
    -x509_strict: what TLS clients do. An empty root list trusts nothing."""
    ca_file = tmp / "roots.pem"
    ca_file.write_bytes(b"".join((PKI / f"{r}.pem").read_bytes() for r in roots))
    first = tmp / "first.pem"
    certs = x509.load_pem_x509_certificates(cert_file.read_bytes())
    first.write_bytes(certs[0].public_bytes(serialization.Encoding.PEM))
    argv = [need_binary("openssl"), "verify", "-attime", str(int(at.timestamp()))]
    argv += ["-no-CApath", "-no-CAstore", "-CAfile", str(ca_file)]
    argv += ["-untrusted", str(cert_file), "-purpose", "sslserver", str(first)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    output = (done.stdout + done.stderr).replace(str(tmp) + "/", "").strip()
    return Verdict(done.returncode == 0 and output.endswith(": OK"), output)


@cache
def _keys() -> dict[str, object]:
    return {
        p.name: serialization.load_pem_private_key(p.read_bytes(), None)
        for p in sorted(PKI.glob("*.key"))
    }


def key_for(cert: x509.Certificate) -> bytes:
    """The fixture key that fits `cert` (every fixture leaf has one)."""
    for name, key in _keys().items():
        if key.public_key() == cert.public_key():  # type: ignore[attr-defined]
            return (PKI / name).read_bytes()
    raise LookupError(f"no fixture key fits {cert.subject.rfc4514_string()}")


def audit_file(
    cert_file: Path, key: bytes, roots: tuple[str, ...], at: dt.datetime, tmp: Path
) -> Report:
    """mailtls' audit of one Dovecot endpoint serving `cert_file` with `key` (mode 0600)."""
    key_file = tmp / "key.pem"
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    return audit_paths(cert_file, key_file, roots, at, tmp / "dovecot.conf")


def audit_paths(
    cert_file: Path, key_file: Path, roots: tuple[str, ...], at: dt.datetime, config: Path
) -> Report:
    """mailtls' audit of one endpoint whose configuration (at `config`) names these files."""
    ca_files = tuple(str(PKI / f"{r}.pem") for r in roots)
    return audit_served(cert_file, key_file, at=at, ca_files=ca_files, config=config)


def errors(report: Report) -> list[str]:
    return sorted(f"{f.code}: {f.message}" for f in report.findings if f.severity is Severity.ERROR)


def summary(report: Report) -> str:
    return "; ".join(f"{f.severity}/{f.code}: {f.message}" for f in report.findings) or "(none)"
