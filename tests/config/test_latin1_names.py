"""A configuration in Latin-1 names a file the daemons open by its bytes: so does mailtls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"


def mailtls(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mailtls", *args], capture_output=True, timeout=60, check=False
    )


def latin1_setup(tmp_path: Path) -> bytes:
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(folder)
    with open(folder + b"/cert.pem", "wb") as out:
        out.write((PKI / "leaf-2026.pem").read_bytes() + (PKI / "issuing-r2.pem").read_bytes())
    with open(folder + b"/key.pem", "wb") as out:
        out.write((PKI / "leaf-2026.key").read_bytes())
    os.chmod(folder + b"/key.pem", 0o600)
    conf = b"ssl_cert = <" + folder + b"/cert.pem\nssl_key = <" + folder + b"/key.pem\n"
    (tmp_path / "dovecot.conf").write_bytes(conf)
    return folder


def test_latin1_file_name_is_found_and_printed_escaped(tmp_path: Path) -> None:
    latin1_setup(tmp_path)
    args = ["--at", "2026-11-29", "--ca-file", str(PKI / "root.pem")]
    done = mailtls("audit", str(tmp_path / "dovecot.conf"), *args)
    assert b"file-missing" not in done.stdout, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"caf\\xe9/cert.pem" in done.stdout
    data = json.loads(
        mailtls("audit", str(tmp_path / "dovecot.conf"), "--format", "json", *args).stdout
    )
    assert data["endpoints"][0]["cert_file"].endswith("caf\udce9/cert.pem")
