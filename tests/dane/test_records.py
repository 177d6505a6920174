"""TLSA record data, checked against what the openssl command computes from the same files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography import x509

from mailtls.dane import records
from mailtls.dane.records import TlsaRecord
from mailtls.errors import UsageError
from mailtls.pki.load import load_file
from tests.dane.oracle import ECDSA, PKI, RSA, openssl_data, openssl_key_data

CERTS = [*ECDSA, *RSA, PKI / "leaf-rsa.pem", PKI / "leaf-sha1.pem"]
FIELDS = list(itertools.product((0, 1), (0, 1, 2)))


def cert(path: Path) -> x509.Certificate:
    return load_file(str(path)).certs[0]


@pytest.mark.parametrize("path", CERTS, ids=lambda p: p.name)
@pytest.mark.parametrize(("selector", "matching_type"), FIELDS)
def test_data_is_what_openssl_computes(path: Path, selector: int, matching_type: int) -> None:
    """Every selector and matching type, ECDSA and RSA keys, leaves and CAs alike."""
    found = records.for_cert(cert(path), 3, selector, matching_type)
    assert found == (3, selector, matching_type, openssl_data(path, selector, matching_type))


def test_spki_is_the_certificates_own_bytes() -> None:
    """Selector 1 covers the SPKI as the certificate carries it: cut from the DER, it equals
    the key's own encoding for the keys cryptography loads, and the digest sizes are right."""
    leaf = cert(ECDSA[0])
    assert records.selected(leaf, 1) == records.spki_der(leaf.public_key())
    assert len(records.for_cert(leaf, 2, 1, 1).data) == 32
    assert len(records.for_cert(leaf, 2, 0, 2).data) == 64


def test_next_key_record_is_what_openssl_computes() -> None:
    key = PKI / "keys" / "leaf-rsa.key"
    found = records.for_key(load_file(str(key)).keys[0])
    assert found == TlsaRecord(3, 1, 1, openssl_key_data(key))
    assert found == records.for_cert(cert(PKI / "leaf-rsa.pem"), 3)  # the same key


def test_zone_line_and_owner() -> None:
    record = TlsaRecord(3, 1, 1, bytes.fromhex("ab01"))
    assert records.zone_line(records.owner("Mail.Example.ORG."), record) == (
        "_25._tcp.mail.example.org. IN TLSA 3 1 1 ab01"
    )
    assert records.owner("mx.example.net", 465) == "_465._tcp.mx.example.net."


@pytest.mark.parametrize(
    "name", ["", ".example.org", "*.example.org", "mail example.org", "-x.example.org", "a\x1b[31m"]
)
def test_owner_refuses_what_is_no_host_name(name: str) -> None:
    with pytest.raises(UsageError, match="not a host name"):
        records.owner(name)


def test_parse_reads_zone_file_rdata() -> None:
    assert records.parse("2 0 1 AB cd") == TlsaRecord(2, 0, 1, bytes.fromhex("abcd"))
    for bad in ("3 1 1", "3 1 1 abc", "3 1 x ab", "300 1 1 ab"):
        with pytest.raises(UsageError, match="not a TLSA record"):
            records.parse(bad)


def test_unknown_selector_and_type_are_refused() -> None:
    with pytest.raises(ValueError, match="selector"):
        records.selected(cert(ECDSA[0]), 2)
    with pytest.raises(ValueError, match="matching type"):
        records.digest(b"", 3)
