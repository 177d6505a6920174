"""Private probe for the audit's speed (issue 10): build a synthetic multi-tenant host, time it.

    python benchmarks/perf_probe.py build N         -> /tmp/mailtls-perf/N (cached)
    python benchmarks/perf_probe.py plain N         the plain cryptography loop over its files
    python benchmarks/perf_probe.py cmd N           the mailtls command line for that host

Each domain has its own key and certificate file, named by a Dovecot `local_name` block and a
line of a Postfix `texthash:` SNI map; 80% complete chains, 20% leaf alone; RSA 2048 keys (from a
pool of 100, generating 10,000 is slow) and ECDSA P-256 keys alternate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BASE = Path("/dev/shm/mailtls-perf")  # tmpfs: the disk of a shared machine is noisy
PEM = serialization.Encoding.PEM
START, END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
AT = "2026-11-29T00:00:00"


def _rsa_pool() -> list[rsa.RSAPrivateKey]:
    path = BASE / "rsa-pool.pem"
    if not path.exists():
        BASE.mkdir(parents=True, exist_ok=True)
        keys = [rsa.generate_private_key(65537, 2048) for _ in range(100)]
        path.write_bytes(b"".join(_key_pem(k) for k in keys))
    data = path.read_bytes()
    marker = b"-----END PRIVATE KEY-----\n"
    return [
        serialization.load_pem_private_key(part + marker, None, unsafe_skip_rsa_key_validation=True)  # type: ignore[misc]
        for part in data.split(marker)
        if part.strip()
    ]


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _cert(
    subject: str, issuer: x509.Name | None, key: object, signer: ec.EllipticCurvePrivateKey,
    *, ca: bool, serial: int,
) -> x509.Certificate:  # fmt: skip
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(serial)
        .not_valid_before(START)
        .not_valid_after(END if not ca else dt.datetime(2035, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
        builder = builder.add_extension(usage, critical=True)
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(eku, critical=False)
        sans = x509.SubjectAlternativeName([x509.DNSName(subject)])
        builder = builder.add_extension(sans, critical=False)
    return builder.sign(signer, hashes.SHA256())


def build(count: int) -> Path:
    root_dir = BASE / str(count)
    if (root_dir / "done").exists():
        _main_cf(root_dir)
        return root_dir
    pool = _rsa_pool()
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Perf Root", None, root_key, root_key, ca=True, serial=1)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = _cert("Perf Issuing", root.subject, mid_key, root_key, ca=True, serial=2)
    (root_dir / "postfix").mkdir(parents=True, exist_ok=True)
    (root_dir / "root.pem").write_bytes(root.public_bytes(PEM))
    dovecot, sni = [], []
    for i in range(count):
        name = f"mail.tenant{i}.example"
        key = pool[i % len(pool)] if i % 2 == 0 else ec.generate_private_key(ec.SECP256R1())
        leaf = _cert(name, mid.subject, key, mid_key, ca=False, serial=1000 + i)
        folder = root_dir / "ssl" / name
        folder.mkdir(parents=True, exist_ok=True)
        chain = leaf.public_bytes(PEM) + (mid.public_bytes(PEM) if i % 5 else b"")
        (folder / "fullchain.pem").write_bytes(chain)
        key_path = folder / "privkey.pem"
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        dovecot += [
            f"local_name {name} {{",
            f"  ssl_cert = <{folder}/fullchain.pem",
            f"  ssl_key = <{key_path}",
            "}",
        ]
        sni.append(f"{name} {key_path} {folder}/fullchain.pem")
    (root_dir / "dovecot.conf").write_text("\n".join(dovecot) + "\n")
    (root_dir / "postfix" / "sni").write_text("\n".join(sni) + "\n")
    _main_cf(root_dir)
    (root_dir / "done").write_text("")
    return root_dir


def _main_cf(root_dir: Path) -> None:
    first = root_dir / "ssl" / "mail.tenant0.example"
    (root_dir / "postfix" / "main.cf").write_text(
        "smtpd_tls_security_level = may\n"
        f"smtpd_tls_cert_file = {first}/fullchain.pem\n"
        f"smtpd_tls_key_file = {first}/privkey.pem\n"
        f"tls_server_sni_maps = texthash:{root_dir}/postfix/sni\n"
    )


def command(count: int) -> list[str]:
    root = build(count)
    return [
        "audit",
        str(root / "dovecot.conf"),
        str(root / "postfix"),
        "--format",
        "json",
        "--ca-file",
        str(root / "root.pem"),
        "--at",
        AT,
    ]


def plain(count: int) -> None:
    """The floor for a Python tool: read, parse, verify each signature, load each key."""
    root = build(count)
    anchor = x509.load_pem_x509_certificate((root / "root.pem").read_bytes())
    started = time.perf_counter()
    for folder in sorted((root / "ssl").iterdir()):
        certs = x509.load_pem_x509_certificates((folder / "fullchain.pem").read_bytes())
        serialization.load_pem_private_key(
            (folder / "privkey.pem").read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
        for child, parent in zip(certs, [*certs[1:], anchor], strict=False):
            # A leaf alone: its parent is the intermediate, not the root; it fails, as it may.
            with contextlib.suppress(Exception):
                child.verify_directly_issued_by(parent)
    print(f"plain loop over {count} domains: {time.perf_counter() - started:.2f} s")


def stages(count: int) -> None:
    """Each stage's time in one process: reading, auditing, rendering JSON."""
    import gc

    from mailtls.audit import audit
    from mailtls.config.discover import read_all
    from mailtls.merge import Given, merged
    from mailtls.report import json as json_report

    args = command(count)
    started = time.perf_counter()
    config = read_all(args[1:3], {})
    read = time.perf_counter()
    cpu_before = time.process_time()
    given = Given(ca_files=[args[6]], at=AT, system_trust=True)
    options = merged(given, {}).audit  # no MAILTLS_CONFIG: /etc/mailtls/config.yaml or defaults
    pool_from = os.environ.get("PERF_POOL_FROM")  # unset: the default; "none": serial
    if pool_from:
        options = replace(options, pool_from=None if pool_from == "none" else int(pool_from))
    report = audit(config, options)
    audited = time.perf_counter()
    audit_cpu = time.process_time() - cpu_before
    print(
        f"peak RSS after the audit: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10} MiB"
    )
    text = json_report.render(report)
    rendered = time.perf_counter()
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"{count}: read {read - started:.2f} s, audit {audited - read:.2f} s"
        f" (cpu here {audit_cpu:.2f} s),"
        f" render {rendered - audited:.2f} s ({len(text) >> 20} MiB), gc {gc.isenabled()};"
        f" cpu {own.ru_utime + own.ru_stime:.2f} s + workers"
        f" {workers.ru_utime + workers.ru_stime:.2f} s; peak RSS {own.ru_maxrss >> 10} MiB,"
        f" worker {workers.ru_maxrss >> 10} MiB"
    )


if __name__ == "__main__":
    what, size = sys.argv[1], int(sys.argv[2])
    if what == "build":
        print(build(size))
    elif what == "plain":
        plain(size)
    elif what == "stages":
        stages(size)
    else:
        print(" ".join(command(size)))
