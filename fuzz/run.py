"""`make fuzz`: run each atheris target for a while (60 s by default), from seeds made of the
fixtures, and print the executions and any crash. Not part of the test suite."""

from __future__ import annotations

import argparse
import collections
import itertools
import re
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from targets import TARGETS  # noqa: E402


def seeds() -> dict[str, list[bytes]]:
    pki = sorted((ROOT / "fixtures" / "pki").glob("*.pem")) + sorted(
        (ROOT / "fixtures" / "pki").glob("*.key")
    )
    pems = [path.read_bytes() for path in pki]
    ders = [
        x509.load_pem_x509_certificate(p).public_bytes(serialization.Encoding.DER)
        for p in pems
        if p.startswith(b"-----BEGIN CERTIFICATE")
    ]
    demo = ROOT / "fixtures" / "demo" / "etc"
    der = ders[0]
    return {
        "pem_der": pems + ders,
        "pem_der_names": pems + ders,
        "aia_response": [
            b"\0\0\0\0HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(der), der),
            b"\x10\x20\x30\x40HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
            b"\0\0\0\0HTTP/1.0 302 Found\r\nLocation: http://127.0.0.1:8080/a.der\r\n\r\n",
            b"\0\0\0\0http://aia.example.org:8080/r2.der?x=1",
        ],
        "dovecot_reader": [
            b"!include conf.d/10-ssl.conf\n"
            + (demo / "dovecot" / "dovecot.conf").read_bytes()
            + b"\0"
            + (demo / "dovecot" / "conf.d" / "10-ssl.conf").read_bytes(),
            b"ssl_cert = </etc/ssl/a.pem\nlocal_name mail.example.org {\n  ssl_cert = <b\n}\n"
            b"\0protocol imap {\n  ssl_key = $ssl_cert\n}\n",
        ],
        "postfix_reader": [
            (demo / "postfix" / "main.cf").read_bytes()
            + b"\0"
            + (demo / "postfix" / "master.cf").read_bytes(),
            b"a = ${b?{x}:{y}} $c\nsmtpd_tls_chain_files = $a, /x\n\0"
            b"submission inet n - y - - smtpd\n  -o { smtpd_tls_cert_file = /y }\n",
        ],
    }


def run(name: str, seconds: int, work: Path) -> tuple[int, dict[str, int]]:
    """Executions and the crashes found, by their exception line. libFuzzer stops at the first
    crash; it is started again on the grown corpus until the time is up, so one known crash
    does not hide the others."""
    corpus, seed_dir = work / name / "corpus", work / name / "seeds"
    for folder in (corpus, seed_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for number, data in enumerate(seeds()[name]):
        (seed_dir / f"seed-{number}").write_bytes(data)
    end = time.monotonic() + seconds
    runs, crashes = 0, collections.Counter[str]()
    for attempt in itertools.count():
        left = int(end - time.monotonic())
        if left < 1:
            break
        command = [
            sys.executable,
            str(HERE / "one.py"),
            name,
            str(corpus),
            str(seed_dir),
            f"-max_total_time={left}",
            "-timeout=10",  # an input slower than this is reported as a hang
            "-rss_limit_mb=2048",
            f"-artifact_prefix={work / name}/",
            "-print_final_stats=1",
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        log = done.stdout + done.stderr
        (work / name / f"log-{attempt}.txt").write_text(log)
        executed = re.findall(r"stat::number_of_executed_units: (\d+)", log)
        runs += int(executed[-1]) if executed else 0
        crashes.update(_problems(log))
        if done.returncode == 0:
            break
    return runs, dict(crashes)


def _problems(log: str) -> list[str]:
    lines = log.splitlines()
    found = [
        lines[n + 1] if "Uncaught Python exception" in line else line.partition("ERROR: ")[2]
        for n, line in enumerate(lines[:-1])
        if "Uncaught Python exception" in line or "ERROR: libFuzzer: timeout" in line
    ]
    return [text[:160] for text in found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "fuzz")
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    options = parser.parse_args()
    failed = False
    for name in options.targets:
        runs, crashes = run(name, options.seconds, options.work)
        print(
            f"{name:16} {runs:>10} executions in {options.seconds} s,"
            f" {len(crashes)} distinct crash(es)"
        )
        for text, count in sorted(crashes.items()):
            print(f"  {count} x {text}")
        failed = failed or bool(crashes)
    print(f"logs, corpora and crash inputs: {options.work}/<target>/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
