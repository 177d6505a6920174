"""Monitoring outputs read by what reads them: the Nagios plugin line (its format and exit
codes, as the Monitoring Plugins guidelines define them) and the Prometheus text format read
by the real prometheus-node-exporter's textfile collector on 127.0.0.1."""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

from tests.conftest import FIXTURES, need_binary
from tests.daemons import free_ports, wait_listening
from tests.test_cli import mailtls

DEMO = FIXTURES / "demo" / "etc"
PKI = FIXTURES / "pki"
PINNED = ("--at", "2026-11-29", "--no-system-trust")
# SERVICE STATUS - text | 'label'=value[UOM];[warn];[crit];[min];[max] ...
STATUS_LINE = re.compile(
    r"^MAILTLS (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+"
    r"(?: \| (?:'[^'=]+'=-?\d+(?:\.\d+)?[a-zA-Z%]*(?:;-?\d*){0,4} ?)+)?$"
)


def served_file(tmp_path: Path, *names: str, key_mode: int = 0o600) -> tuple[Path, Path]:
    cert, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join((PKI / n).read_bytes() for n in names))
    key.write_bytes((PKI / "leaf-2026.key").read_bytes())
    key.chmod(key_mode)
    return cert, key


def nagios(*args: str) -> tuple[int, list[str]]:
    done = mailtls(*args, "--format", "nagios")
    return done.returncode, done.stdout.splitlines()


def test_nagios_critical_ok_warning_unknown(tmp_path: Path) -> None:
    root = ("--ca-file", str(PKI / "root.pem"))
    code, lines = nagios("audit", str(DEMO / "dovecot"), *root, *PINNED)
    assert code == 2 and STATUS_LINE.match(lines[0]), lines
    assert lines[0].startswith("MAILTLS CRITICAL - 2 endpoint(s), 2 error(s)")
    assert "'errors'=2;;1;0" in lines[0] and "'days_left'=3625d;;0" in lines[0]
    assert lines[1].startswith("error missing-intermediate ")

    cert, key = served_file(tmp_path, "leaf-2026.pem", "issuing-r2.pem")
    code, lines = nagios("audit", str(cert), "--key", str(key), *root, *PINNED)
    assert (code, len(lines)) == (0, 1) and STATUS_LINE.match(lines[0]), lines
    assert lines[0].startswith("MAILTLS OK - 1 endpoint(s), 0 error(s), 0 warning(s)")

    key.chmod(0o644)
    code, lines = nagios("audit", str(cert), "--key", str(key), *root, *PINNED)
    assert code == 1 and lines[0].startswith("MAILTLS WARNING - ") and STATUS_LINE.match(lines[0])

    code, lines = nagios("audit", str(tmp_path / "missing.conf"), *PINNED)
    assert code == 3 and lines == [f"MAILTLS UNKNOWN - {tmp_path}/missing.conf: no such file"]
    assert STATUS_LINE.match(lines[0])


def test_prometheus_textfile_read_by_the_real_node_exporter(tmp_path: Path) -> None:
    exporter = need_binary("prometheus-node-exporter")
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    cert, key = served_file(tmp_path, "leaf-2026.pem")
    out = textfiles / "mailtls.prom"
    done = mailtls(
        "audit", str(cert), "--key", str(key), "--ca-file", str(PKI / "root.pem"), *PINNED,
        "--format", "prometheus", "--output", str(out),
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert [p.name for p in textfiles.iterdir()] == ["mailtls.prom"]  # no temporary left
    (port,) = free_ports(1)
    log = tmp_path / "exporter.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [exporter, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
             "--collector.textfile", f"--collector.textfile.directory={textfiles}"],
            stdout=sink, stderr=sink, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_listening([port], log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=10)
    endpoint = f"file:{cert}"
    assert f'mailtls_chain_trusted{{endpoint="{endpoint}"}} 0' in metrics
    assert 'mailtls_findings{code="missing-intermediate",severity="error"} 1' in metrics
    expiry = re.search(
        rf'mailtls_certificate_expiry_timestamp_seconds{{endpoint="{re.escape(endpoint)}",'
        r'position="0",sha256="[0-9a-f]{64}",subject="CN=mail.example.org"} (\S+)',
        metrics,
    )
    assert expiry is not None and float(expiry.group(1)) == 2109110400  # 2036-11-01
    assert "node_textfile_scrape_error 0" in metrics
