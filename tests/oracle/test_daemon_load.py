"""The real Dovecot 2.3 and Postfix as the oracle for "can the daemon load and serve this file".

One Dovecot and one Postfix (127.0.0.1, high ports) are reloaded with each file shape (both read
the files anew on reload, as after a renewal); a TLS client does the handshake (imaps for Dovecot,
STARTTLS on smtpd for Postfix) and records what is sent. Then mailtls audits the same files.
Rule:
- the daemon serves: mailtls has an error exactly when `openssl verify` rejects what was sent;
- the daemon refuses: mailtls has an error it would not have for the same certificates as a
  plain PEM file, leaf first, with the right key (an error about the file itself, not the chain).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from mailtls.models import Report, Severity
from tests.oracle.oracle import PKI, audit_paths, day, openssl_verify, summary
from tests.oracle.sessions import DovecotSession, PostfixSession, sessions

Session = DovecotSession | PostfixSession

LEAF, ISSUER, ROOT = "leaf-2026", "issuing-r2", "root"
ROOTS = (ROOT,)
AT = day("2026-11-29")


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


def pem(*names: str) -> bytes:
    return b"".join((PKI / f"{n}.pem").read_bytes() for n in names)


def key(name: str = LEAF) -> bytes:
    return (PKI / f"{name}.key").read_bytes()


def pkcs7_of(encoding: serialization.Encoding, *names: str) -> bytes:
    return pkcs7.serialize_certificates([cert(n) for n in names], encoding)


def with_bag_text(*names: str) -> bytes:
    """What `openssl pkcs12 -nokeys` writes: attribute text before each PEM block."""
    return (
        b"".join(
            b"Bag Attributes\n    friendlyName: mail\nsubject="
            + cert(n).subject.rfc4514_string().encode()
            + b"\n\n"
            + pem(n)
            + b"\n"
            for n in names
        )
        + b"trailing text\n"
    )


@dataclass(frozen=True)
class Shape:
    cert: bytes
    key: bytes | None  # None: the key is in the certificate file (both settings name it)
    baseline: tuple[str, ...]  # the same certificates as a plain PEM file, leaf first


SHAPES = {
    "good": Shape(pem(LEAF, ISSUER), key(), (LEAF, ISSUER)),
    "leaf-only": Shape(pem(LEAF), key(), (LEAF,)),
    "intermediate-first": Shape(pem(ISSUER, LEAF), key(), (LEAF, ISSUER)),
    "root-first": Shape(pem(ROOT, LEAF, ISSUER), key(), (LEAF, ISSUER, ROOT)),
    "leaf-root-intermediate": Shape(pem(LEAF, ROOT, ISSUER), key(), (LEAF, ISSUER, ROOT)),
    "pkcs7-pem": Shape(pkcs7_of(serialization.Encoding.PEM, LEAF, ISSUER), key(), (LEAF, ISSUER)),
    "pkcs7-der": Shape(pkcs7_of(serialization.Encoding.DER, LEAF, ISSUER), key(), (LEAF, ISSUER)),
    "der-cert": Shape(cert(LEAF).public_bytes(serialization.Encoding.DER), key(), (LEAF,)),
    "key-first-combined": Shape(key() + pem(LEAF, ISSUER), None, (LEAF, ISSUER)),
    "crlf": Shape(pem(LEAF, ISSUER).replace(b"\n", b"\r\n"), key(), (LEAF, ISSUER)),
    "duplicate-leaf": Shape(pem(LEAF, LEAF, ISSUER), key(), (LEAF, LEAF, ISSUER)),
    "text-around-blocks": Shape(with_bag_text(LEAF, ISSUER), key(), (LEAF, ISSUER)),
    "key-of-other-cert": Shape(pem(LEAF, ISSUER), key("leaf-2025"), (LEAF, ISSUER)),
    "key-of-other-type": Shape(pem(LEAF, ISSUER), key("leaf-rsa"), (LEAF, ISSUER)),
}


def write_files(folder: Path, shape: Shape) -> tuple[Path, Path]:
    """The shape's certificate file and key file (the same file when the key is inside)."""
    folder.mkdir(parents=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(shape.cert)
    cert_file.chmod(0o600)
    if shape.key is None:
        return cert_file, cert_file
    key_file.write_bytes(shape.key)
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Session]]:
    """One Dovecot and one Postfix for the whole module, reloaded per shape."""
    root = tmp_path_factory.mktemp("daemons")
    cert_file, key_file = write_files(root / "start", SHAPES["good"])
    with sessions(root, cert_file, key_file) as (imap, smtp):
        yield {"dovecot": imap, "postfix": smtp}


def errors(report: Report) -> set[str]:
    return {f.code for f in report.findings if f.severity is Severity.ERROR}


def baseline_errors(tmp_path: Path, names: tuple[str, ...]) -> set[str]:
    plain = tmp_path / "baseline"
    plain.mkdir()
    (plain / "cert.pem").write_bytes(pem(*names))
    (plain / "key.pem").write_bytes(key())
    (plain / "key.pem").chmod(0o600)
    return errors(audit_paths(plain / "cert.pem", plain / "key.pem", ROOTS, AT, plain / "x.conf"))


# Measured with Dovecot 2.3.19 and Postfix 3.7.11 (both on OpenSSL 3.0): the same for both.
# Not the leaf first: Dovecot "Can't load SSL private key (ssl_key setting): Key is for a
# different cert than ssl_cert", Postfix "cannot get RSA private key from file ...: disabling
# TLS support (key values mismatch)", STARTTLS 454. Not PEM: Dovecot "Can't load SSL
# certificate (ssl_cert setting): There is no valid PEM certificate.", Postfix "cannot get RSA
# certificate from file ...: disabling TLS support (PEM: no start line)".
REFUSED = {
    "intermediate-first",
    "root-first",
    "pkcs7-pem",
    "pkcs7-der",
    "der-cert",
    "key-of-other-cert",
    "key-of-other-type",
}


def cases() -> list[object]:
    return [
        pytest.param(
            daemon,
            shape,
            id=f"{daemon}-{shape}",
        )
        for daemon in ("dovecot", "postfix")
        for shape in SHAPES
    ]


@pytest.mark.parametrize(("daemon", "shape_name"), cases())
def test_error_exactly_when_the_daemon_cannot_serve(
    tmp_path: Path, daemons: dict[str, Session], daemon: str, shape_name: str
) -> None:
    shape = SHAPES[shape_name]
    cert_file, key_file = write_files(tmp_path / "ssl", shape)
    served, config = daemons[daemon].serve(cert_file, key_file)
    report = audit_paths(cert_file, key_file, ROOTS, AT, config)
    said = f"{daemon}: {served.log or '(log silent)'}; client: {served.client}"
    assert bool(served.certs) == (shape_name not in REFUSED), said
    said += f"\nmailtls: {summary(report)}"
    if served.certs:
        sent = tmp_path / "sent.pem"
        sent.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in served.certs))
        verdict = openssl_verify(sent, ROOTS, AT, tmp_path)
        assert bool(errors(report)) == (not verdict.ok), f"openssl: {verdict.output}\n{said}"
    else:
        assert errors(report) - baseline_errors(tmp_path, shape.baseline), said
