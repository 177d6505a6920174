"""Time the audit of a multi-tenant host: 10,000 local_name blocks, each with its own leaf."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fixtures.build import FOREVER, issue, leaf, utc
from mailtls.audit import AuditOptions, audit
from mailtls.config import dovecot
from mailtls.config.source import ConfigFiles

DOMAINS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000


def build(root: Path) -> Path:
    ca = issue("bench-root", "Bench Root", None, (utc(2020, 1, 1), utc(2045, 1, 1)), ca=True)
    r2 = issue("bench-r2", "Bench Issuing", ca, (utc(2020, 1, 1), utc(2044, 1, 1)), ca=True)
    pem = serialization.Encoding.PEM
    (root / "root.pem").write_bytes(ca.cert.public_bytes(pem))
    lines = []
    for i in range(DOMAINS):
        name = f"mail.tenant{i}.example"
        issued = leaf(f"bench-{i}", r2, FOREVER, dns_names=(name,))
        folder = root / "ssl" / name
        folder.mkdir(parents=True)
        (folder / "fullchain.pem").write_bytes(
            issued.cert.public_bytes(pem) + r2.cert.public_bytes(pem)
        )
        key = issued.key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (folder / "privkey.pem").write_bytes(key)
        (folder / "privkey.pem").chmod(0o600)
        lines += [f"local_name {name} {{", f"  ssl_cert = <{folder}/fullchain.pem",
                  f"  ssl_key = <{folder}/privkey.pem", "}"]  # fmt: skip
    (root / "dovecot.conf").write_text("\n".join(lines) + "\n")
    return root / "dovecot.conf"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        conf = build(root)
        print(f"built {DOMAINS} chains in {time.perf_counter() - started:.1f} s")
        options = AuditOptions(
            at=dt.datetime(2026, 11, 29, tzinfo=dt.UTC), ca_files=(str(root / "root.pem"),)
        )
        started = time.perf_counter()
        config = dovecot.read(str(conf), ConfigFiles(), {})
        read = time.perf_counter() - started
        report = audit(config, options)
        total = time.perf_counter() - started
        errors = sum(f.severity.value == "error" for f in report.findings)
        summary = f"{len(report.endpoints)} endpoints: {total:.2f} s"
        print(f"audit of {summary} ({read:.2f} s reading the config), {errors} errors")


if __name__ == "__main__":
    main()
