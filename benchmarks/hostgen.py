"""A synthetic multi-tenant mail host of N domains for the benchmark: Dovecot `local_name`
blocks and a Postfix `tls_server_sni_maps` source naming the same per-domain files.

Every domain has its own folder (certbot's layout), its own key file (0600) and certificate
file. Domain i is leaf-only when i % 5 == 4 (20%: `cert.pem` without its intermediate), else a
complete chain (`fullchain.pem`); its key is RSA 2048 when i is even, ECDSA P-256 when odd.
RSA keys take ~0.1 s each to generate, so they come from a pool made once and kept in
`benchmarks/.cache/` (each domain still gets its own file; pool keys repeat every `pool` RSA
domains). ECDSA keys are derived from the domain's name. Dates are fixed: audit `--at AT`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fixtures.build import Issued, derived_key, issue, key_pem, leaf, pem, utc

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RSA_POOL = 200
AT = "2026-12-01T00:00:00Z"
LEAF_VALID = (utc(2026, 11, 1), utc(2027, 1, 30))  # 90 days, as ACME issues them
CA_VALID = (utc(2020, 1, 1), utc(2040, 1, 1))


@dataclass(frozen=True)
class Domain:
    name: str
    cert_file: Path
    key_file: Path
    complete: bool  # leaf + intermediate; else the leaf alone
    rsa: bool


@dataclass(frozen=True)
class Host:
    root: Path
    ca_file: Path  # the bench root: --ca-file, openssl -CAfile
    dovecot_conf: Path
    postfix_dir: Path
    default: Domain  # the host's own name: Dovecot's and Postfix's global certificate
    domains: tuple[Domain, ...]

    def all_domains(self) -> tuple[Domain, ...]:
        return (self.default, *self.domains)


@dataclass(frozen=True)
class Authority:
    root: Issued
    rsa_issuer: Issued  # signs the RSA leaves, as Let's Encrypt's R1x do
    ec_issuer: Issued  # signs the ECDSA leaves, as E5/E6 do


def rsa_pool(folder: Path, size: int) -> list[rsa.RSAPrivateKey]:
    """`size` RSA 2048 keys, generated once into `folder` and read back after."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for index in range(size):
        path = folder / f"rsa2048-{index:04d}.pem"
        if not path.exists():
            fresh = rsa.generate_private_key(65537, 2048)
            path.write_bytes(key_pem(fresh))
        loaded = serialization.load_pem_private_key(
            path.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
        assert isinstance(loaded, rsa.RSAPrivateKey)
        keys.append(loaded)
    return keys


def authority(issuer_key: rsa.RSAPrivateKey) -> Authority:
    root = issue("bench-root", "Bench Root X1", None, CA_VALID, ca=True)
    rsa_issuer = issue("bench-r1", "Bench Issuing R1", root, CA_VALID, ca=True, key=issuer_key)
    ec_issuer = issue("bench-e1", "Bench Issuing E1", root, CA_VALID, ca=True)
    return Authority(root, rsa_issuer, ec_issuer)


def domain_name(index: int) -> str:
    return f"mail.tenant{index:05d}.example"


def build(
    root: Path, count: int, *, pool: int = RSA_POOL, cache: Path = CACHE, sni_map: str = "hash"
) -> Host:
    """Write a host of `count` domains under `root` (which must exist and be empty).
    `sni_map` is `hash` (with an index newer than every file, as `postmap -F` leaves it)
    or `texthash` (no index)."""
    keys = rsa_pool(cache / "rsa-pool", pool + 1)  # the last one is the RSA issuer's
    ca = authority(keys[-1])
    (root / "ca").mkdir()
    ca_file = root / "ca" / "root.pem"
    ca_file.write_bytes(pem(ca.root.cert))
    key_bytes = [key_pem(key) for key in keys[:-1]]
    default = _domain(root, "mx.bench-host.example", ca, complete=True, key=None)
    domains = tuple(
        _domain(
            root,
            domain_name(i),
            ca,
            complete=i % 5 != 4,
            key=(keys[(i // 2) % pool], key_bytes[(i // 2) % pool]) if i % 2 == 0 else None,
        )
        for i in range(count)
    )
    host = Host(
        root, ca_file, root / "dovecot" / "dovecot.conf", root / "postfix", default, domains
    )
    write_dovecot(host)
    write_postfix(host, sni_map)
    return host


def _domain(
    root: Path,
    name: str,
    ca: Authority,
    *,
    complete: bool,
    key: tuple[rsa.RSAPrivateKey, bytes] | None,
) -> Domain:
    folder = root / "ssl" / name
    folder.mkdir(parents=True)
    if key is None:
        subject_key = derived_key(f"bench {name}")
        issuer, private_bytes = ca.ec_issuer, key_pem(subject_key)
        issued = leaf(f"bench {name}", issuer, LEAF_VALID, dns_names=(name,), key=subject_key)
    else:
        issuer, private_bytes = ca.rsa_issuer, key[1]
        issued = leaf(f"bench {name}", issuer, LEAF_VALID, dns_names=(name,), key=key[0])
    cert_file = folder / ("fullchain.pem" if complete else "cert.pem")
    cert_file.write_bytes(pem(issued.cert, issuer.cert) if complete else pem(issued.cert))
    key_file = folder / "privkey.pem"
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(private_bytes)
    return Domain(name, cert_file, key_file, complete, key is not None)


def write_dovecot(host: Host) -> None:
    lines = [
        "protocols = imap",
        "ssl = required",
        f"ssl_cert = <{host.default.cert_file}",
        f"ssl_key = <{host.default.key_file}",
    ]
    for domain in host.domains:
        lines += [
            f"local_name {domain.name} {{",
            f"  ssl_cert = <{domain.cert_file}",
            f"  ssl_key = <{domain.key_file}",
            "}",
        ]
    host.dovecot_conf.parent.mkdir()
    host.dovecot_conf.write_text("\n".join(lines) + "\n")


def write_postfix(host: Host, sni_map: str) -> None:
    """main.cf, master.cf and the SNI map source (name, key file, certificate file: what
    mailcow's postfix.sh writes)."""
    folder = host.postfix_dir
    folder.mkdir()
    (folder / "master.cf").write_text("smtp      inet  n       -       n       -       -  smtpd\n")
    (folder / "main.cf").write_text(
        f"myhostname = {host.default.name}\n"
        f"smtpd_tls_cert_file = {host.default.cert_file}\n"
        f"smtpd_tls_key_file = {host.default.key_file}\n"
        "smtpd_tls_security_level = may\n"
        f"tls_server_sni_maps = {sni_map}:$config_directory/sni.map\n"
    )
    entries = "".join(f"{d.name} {d.key_file} {d.cert_file}\n" for d in host.domains)
    (folder / "sni.map").write_text(entries)
    if sni_map == "hash":
        # Not a real Berkeley DB (nothing here runs Postfix): mailtls only compares its time.
        index = folder / "sni.map.db"
        index.write_bytes(b"")
        later = time.time() + 1
        os.utime(index, (later, later))
