"""mailtls against `openssl verify -attime`: an error exactly when a client rejects the chain.

Every fixture file whose first certificate is a leaf is judged at pinned times around each
expiry of its family, with several sets of trusted roots (the old root, the new, both). The
one warning that also means "clients will not trust this" is `self-signed` (a warning by
design: some setups pin the certificate), so it counts as a rejection here, as in the audit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtls.models import Report, Severity
from tests.oracle.oracle import (
    PKI,
    audit_file,
    audit_paths,
    day,
    key_for,
    openssl_verify,
    summary,
)

# family -> (times before and after each of its expiries, named sets of trusted roots)
STORY_ROOTS = {
    "root+legacy": ("root", "legacy-root"),
    "root": ("root",),
    "legacy": ("legacy-root",),
}
LE_ROOTS = {
    "both": ("isrg-root-x1", "dst-root-x3"),
    "isrg": ("isrg-root-x1",),
    "dst": ("dst-root-x3",),
}
FAMILIES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    # leaf-2025 ends 2026-02-01, R1 2026-03-01, the X1 cross-sign 2026-09-30, FOREVER 2036-11-01
    "story": (("2025-06-15", "2026-02-15", "2026-11-29", "2037-01-01"), STORY_ROOTS),
    # AddTrust and the USERTrust cross-sign end 2020-05-30; the leaf 2021-03-01
    "2020": (
        ("2020-05-01", "2020-06-15", "2021-04-01"),
        {
            "both": ("usertrust-root", "addtrust-root"),
            "usertrust": ("usertrust-root",),
            "addtrust": ("addtrust-root",),
        },
    ),
    # DST Root CA X3 ends 2021-09-30; the 2021 leaf 2021-11-18
    "2021": (("2021-09-15", "2021-10-15", "2021-12-01"), LE_ROOTS),
    # the ISRG X1 cross-sign by DST ends 2024-09-30
    "2024": (("2024-09-15", "2024-10-15"), LE_ROOTS),
    "private": (("2026-11-29",), {"private": ("private-root",), "story-root": ("root",)}),
}


def family(stem: str) -> str:
    for year in ("2020", "2021", "2024"):
        if f"-{year}-" in stem:
            return year
    return "private" if stem.endswith("private-ca") else "story"


def is_leaf(cert: x509.Certificate) -> bool:
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return True


def served_files() -> list[Path]:
    """Every fixture a server could serve: its first certificate is a leaf."""
    return [
        p
        for p in sorted(PKI.glob("*.pem"))
        if is_leaf(x509.load_pem_x509_certificates(p.read_bytes())[0])
    ]


def cases() -> list[object]:
    params: list[object] = []
    for path in served_files():
        times, trusts = FAMILIES[family(path.stem)]
        for when in times:
            for trust_name, roots in trusts.items():
                case_id = f"{path.stem}@{when}/{trust_name}"
                params.append(pytest.param(path, when, roots, id=case_id))
    return params


def rejects(report: Report) -> bool:
    """mailtls' verdict: an error, or the self-signed warning (audit._breaks_trust)."""
    return any(f.severity is Severity.ERROR or f.code == "self-signed" for f in report.findings)


@pytest.mark.parametrize(("path", "when", "roots"), cases())
def test_error_exactly_when_openssl_rejects(
    tmp_path: Path, path: Path, when: str, roots: tuple[str, ...]
) -> None:
    at = day(when)
    verdict = openssl_verify(path, roots, at, tmp_path)
    leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    report = audit_file(path, key_for(leaf), roots, at, tmp_path)
    assert rejects(report) == (not verdict.ok), (
        f"openssl: {verdict.output}\nmailtls: {summary(report)}"
    )


def test_every_history_file_is_judged() -> None:
    """The cross-sign history and the private CA are in the table, not silently skipped."""
    stems = {p.stem for p in served_files()}
    assert {
        "chain-2020-served",
        "chain-2020-with-addtrust",
        "chain-2021-default",
        "chain-2021-with-dst",
        "chain-2021-short",
        "chain-2024-default",
        "chain-private-ca",
        "leaf-2026-fullchain",
    } <= stems


# Real public certificates (fixtures/pki/real, provenance in each file): Let's Encrypt in 2017,
# Authority X3 cross-signed by DST Root CA X3 and also signed by ISRG Root X1. Their leaf has no
# public key file, so key findings are left out of the comparison.
REAL_ROOTS = {
    "dst": ("real/dst-root-ca-x3",),
    "isrg": ("real/isrg-root-x1",),
    "both": ("real/dst-root-ca-x3", "real/isrg-root-x1"),
}
KEY_CODES = {"key-missing", "key-mismatch"}


