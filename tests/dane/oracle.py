"""TLSA association data computed by the openssl command, independently of mailtls."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import FIXTURES, need_binary

PKI = FIXTURES / "pki"
REAL = PKI / "real"
# (certificate, its issuing CA): ECDSA fixtures, and real RSA certificates of Let's Encrypt.
ECDSA = (PKI / "leaf-2025.pem", PKI / "issuing-r1.pem")
RSA = (REAL / "le-2017-dadrian-io.pem", REAL / "le-x3-by-isrg-x1.pem")


def _openssl(args: list[str], data: bytes) -> bytes:
    done = subprocess.run(
        [need_binary("openssl"), *args], input=data, capture_output=True, timeout=30, check=True
    )
    return done.stdout


def first_pem(path: Path) -> bytes:
    """The first certificate of a file, in PEM, as `openssl x509` reads it."""
    return _openssl(["x509", "-outform", "PEM"], path.read_bytes())


def openssl_data(cert: Path, selector: int, matching_type: int) -> bytes:
    """`openssl x509 -pubkey | openssl pkey -pubin -outform DER` (selector 1) or
    `openssl x509 -outform DER` (selector 0), then `openssl dgst -sha256/-sha512 -binary`."""
    pem = first_pem(cert)
    if selector == 1:
        pubkey = _openssl(["x509", "-noout", "-pubkey"], pem)
        selected = _openssl(["pkey", "-pubin", "-outform", "DER"], pubkey)
    else:
        selected = _openssl(["x509", "-outform", "DER"], pem)
    if matching_type == 0:
        return selected
    algorithm = {1: "-sha256", 2: "-sha512"}[matching_type]
    return _openssl(["dgst", algorithm, "-binary"], selected)


def openssl_key_data(key: Path) -> bytes:
    """`3 1 1` of a private key: `openssl pkey -pubout -outform DER | openssl dgst -sha256`."""
    spki = _openssl(["pkey", "-pubout", "-outform", "DER"], key.read_bytes())
    return _openssl(["dgst", "-sha256", "-binary"], spki)
