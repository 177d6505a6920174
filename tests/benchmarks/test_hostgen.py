"""The benchmark's synthetic host is what it says: N domains, 80% complete chains, RSA and
ECDSA keys mixed, and both daemons' configurations naming the same per-domain files."""

from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from benchmarks import contenders, hostgen
from mailtls.config.discover import read_all

DOMAINS = 20


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> hostgen.Host:
    folder = tmp_path_factory.mktemp("bench")
    (folder / "host").mkdir()
    return hostgen.build(folder / "host", DOMAINS, pool=2, cache=folder / "cache")


def test_one_folder_per_domain_with_a_key_and_a_certificate(host: hostgen.Host) -> None:
    """20 domains and the host's own name: 21 folders of 2 files each, keys 0600."""
    folders = sorted((host.root / "ssl").iterdir())
    assert len(folders) == DOMAINS + 1
    assert all(len(list(f.iterdir())) == 2 for f in folders)
    keys = [d.key_file for d in host.all_domains()]
    assert len(set(keys)) == DOMAINS + 1
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)


def test_four_in_five_chains_are_complete(host: hostgen.Host) -> None:
    """The leaf-only 20% hold one certificate (`cert.pem`), the rest two (`fullchain.pem`)."""
    sizes = [len(x509.load_pem_x509_certificates(d.cert_file.read_bytes())) for d in host.domains]
    assert sizes.count(1) == DOMAINS // 5
    assert sizes.count(2) == DOMAINS - DOMAINS // 5
    assert [d.cert_file.name == "cert.pem" for d in host.domains] == [s == 1 for s in sizes]


def test_rsa_and_ecdsa_keys_half_each_and_matching_their_leaf(host: hostgen.Host) -> None:
    kinds = []
    for domain in host.domains:
        key = serialization.load_pem_private_key(
            domain.key_file.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
        leaf = x509.load_pem_x509_certificates(domain.cert_file.read_bytes())[0]
        assert key.public_key() == leaf.public_key()
        if isinstance(key, rsa.RSAPrivateKey):
            kinds.append(f"rsa{key.key_size}")
        else:
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            kinds.append(key.curve.name)
    assert sorted(set(kinds)) == ["rsa2048", "secp256r1"]
    assert kinds.count("rsa2048") == DOMAINS // 2


def test_complete_chains_verify_up_to_the_bench_root(host: hostgen.Host) -> None:
    (root,) = x509.load_pem_x509_certificates(host.ca_file.read_bytes())
    for domain in host.all_domains():
        certs = x509.load_pem_x509_certificates(domain.cert_file.read_bytes())
        if domain.complete:
            certs[0].verify_directly_issued_by(certs[1])
            certs[1].verify_directly_issued_by(root)


def test_mailtls_reads_two_endpoints_per_domain_plus_the_globals(host: hostgen.Host) -> None:
    """Each domain is a Dovecot local_name block and a Postfix SNI line on the same two
    files; the host's own name is each daemon's global certificate."""
    config = read_all([str(host.dovecot_conf), str(host.postfix_dir)], {})
    assert config.findings == ()
    assert len(config.endpoints) == 2 * DOMAINS + 2
    for service in ("dovecot", "postfix"):
        mine = [e for e in config.endpoints if e.service == service]
        assert [e.scope for e in mine].count("global") == 1
        served = {n: set(e.files()) for e in mine if e.scope != "global" for n in e.names}
        assert served == {d.name: {str(d.cert_file), str(d.key_file)} for d in host.domains}, (
            service
        )
    assert len(contenders.endpoint_cert_files(host)) == len(config.endpoints)