@pytest.mark.parametrize("trust", REAL_ROOTS)
@pytest.mark.parametrize("when", ["2017-08-04", "2017-10-01"])  # the leaf ends 2017-09-10
@pytest.mark.parametrize("stem", ["chain-2017-served", "chain-2017-both-x3"])
def test_real_chains_error_exactly_when_openssl_rejects(
    tmp_path: Path, stem: str, when: str, trust: str
) -> None:
    """chain-2017-both-x3 with only ISRG X1 trusted: OpenSSL 3.0 takes the first 'Authority X3'
    served (the DST cross-sign) and does not go back to try the other, so it rejects; a path
    builder that tries every candidate (webpki, cryptography) finds leaf -> X3 by ISRG -> ISRG X1.
    mailtls agrees with OpenSSL today; if it learns full path building, this case flips."""
    path, roots = PKI / "real" / f"{stem}.pem", REAL_ROOTS[trust]
    verdict = openssl_verify(path, roots, day(when), tmp_path)
    report = audit_paths(path, tmp_path / "no-key.pem", roots, day(when), tmp_path / "x.conf")
    chain_errors = [
        f for f in report.findings if f.severity is Severity.ERROR and f.code not in KEY_CODES
    ]
    assert bool(chain_errors) == (not verdict.ok), f"openssl: {verdict.output}\n{summary(report)}"


def codes_at(tmp_path: Path, stem: str, when: str, roots: tuple[str, ...]) -> list[str]:
    path = PKI / f"{stem}.pem"
    leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    return sorted(
        f.code for f in audit_file(path, key_for(leaf), roots, day(when), tmp_path).findings
    )


def test_cross_sign_under_an_expired_root_is_named(tmp_path: Path) -> None:
    """2021-10-15: the ISRG X1 cross-sign runs to 2024 but DST, above it, has expired; openssl
    with only DST trusted rejects, with ISRG X1 trusted accepts: the served cross-sign is dead."""
    roots = LE_ROOTS["dst"]
    assert not openssl_verify(PKI / "chain-2021-default.pem", roots, day("2021-10-15"), tmp_path).ok
    assert codes_at(tmp_path, "chain-2021-default", "2021-10-15", LE_ROOTS["isrg"]) == [
        "expired-cross-sign"
    ]


def test_served_expired_root_is_root_in_chain(tmp_path: Path) -> None:
    """DST served after it expired, with a valid path to ISRG X1: a root, not an intermediate."""
    found = codes_at(tmp_path, "chain-2021-with-dst", "2021-10-15", LE_ROOTS["both"])
    assert "root-in-chain" in found
    assert "expired-intermediate" not in found and "untrusted-root" not in found


# The property: any arrangement of a valid chain's certificates, served as a file.
CHAINS = {
    # name: (certificates, trusted roots, time)
    "story": (("leaf-2026", "issuing-r2", "root"), ("root",), "2026-11-29"),
    "le-2021": (
        ("leaf-2021-le", "le-r3", "isrg-x1-cross-dst", "dst-root-x3"),
        LE_ROOTS["both"],
        "2021-09-15",
    ),
    "le-after-dst": (
        ("leaf-2021-le", "le-r3", "isrg-x1-cross-dst", "dst-root-x3"),
        LE_ROOTS["isrg"],
        "2021-10-15",
    ),
}


@st.composite
def arrangements(draw: st.DrawFn, certs: tuple[str, ...], leaf_first: bool) -> list[str]:
    """The leaf once or twice, any of the others any number of times (0-2), in any order."""
    rest = [c for c in certs[1:] for _ in range(draw(st.integers(0, 2)))]
    rest += [certs[0]] * draw(st.integers(0, 1))
    order = draw(st.permutations(rest))
    if leaf_first:
        return [certs[0], *order]
    at = draw(st.integers(0, len(order)))
    return [*order[:at], certs[0], *order[at:]]


def daemon_and_client_accept(
    cert_file: Path, leaf: x509.Certificate, roots: tuple[str, ...], when: str, tmp: Path
) -> bool:
    """The daemon takes the FIRST certificate as its own and loads only if the key (the
    leaf's) fits it; then the client judges what is sent (openssl verify)."""
    first = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    if first.public_key() != leaf.public_key():
        return False
    return openssl_verify(cert_file, roots, day(when), tmp).ok


def check_arrangement(chain: str, names: list[str]) -> None:
    certs, roots, when = CHAINS[chain]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cert_file = tmp / "cert.pem"
        cert_file.write_bytes(b"".join((PKI / f"{n}.pem").read_bytes() for n in names))
        leaf = x509.load_pem_x509_certificates((PKI / f"{certs[0]}.pem").read_bytes())[0]
        report = audit_file(cert_file, key_for(leaf), roots, day(when), tmp)
        accepted = daemon_and_client_accept(cert_file, leaf, roots, when, tmp)
        assert rejects(report) == (not accepted), f"{names}: mailtls: {summary(report)}"


PROPERTY = settings(max_examples=100, deadline=None, derandomize=True)


@pytest.mark.parametrize(
    "chain",
    ["story", "le-2021", "le-after-dst"],
)
def test_leaf_first_arrangements_agree_with_openssl(chain: str) -> None:
    """Leaf first, anything else in any order and number: an error exactly when openssl fails."""

    @PROPERTY
    @given(arrangements(CHAINS[chain][0], leaf_first=True))
    def check(names: list[str]) -> None:
        check_arrangement(chain, names)

    check()


def test_any_arrangement_agrees_with_the_daemon_and_openssl() -> None:
    """Leaf anywhere: the daemon serves the first certificate with the key, so a file whose
    first certificate is not the leaf cannot be served; mailtls must say error."""

    @PROPERTY
    @given(arrangements(CHAINS["story"][0], leaf_first=False))
    def check(names: list[str]) -> None:
        check_arrangement("story", names)

    check()
