"""A local ACME server (the real pebble on 127.0.0.1, high ports) and the real certbot and
dehydrated run against it, all state under the test's folder; the oracle for what the
listeners serve afterwards. pebble validates no challenge
(PEBBLE_VA_ALWAYS_VALID), so nothing leaves loopback."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailtls.probe.tls import Target, probe
from tests.conftest import need_binary
from tests.daemons import Running, dovecot, free_ports, postfix

NAME = "mail.example.org"
MAILTLS = str(Path(sys.executable).parent / "mailtls")


@dataclass(frozen=True)
class Pebble:
    directory: str  # the ACME directory URL
    management: str  # https://127.0.0.1:PORT: /roots/0, /intermediates/0
    tls_cert: Path  # pebble's own HTTPS certificate: what certbot must trust

    def get(self, path: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.tls_cert))
        with urllib.request.urlopen(self.management + path, context=context, timeout=5) as reply:
            data: bytes = reply.read()
            return data


def pebble_tls(folder: Path) -> Path:
    """pebble needs a certificate for its own listener; Debian ships none."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "7",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return folder / "cert.pem"


@contextlib.contextmanager
def pebble(folder: Path) -> Iterator[Pebble]:
    """pebble running until the block ends. Each start makes a new root and intermediate."""
    binary = need_binary("pebble")
    cert = folder / "tls" / "cert.pem"
    if not cert.exists():
        pebble_tls(folder / "tls")
    listen, manage, http, tls = free_ports(4)
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{listen}",
            "managementListenAddress": f"127.0.0.1:{manage}",
            "certificate": str(cert),
            "privateKey": str(folder / "tls" / "key.pem"),
            "httpPort": http,
            "tlsPort": tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    # pebble refuses 5% of good nonces by default to test retries; dehydrated does not retry
    env = {**os.environ, "PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_VA_NOSLEEP": "1"}
    env["PEBBLE_WFE_NONCEREJECT"] = "0"
    log = (folder / "pebble.log").open("a")
    process = subprocess.Popen(
        [binary, "-config", str(folder / "pebble.json")], stdout=log, stderr=log, env=env
    )
    server = Pebble(f"https://127.0.0.1:{listen}/dir", f"https://127.0.0.1:{manage}", cert)
    try:
        _wait_ready(server, process, folder / "pebble.log")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_ready(server: Pebble, process: subprocess.Popen[bytes], log: Path) -> None:
    """Ready when its current root can be fetched (bounded poll, no fixed sleep)."""
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError):
            server.get("/roots/0")
            return
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"pebble did not start; log:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)  # polling interval of the readiness check, bounded by the deadline


def certbot(state: Path, server: Pebble, *args: str) -> subprocess.CompletedProcess[str]:
    """The real certbot, its config, work and logs folders under `state`."""
    binary = need_binary("certbot")
    (state / "www").mkdir(parents=True, exist_ok=True)
    argv = [
        binary, *args, "--non-interactive", "--agree-tos", "-m", "admin@example.test",
        "--server", server.directory, "--config-dir", str(state / "config"),
        "--work-dir", str(state / "work"), "--logs-dir", str(state / "logs"),
    ]  # fmt: skip
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(server.tls_cert)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=120)


def dehydrated(
    state: Path, server: Pebble, hook: Path | None, *args: str
) -> subprocess.CompletedProcess[str]:
    """The real dehydrated with its own config file and folders under `state`. pebble's HTTPS
    certificate reaches its curl through CURL_CA_BUNDLE (CURL_OPTS would be word-split)."""
    binary = need_binary("dehydrated")
    for folder in ("base", "www"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    settings = {
        "BASEDIR": state / "base",
        "CERTDIR": state / "base" / "certs",
        "ACCOUNTDIR": state / "base" / "accounts",
        "WELLKNOWN": state / "www",
        "CA": server.directory,
        "CHALLENGETYPE": "http-01",
        "KEY_ALGO": "prime256v1",
        "PRIVATE_KEY_RENEW": "no",  # the admin copies the new leaf alone: the key stays
        "CONTACT_EMAIL": "admin@example.test",
    }
    if hook is not None:
        settings["HOOK"] = hook
    config = state / "config"
    config.write_text("".join(f"{key}={shlex.quote(str(v))}\n" for key, v in settings.items()))
    env = {**os.environ, "CURL_CA_BUNDLE": str(server.tls_cert)}
    return subprocess.run(
        [binary, "--config", str(config), *args],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip


def listeners(dovecot_ports: Running, postfix_ports: Running) -> list[Target]:
    starttls = {"imap": "imap", "pop3": "pop3", "smtp": "smtp", "submission": "submission"}
    ports = {**dovecot_ports.ports, **postfix_ports.ports}
    return [Target("127.0.0.1", port, starttls.get(name), NAME) for name, port in ports.items()]


def verify(served: list[bytes], root: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """openssl, the oracle: does the served chain lead to pebble's current root?"""
    pems = [x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM) for der in served]
    (folder / "leaf.pem").write_bytes(pems[0])
    (folder / "untrusted.pem").write_bytes(b"".join(pems[1:]))
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(root), "-untrusted", str(folder / "untrusted.pem"),
         str(folder / "leaf.pem")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@dataclass(frozen=True)
class Renewing:
    """The mail server a renewal lands on: Dovecot and Postfix serving ssl/cert.pem, and
    pebble started again (a new CA URL and a new intermediate), its root in `root`."""

    imap: Running
    smtp: Running
    ca: Pebble
    root: Path

    def hook_values(self, cert: Path, lock: Path) -> dict[str, object]:
        """What the deploy hook scripts are formatted with."""
        return {"cert": cert, "lock": lock, "mailtls": MAILTLS, "root": self.root,
                "dovecot": self.imap.config, "postfix": self.smtp.config}  # fmt: skip


@contextlib.contextmanager
def renewing(folder: Path, ssl: Path) -> Iterator[Renewing]:
    main = (
        f"smtpd_tls_cert_file = {ssl}/cert.pem\nsmtpd_tls_key_file = {ssl}/key.pem\n"
        "smtpd_tls_security_level = may\n"
    )
    with (
        dovecot(folder, ssl / "cert.pem", ssl / "key.pem") as imap,
        postfix(folder, main) as smtp,
        pebble(folder / "pebble") as second,
    ):
        root = folder / "pebble-root.pem"
        root.write_bytes(second.get("/roots/0"))
        yield Renewing(imap, smtp, second, root)


def assert_every_listener_serves(server: Renewing, leaf: x509.Certificate, folder: Path) -> None:
    """Each listener sends `leaf` then pebble's current intermediate, and openssl trusts it."""
    intermediate = x509.load_pem_x509_certificate(server.ca.get("/intermediates/0"))
    for target in listeners(server.imap, server.smtp):
        wire = probe(target, 5)
        assert wire.error is None, (target, wire.error)
        served = list(wire.certs)
        assert x509.load_der_x509_certificate(served[0]) == leaf, target
        assert served[1:] == [intermediate.public_bytes(Encoding.DER)], target
        checked = verify(served, server.root, folder)
        assert checked.returncode == 0, (target, checked.stdout + checked.stderr)
