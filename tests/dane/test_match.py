"""Matching TLSA records against a served chain: each usage, selector and matching type, with
the record data computed by openssl, and the cases that must not match."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography import x509

from mailtls.dane.match import Match, Verdict, issuer_path, judge, key_matches, matches, usable
from mailtls.dane.records import TlsaRecord, for_cert, for_key
from mailtls.pki.load import load_file
from tests.dane.oracle import ECDSA, PKI, REAL, RSA, openssl_data

FIELDS = list(itertools.product((0, 1), (0, 1, 2)))
CHAINS = {"ecdsa": ECDSA, "rsa": RSA}
ROOTS = {"ecdsa": PKI / "root.pem", "rsa": REAL / "isrg-root-x1.pem"}
NEXT_KEY = PKI / "keys" / "leaf-rsa.key"


def certs(*paths: Path) -> list[x509.Certificate]:
    return [c for p in paths for c in load_file(str(p)).certs]


def ids(values: tuple[int, int]) -> str:
    return f"{values[0]}-{values[1]}"


@pytest.mark.parametrize("kind", CHAINS)
@pytest.mark.parametrize(("selector", "matching_type"), FIELDS, ids=[ids(f) for f in FIELDS])
def test_dane_ee_matches_the_leaf(kind: str, selector: int, matching_type: int) -> None:
    leaf, issuer = CHAINS[kind]
    record = TlsaRecord(3, selector, matching_type, openssl_data(leaf, selector, matching_type))
    assert matches([record], certs(leaf, issuer)) == (Match(record, 0),)
    # The leaf's data as DANE-TA: a leaf is no trust anchor.
    assert matches([record._replace(usage=2)], certs(leaf, issuer)) == ()


@pytest.mark.parametrize("kind", CHAINS)
@pytest.mark.parametrize(("selector", "matching_type"), FIELDS, ids=[ids(f) for f in FIELDS])
def test_dane_ta_matches_the_issuing_ca(kind: str, selector: int, matching_type: int) -> None:
    leaf, issuer = CHAINS[kind]
    record = TlsaRecord(2, selector, matching_type, openssl_data(issuer, selector, matching_type))
    assert matches([record], certs(leaf, issuer)) == (Match(record, 1),)
    # The CA's data as DANE-EE: usage 3 looks at the leaf only.
    assert matches([record._replace(usage=3)], certs(leaf, issuer)) == ()
    # Not served: a digest needs the TA in the chain; a record that holds it whole (matching
    # type 0) still matches through its signature on the leaf (RFC 7671 §5.2.2, as OpenSSL
    # does: tests/dane/test_match_openssl.py).
    expected = (Match(record, 1),) if matching_type == 0 else ()
    assert matches([record], certs(leaf)) == expected


@pytest.mark.parametrize("kind", CHAINS)
@pytest.mark.parametrize(("selector", "matching_type"), FIELDS, ids=[ids(f) for f in FIELDS])
def test_other_certificates_do_not_match(kind: str, selector: int, matching_type: int) -> None:
    """Records of another leaf and another CA, and a record with one bit changed."""
    leaf, issuer = CHAINS[kind]
    other_leaf, other_ca = PKI / "leaf-2026.pem", PKI / "issuing-r2.pem"
    wrong = [
        TlsaRecord(3, selector, matching_type, openssl_data(other_leaf, selector, matching_type)),
        TlsaRecord(2, selector, matching_type, openssl_data(other_ca, selector, matching_type)),
    ]
    good = openssl_data(leaf, selector, matching_type)
    wrong.append(TlsaRecord(3, selector, matching_type, good[:-1] + bytes([good[-1] ^ 1])))
    assert matches(wrong, certs(leaf, issuer)) == ()
    assert judge(wrong, certs(leaf, issuer)) is Verdict.MISMATCH


@pytest.mark.parametrize("kind", CHAINS)
def test_dane_ta_matches_a_served_root_in_any_order(kind: str) -> None:
    leaf, issuer = CHAINS[kind]
    root = ROOTS[kind]
    record = TlsaRecord(2, 1, 1, openssl_data(root, 1, 1))
    assert matches([record], certs(leaf, issuer, root)) == (Match(record, 2),)
    assert matches([record], certs(leaf, root, issuer)) == (Match(record, 2),)
    assert matches([record], certs(leaf, issuer)) == ()


def test_dane_ta_needs_the_ca_on_the_leafs_path() -> None:
    """A served CA that did not sign the leaf (same name, other key) is no trust anchor;
    neither is a non-CA certificate that did sign it."""
    impostor = PKI / "issuing-r2-other-key.pem"
    record = for_cert(certs(impostor)[0], 2)
    assert matches([record], certs(PKI / "leaf-2026.pem", impostor)) == ()
    assert matches([record], certs(PKI / "leaf-2026.pem", PKI / "issuing-r2.pem")) == ()
    signer = PKI / "leaf-2026.pem"
    chain = certs(PKI / "leaf-under-leaf.pem", signer)
    assert len(issuer_path(chain)) == 2  # it did sign it
    assert matches([for_cert(chain[1], 2)], chain) == ()


def test_records_an_smtp_client_cannot_use() -> None:
    """PKIX-TA/EE (RFC 7672 §3.1.3), unknown selectors and types, digests of the wrong size."""
    leaf, issuer = ECDSA
    right = TlsaRecord(3, 1, 1, openssl_data(leaf, 1, 1))
    unusable = [
        right._replace(usage=0),
        right._replace(usage=1),
        right._replace(selector=2),
        right._replace(matching_type=3),
        right._replace(data=right.data[:31]),
        TlsaRecord(3, 1, 2, right.data),  # a SHA-256 digest given as SHA-512
    ]
    assert not any(usable(r) for r in unusable)
    assert usable(right)
    assert matches(unusable, certs(leaf, issuer)) == ()
    assert judge(unusable, certs(leaf, issuer)) is Verdict.NO_USABLE
    assert judge([], certs(leaf, issuer)) is Verdict.NO_USABLE
    assert judge([*unusable, right], certs(leaf, issuer)) is Verdict.MATCH


def test_only_the_next_key_matches() -> None:
    """The records were changed for the next key before it was deployed: the chain on disk
    matches none, the next key does."""
    next_key = load_file(str(NEXT_KEY)).keys[0]
    chain = certs(*ECDSA)
    published = [for_key(next_key)]
    assert judge(published, chain, next_key) is Verdict.ONLY_NEXT
    assert judge(published, chain) is Verdict.MISMATCH
    # Both published, as a rollover should: the chain matches now, the key will.
    both = [for_cert(chain[0], 3), *published]
    assert judge(both, chain, next_key) is Verdict.MATCH
    assert key_matches(both, next_key) == tuple(published)
    # A next key that matches nothing.
    other = load_file(str(PKI / "leaf-2026.key")).keys[0]
    assert judge(published, chain, other) is Verdict.MISMATCH


def test_key_matches_only_dane_ee_spki_records() -> None:
    """A key alone answers to `3 1 x` only: not to DANE-TA, not to a full-certificate record."""
    next_key = load_file(str(NEXT_KEY)).keys[0]
    spki_hash = for_key(next_key).data
    assert key_matches([TlsaRecord(2, 1, 1, spki_hash)], next_key) == ()
    assert key_matches([TlsaRecord(3, 0, 1, spki_hash)], next_key) == ()
    full = for_key(next_key, 0)
    assert key_matches([full], next_key) == (full,)
    assert key_matches([for_key(next_key, 2)], next_key) == (for_key(next_key, 2),)


def test_no_chain_matches_nothing() -> None:
    record = TlsaRecord(3, 1, 1, openssl_data(ECDSA[0], 1, 1))
    assert matches([record], []) == ()
    assert issuer_path([]) == []
