"""A multi-tenant mail host for the speed tests: each domain its own key and certificate
file, named by a Dovecot `local_name` block and by a line of a Postfix SNI map."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fixtures.build import FOREVER, issue, key_pem, leaf, pem, stored_rsa_key, utc
from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.models import ConfigResult

AT = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
EXPIRED = (utc(2025, 1, 1), utc(2025, 6, 1))


def multitenant(root: Path, domains: int, *, shared: int = 0) -> ConfigResult:
    """`domains` domains: one in five serves its leaf alone, one in seven has expired, one in
    eleven serves a certificate for another name, every other one has an RSA key. The last
    `shared` domains all name the first domain's files (a wildcard-style shared chain)."""
    root_ca = issue("mt-root", "MT Root", None, (utc(2020, 1, 1), utc(2045, 1, 1)), ca=True)
    issuing = issue("mt-r2", "MT Issuing", root_ca, (utc(2020, 1, 1), utc(2044, 1, 1)), ca=True)
    (root / "root.pem").write_bytes(pem(root_ca.cert))
    rsa_key = stored_rsa_key("leaf-rsa", 2048)
    dovecot, sni = [], []
    for i in range(domains):
        name = f"mail.t{i}.example"
        folder = root / "ssl" / (name if i < domains - shared else "mail.t0.example")
        if i < domains - shared:
            dns = (f"other.t{i}.example",) if i % 11 == 3 else (name,)
            valid = EXPIRED if i % 7 == 2 else FOREVER
            key = {"key": rsa_key} if i % 2 else {}
            issued = leaf(f"mt-{i}", issuing, valid, dns_names=dns, **key)
            folder.mkdir(parents=True)
            chain = pem(issued.cert) + (pem(issuing.cert) if i % 5 else b"")
            (folder / "fullchain.pem").write_bytes(chain)
            (folder / "privkey.pem").write_bytes(key_pem(issued.key))
            (folder / "privkey.pem").chmod(0o600)
        cert, key_file = folder / "fullchain.pem", folder / "privkey.pem"
        dovecot += [
            f"local_name {name} {{",
            f"  ssl_cert = <{cert}",
            f"  ssl_key = <{key_file}",
            "}",
        ]
        sni.append(f"{name} {key_file} {cert}")
    (root / "dovecot.conf").write_text("\n".join(dovecot) + "\n")
    (root / "postfix").mkdir()
    (root / "postfix" / "sni").write_text("\n".join(sni) + "\n")
    first = root / "ssl" / "mail.t0.example"
    (root / "postfix" / "main.cf").write_text(
        "smtpd_tls_security_level = may\n"
        f"smtpd_tls_cert_file = {first}/fullchain.pem\n"
        f"smtpd_tls_key_file = {first}/privkey.pem\n"
        f"tls_server_sni_maps = texthash:{root}/postfix/sni\n"
    )
    return read_all([str(root / "dovecot.conf"), str(root / "postfix")], {})


def options(root: Path, pool_from: int | None) -> AuditOptions:
    return AuditOptions(
        at=AT, ca_files=(str(root / "root.pem"),), system_trust=False, pool_from=pool_from
    )
