"""`mailtls fix` turns any arrangement of a chain's certificates (permuted, some missing, some
twice, the leaf anywhere) into the file the daemon loads and `openssl verify` accepts, and
leaves alone a file that already works (issue 8, the property)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.run import FixOptions, fix
from tests.oracle.oracle import PKI, day, key_for
from tests.oracle.test_openssl_verify import (
    CHAINS,
    PROPERTY,
    arrangements,
    daemon_and_client_accept,
)


def fix_arrangement(chain: str, names: list[str]) -> None:
    certs, roots, when = CHAINS[chain]
    leaf = x509.load_pem_x509_certificates((PKI / f"{certs[0]}.pem").read_bytes())[0]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
        original = b"".join((PKI / f"{n}.pem").read_bytes() for n in names)
        cert_file.write_bytes(original)
        key_file.write_bytes(key_for(leaf))
        key_file.chmod(0o600)
        conf = tmp / "dovecot.conf"
        conf.write_text(f"ssl_cert = <{cert_file}\nssl_key = <{key_file}\n")
        worked = daemon_and_client_accept(cert_file, leaf, roots, when, tmp)
        settings = AuditOptions(
            at=day(when),
            ca_files=tuple(str(PKI / f"{r}.pem") for r in roots),
            intermediates=tuple(str(PKI / f"{c}.pem") for c in certs[1:]),
            system_trust=False,
        )
        options = FixOptions(audit=settings, offline=True, backup=False)
        fix(read_all([str(conf)], {}), options)
        assert daemon_and_client_accept(cert_file, leaf, roots, when, tmp), names
        if worked:  # never make a working file worse; it may only lose what is dead weight
            kept = set(x509.load_pem_x509_certificates(cert_file.read_bytes()))
            assert kept <= set(x509.load_pem_x509_certificates(original)), names


@pytest.mark.parametrize("chain", ["story", "le-2021", "le-after-dst"])
def test_fix_makes_any_arrangement_work(chain: str) -> None:
    @PROPERTY
    @given(arrangements(CHAINS[chain][0], leaf_first=False))
    def check(names: list[str]) -> None:
        fix_arrangement(chain, names)

    check()
