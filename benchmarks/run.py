"""Time the configuration readers on a multi-tenant host: 10,000 local_name blocks, 10,000 SNI keys.

make bench
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from mailtls.config import dovecot, postfix
from mailtls.config.source import ConfigFiles

DOMAINS = 10_000


def dovecot_tree(root: Path) -> Path:
    lines = ["ssl_cert = </etc/ssl/default.pem", "ssl_key = </etc/ssl/default.key"]
    for i in range(DOMAINS):
        lines += [
            f"local_name mail.tenant{i}.example {{",
            f"  ssl_cert = </etc/ssl/tenant{i}/fullchain.pem",
            f"  ssl_key = </etc/ssl/tenant{i}/privkey.pem",
            "}",
        ]
    (root / "dovecot.conf").write_text("\n".join(lines) + "\n")
    return root / "dovecot.conf"


def postfix_tree(root: Path) -> Path:
    sni = root / "sni"
    entry = "mail.tenant{0}.example /etc/ssl/t{0}/key.pem /etc/ssl/t{0}/fullchain.pem\n"
    sni.write_text("".join(entry.format(i) for i in range(DOMAINS)))
    (root / "sni.db").write_bytes(b"")
    (root / "main.cf").write_text(
        "smtpd_tls_cert_file = /etc/ssl/default.pem\nsmtpd_tls_security_level = may\n"
        f"tls_server_sni_maps = hash:{sni}\n"
    )
    return root


def timed(label: str, read: object) -> None:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = read()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    print(f"{label:<44} {len(result.endpoints):>6} endpoints  {best:6.3f} s (best of 3)")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        conf = dovecot_tree(root)
        timed(
            "dovecot: 10,000 local_name blocks",
            lambda: dovecot.read(str(conf), ConfigFiles(), os.environ),
        )
        pf = postfix_tree(root)
        timed(
            "postfix: tls_server_sni_maps, 10,000 keys",
            lambda: postfix.read(str(pf), ConfigFiles()),
        )


if __name__ == "__main__":
    main()
