"""Hostile certificate and key files: bounded in time, problems as data, never a crash."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtls.fix.plan import rewrite
from mailtls.models import Report
from mailtls.pki.load import load_file, parse
from mailtls.report import text
from tests.conftest import FIXTURES, audit_served
from tests.pki.malformed import EDITS, long_chain, malformed_pem

PKI = FIXTURES / "pki"
LEAF = (PKI / "leaf-2026.pem").read_bytes()
CA = (PKI / "issuing-r2.pem").read_bytes()
KEY = (PKI / "leaf-2026.key").read_bytes()
MEGABYTE = 1024 * 1024
# Linear work on a few MB takes milliseconds; the quadratic scan took over 20 s per MB.
BOUND_SECONDS = 2.0

AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)

T = TypeVar("T")


def audit_one(
    tmp_path: Path, served: bytes, key_file: str | None = None, **options: object
) -> Report:
    """Audit one Dovecot endpoint serving these bytes, with the clock pinned."""
    cert_file = tmp_path / "cert.pem"
    cert_file.write_bytes(served)
    options.setdefault("ca_files", ())
    return audit_served(cert_file, key_file, at=AT, **options)  # type: ignore[arg-type]


def timed(work: Callable[[], T]) -> T:
    start = time.monotonic()
    result = work()
    elapsed = time.monotonic() - start
    assert elapsed < BOUND_SECONDS, f"took {elapsed:.1f} s"
    return result


def unterminated(label: bytes, size: int = MEGABYTE) -> bytes:
    line = b"-----BEGIN " + label + b"-----\n"
    return line * (size // len(line))


def test_unterminated_certificate_lines_then_a_certificate_parse_in_linear_time() -> None:
    """1 MB of BEGIN lines without END, then a real leaf: the leaf is found, quickly."""
    blocks, _ = timed(lambda: parse(unterminated(b"CERTIFICATE") + LEAF))
    assert [b.kind for b in blocks] == ["cert"]


def test_unterminated_lines_with_crlf_and_mixed_labels() -> None:
    data = (unterminated(b"PRIVATE KEY") + unterminated(b"CERTIFICATE")).replace(b"\n", b"\r\n")
    blocks, _ = timed(lambda: parse(data + KEY + CA))
    assert [b.kind for b in blocks] == ["key", "cert"]


def test_key_file_of_unterminated_lines(tmp_path: Path) -> None:
    (tmp_path / "mail.key").write_bytes(unterminated(b"PRIVATE KEY", 3 * MEGABYTE) + KEY)
    loaded = timed(lambda: load_file(str(tmp_path / "mail.key")))
    assert len(loaded.keys) == 1


def test_file_beside_the_certificate_of_unterminated_lines(tmp_path: Path) -> None:
    """A sibling the candidate search reads: 4 MB (the size bound) of BEGIN lines."""
    (tmp_path / "chain.pem").write_bytes(unterminated(b"CERTIFICATE", 4 * MEGABYTE - 2048))
    loaded = timed(lambda: load_file(str(tmp_path / "chain.pem")))
    assert loaded.problem == "not-a-certificate"


def test_rewrite_keeps_unterminated_lines_and_is_linear() -> None:
    """The fixer's block finder: the same pairing, so the same bound."""
    junk = unterminated(b"CERTIFICATE")
    leaf = x509.load_pem_x509_certificate(LEAF)
    new = timed(lambda: rewrite(LEAF + junk, [leaf]))
    assert new == LEAF + junk


def test_end_before_begin_and_nested_begin_pair_as_openssl_reads_them() -> None:
    """A stray END first, a BEGIN inside a block: the first END of the same label closes."""
    data = b"-----END CERTIFICATE-----\n" + LEAF + CA
    blocks, bad = parse(data)
    assert len(blocks) == 2 and not bad


BIG_RSA = Path(__file__).parent / "data"


def test_16384_bit_rsa_key_loads_quickly_and_is_too_large(tmp_path: Path) -> None:
    """The key check compares public halves: no 29.5 s prime proof; the size is a warning."""
    key_file = tmp_path / "big.key"
    key_file.write_bytes((BIG_RSA / "rsa16384.key").read_bytes())
    key_file.chmod(0o600)
    loaded = timed(lambda: load_file(str(key_file)))
    assert len(loaded.keys) == 1
    report = timed(
        lambda: audit_one(
            tmp_path, (BIG_RSA / "rsa16384.pem").read_bytes(), str(key_file), warn_days=1
        )
    )
    assert sorted(f.code for f in report.findings) == ["key-too-large", "self-signed"]


