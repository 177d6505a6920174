"""match.judge against OpenSSL's own DANE code (what Postfix uses): `openssl s_server` serves a
fixture chain on 127.0.0.1, `openssl s_client -dane_tlsa_rrdata` says whether the records
match. Digest agility (RFC 7671 §9) and DANE-TA anchors that are not sent (§5.2.2) were found
wrong by review: a stale `3 1 2` hides a right `3 1 1`; a `2 0 0` of an anchor not sent
matches."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from mailtls.dane.match import Verdict, judge
from mailtls.dane.records import TlsaRecord, digest, selected
from tests.conftest import FIXTURES, need_binary
from tests.daemons import free_ports, wait_listening

PKI = FIXTURES / "pki"
NAME = "mail.example.org"


def cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())


def record(usage: int, selector: int, matching_type: int, of: str) -> TlsaRecord:
    data = digest(selected(cert(of), selector), matching_type)
    return TlsaRecord(usage, selector, matching_type, data)


def junk(usage: int, selector: int, matching_type: int) -> TlsaRecord:
    return TlsaRecord(usage, selector, matching_type, bytes({1: 32, 2: 64}[matching_type]))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """Ports of `openssl s_server` serving the full chain and the leaf alone."""
    folder = tmp_path_factory.mktemp("s_server")
    running, ports = [], {}
    try:
        for served, port in zip(("leaf-2026-fullchain", "leaf-2026"), free_ports(2), strict=True):
            log = folder / f"{served}.log"
            argv = [need_binary("openssl"), "s_server", "-accept", f"127.0.0.1:{port}"]
            argv += ["-cert", str(PKI / f"{served}.pem"), "-key", str(PKI / "leaf-2026.key")]
            if served == "leaf-2026-fullchain":  # s_server sends only -cert's first certificate
                argv += ["-cert_chain", str(PKI / "issuing-r2.pem")]
            with log.open("wb") as out:
                running.append(subprocess.Popen([*argv, "-quiet"], stdout=out, stderr=out))
            wait_listening([port], log)
            ports[served] = port
        yield ports
    finally:
        for process in running:
            process.kill()
            process.wait()


def openssl_matches(port: int, records: tuple[TlsaRecord, ...]) -> bool:
    argv = [need_binary("openssl"), "s_client", "-connect", f"127.0.0.1:{port}"]
    argv += ["-servername", NAME, "-dane_tlsa_domain", NAME]
    for r in records:
        argv += ["-dane_tlsa_rrdata", r.text()]
    done = subprocess.run(argv, input=b"", capture_output=True, timeout=30, check=False)
    said = done.stdout.decode(errors="replace")
    # "DANE TLSA 3 1 1 ... matched EE certificate", or "... 2 1 0 ... signed the certificate"
    return "Verify return code: 0 (ok)" in said and "DANE TLSA " in said


CASES = {
    "3 1 1 right, 3 1 2 stale": (
        "leaf-2026-fullchain",
        (record(3, 1, 1, "leaf-2026"), junk(3, 1, 2)),
    ),
    "3 1 2 right, 3 1 1 stale": (
        "leaf-2026-fullchain",
        (record(3, 1, 2, "leaf-2026"), junk(3, 1, 1)),
    ),
    "3 1 0 right, 3 1 1 stale": (
        "leaf-2026-fullchain",
        (record(3, 1, 0, "leaf-2026"), junk(3, 1, 1)),
    ),
    "3 1 1 right, 3 0 2 stale": (
        "leaf-2026-fullchain",
        (record(3, 1, 1, "leaf-2026"), junk(3, 0, 2)),
    ),
    "3 1 1 right, 2 1 2 stale": (
        "leaf-2026-fullchain",
        (record(3, 1, 1, "leaf-2026"), junk(2, 1, 2)),
    ),
    "2 1 1 right, 2 1 2 stale": (
        "leaf-2026-fullchain",
        (record(2, 1, 1, "issuing-r2"), junk(2, 1, 2)),
    ),
    "2 1 1 of the CA sent": ("leaf-2026-fullchain", (record(2, 1, 1, "issuing-r2"),)),
    "2 0 0 of the root, not sent": ("leaf-2026-fullchain", (record(2, 0, 0, "root"),)),
    "2 1 0 of the root, not sent": ("leaf-2026-fullchain", (record(2, 1, 0, "root"),)),
    "2 0 1 of the root, not sent": ("leaf-2026-fullchain", (record(2, 0, 1, "root"),)),
    "2 0 0 of the CA, leaf alone": ("leaf-2026", (record(2, 0, 0, "issuing-r2"),)),
    "2 1 0 of the CA, leaf alone": ("leaf-2026", (record(2, 1, 0, "issuing-r2"),)),
    "2 1 1 of the CA, leaf alone": ("leaf-2026", (record(2, 1, 1, "issuing-r2"),)),
    "2 0 0 of another root, leaf alone": ("leaf-2026", (record(2, 0, 0, "other-root"),)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_judge_agrees_with_openssls_dane(servers: dict[str, int], case: str) -> None:
    served, records = CASES[case]
    chain = x509.load_pem_x509_certificates((PKI / f"{served}.pem").read_bytes())
    ours = judge(records, chain) is Verdict.MATCH
    assert ours == openssl_matches(servers[served], records), case


def test_the_cases_cover_both_answers(servers: dict[str, int]) -> None:
    """The oracle is not stuck on one answer: both outcomes occur among the cases."""
    said = {openssl_matches(servers[s], r) for s, r in CASES.values()}
    assert said == {True, False}


def test_the_served_files_are_what_the_cases_say() -> None:
    assert [
        c.subject
        for c in x509.load_pem_x509_certificates((PKI / "leaf-2026-fullchain.pem").read_bytes())
    ] == [
        cert("leaf-2026").subject,
        cert("issuing-r2").subject,
    ]
    assert Path(PKI / "leaf-2026.key").exists()