@pytest.mark.parametrize("case", sorted(EDITS))
def test_malformed_certificate_served_is_a_finding(tmp_path: Path, case: str) -> None:
    """Alone in the served file: malformed-cert, never an exception or a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = audit_one(tmp_path, malformed_pem(case))
    found = [f for f in report.findings if f.code == "malformed-cert"]
    assert len(found) == 1 and found[0].path == str(tmp_path / "cert.pem")


@pytest.mark.parametrize("case", sorted(EDITS))
def test_malformed_intermediate_is_set_aside_and_the_chain_judged(
    tmp_path: Path, case: str
) -> None:
    """After a good leaf: said, and the leaf's chain judged without it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = audit_one(tmp_path, LEAF + malformed_pem(case, "Example Issuing CA R2"))
    codes = {f.code for f in report.findings}
    assert "malformed-cert" in codes
    assert "malformed-cert-ignored" not in codes  # the served file, met again beside itself
    assert report.chains[0].certs[0].subject == "CN=mail.example.org"


@pytest.mark.parametrize("case", sorted(EDITS))
def test_malformed_certificate_beside_or_trusted_is_no_crash(tmp_path: Path, case: str) -> None:
    """In a file beside the leaf (a candidate issuer) and in --ca-file: passed over."""
    (tmp_path / "chain.pem").write_bytes(malformed_pem(case, "Example Issuing CA R2"))
    (tmp_path / "roots.pem").write_bytes(malformed_pem(case) + (PKI / "root.pem").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = audit_one(tmp_path, LEAF, ca_files=(str(tmp_path / "roots.pem"),))
    # The leaf is served without its key here: key-missing is expected. A certificate with a
    # bad serial is kept (9 roots of Debian's bundle have one); the others are passed over, said.
    passed_over = [] if case.endswith("serial") else ["malformed-cert-ignored"] * 2
    codes = sorted(f.code for f in report.findings)
    assert codes == sorted(["key-missing", "missing-intermediate", *passed_over])
    paths = sorted(f.path or "" for f in report.findings if f.code == "malformed-cert-ignored")
    assert paths == (
        [str(tmp_path / "chain.pem"), str(tmp_path / "roots.pem")] if passed_over else []
    )


def test_zero_serial_is_kept_and_said(tmp_path: Path) -> None:
    """OpenSSL serves it; RFC 5280 and Go (negative) refuse it: kept in the chain, and said."""
    report = audit_one(tmp_path, malformed_pem("negative-serial"))
    assert [c.serial for c in report.chains[0].certs] == ["-1"]
    assert "zero or negative" in report.findings[0].message


PINNED = ("--at", "2026-11-29")  # with the system bundle: 9 roots there have such serials


def test_no_deprecation_warning_reaches_stderr(tmp_path: Path) -> None:
    """The command line, a negative serial served: a finding on stdout, stderr silent."""
    (tmp_path / "cert.pem").write_bytes(malformed_pem("negative-serial"))
    (tmp_path / "dovecot.conf").write_text(f"ssl_cert = <{tmp_path}/cert.pem\n")
    done = subprocess.run(
        [sys.executable, "-m", "mailtls", "audit", str(tmp_path / "dovecot.conf"), *PINNED],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (1, "")
    assert "malformed-cert" in done.stdout


def served(chain: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def test_2001_certificates_upside_down_are_judged_quickly_and_said(tmp_path: Path) -> None:
    """Root first, leaf last: the path is followed by name (it took over 20 s), and the
    length is a finding."""
    chain = long_chain(2001)
    report = timed(lambda: audit_one(tmp_path, served(chain[::-1]), warn_days=1))
    codes = sorted(f.code for f in report.findings)
    # The leaf comes last: the daemon would serve the root as its own certificate.
    assert codes == ["chain-too-long", "key-missing", "leaf-not-first", "untrusted-root"]
    assert report.chains[0].certs[0].subject == "CN=CA 1999"


def test_100_certificates_are_not_too_long(tmp_path: Path) -> None:
    report = audit_one(tmp_path, served(long_chain(100)), warn_days=1)
    assert "chain-too-long" not in {f.code for f in report.findings}


LEAF_DER = x509.load_pem_x509_certificate(LEAF).public_bytes(serialization.Encoding.DER)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(LEAF_DER) - 1), st.integers(0, 255)), min_size=1, max_size=4
    )
)
def test_a_certificate_with_bytes_changed_is_never_a_crash(
    tmp_path: Path, edits: list[tuple[int, int]]
) -> None:
    """Any byte of the served leaf changed: findings (malformed-cert, not-a-certificate, ...)
    and a report, never an exception, never a warning."""
    der = bytearray(LEAF_DER)
    for index, value in edits:
        der[index] = value
    pem = (
        b"-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(bytes(der))
        + b"-----END CERTIFICATE-----\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = audit_one(tmp_path, pem + CA)
    text.render(report)
    assert report.findings
