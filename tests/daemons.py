"""Start the real Dovecot and Postfix on 127.0.0.1 with high ports, for the live tests.

Each daemon gets its own folders under the test's tmp_path (Dovecot base_dir, Postfix
config, queue and data directories) and is stopped when the test ends. Readiness is a
bounded poll of the listening port, never a fixed sleep."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import need_binary

POSTFIX_SERVICES = """\
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


@dataclass(frozen=True)
class Running:
    """A daemon under test: its listener ports by name, and its configuration path."""

    ports: dict[str, int]
    config: Path


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (the kernel picks them; loopback only)."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_listening(ports: list[int], log: Path, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    for port in ports:
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
            ):
                break
            if time.monotonic() > deadline:
                text = log.read_text() if log.exists() else "(no log)"
                pytest.fail(f"port {port} never listened; log:\n{text[-2000:]}")
            time.sleep(0.05)  # polling interval of the readiness check, bounded by the deadline


def _start(argv: list[str], log: Path) -> int:
    """Run a daemon's start command. Its output goes to a file, not a pipe: the daemon keeps
    the descriptors it inherits open, and reading a pipe would wait for it to exit."""
    with log.open("w") as out:
        return subprocess.run(
            argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=False, timeout=60
        ).returncode


@contextlib.contextmanager
def dovecot(tmp_path: Path, cert: Path, key: Path, extra: str = "") -> Iterator[Running]:
    """Dovecot 2.3 with imap, imaps, pop3 and pop3s listeners; yields their ports."""
    binary = need_binary("dovecot")
    root = tmp_path / "dovecot"
    for folder in ("run", "state"):
        (root / folder).mkdir(parents=True)
    names = ["imap", "imaps", "pop3", "pop3s"]
    ports = dict(zip(names, free_ports(4), strict=True))
    conf = root / "dovecot.conf"
    conf.write_text(
        f"protocols = imap pop3\nlisten = 127.0.0.1\nbase_dir = {root}/run\nstate_dir = {root}/state\n"
        f"instance_name = mailtls-{ports['imap']}\nlog_path = {root}/dovecot.log\n"
        f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
        "passdb {\n  driver = static\n  args = password=unused\n}\n"
        "userdb {\n  driver = static\n  args = uid=nobody gid=nogroup home=/nonexistent\n}\n"
        "service imap-login {\n"
        f"  inet_listener imap {{\n    port = {ports['imap']}\n  }}\n"
        f"  inet_listener imaps {{\n    port = {ports['imaps']}\n    ssl = yes\n  }}\n}}\n"
        "service pop3-login {\n"
        f"  inet_listener pop3 {{\n    port = {ports['pop3']}\n  }}\n"
        f"  inet_listener pop3s {{\n    port = {ports['pop3s']}\n    ssl = yes\n  }}\n}}\n" + extra
    )
    started = _start([binary, "-c", str(conf)], root / "start.log")
    assert started == 0, (root / "start.log").read_text()
    try:
        wait_listening(list(ports.values()), root / "dovecot.log")
        yield Running(ports, conf)
    finally:
        subprocess.run(
            [need_binary("doveadm"), "-c", str(conf), "stop"], capture_output=True, check=False
        )


@contextlib.contextmanager
def postfix(tmp_path: Path, main: str) -> Iterator[Running]:
    """Postfix with smtp (STARTTLS), smtps (wrapper mode) and submission listeners."""
    binary = need_binary("postfix")
    # The postfix user must reach the queue and data folders: pytest's tmp_path sits below a
    # root-only folder, so Postfix gets a folder of its own under the system's temp dir.
    root = Path(tempfile.mkdtemp(prefix="mailtls-postfix-"))
    root.chmod(0o755)
    for folder in ("conf", "queue", "data"):
        (root / folder).mkdir(parents=True)
    shutil.chown(root / "data", "postfix")
    ports = dict(zip(["smtp", "smtps", "submission"], free_ports(3), strict=True))
    (root / "conf" / "main.cf").write_text(
        "compatibility_level = 3.6\nmyhostname = mail.example.org\nmydestination =\n"
        "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
        f"queue_directory = {root}/queue\ndata_directory = {root}/data\n"
        f"maillog_file = {root}/postfix.log\nmaillog_file_prefixes = {root}\n" + main
    )
    (root / "conf" / "master.cf").write_text(
        f"127.0.0.1:{ports['smtp']} inet n - n - - smtpd\n"
        f"127.0.0.1:{ports['smtps']} inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n"
        f"127.0.0.1:{ports['submission']} inet n - n - - smtpd\n  -o smtpd_tls_security_level=encrypt\n"
        + POSTFIX_SERVICES
    )
    conf_dir = str(root / "conf")
    log = root / "postfix.log"
    started = _start([binary, "-c", conf_dir, "start"], root / "start.log")
    assert started == 0, (root / "start.log").read_text() + (
        log.read_text() if log.exists() else ""
    )
    try:
        wait_listening(list(ports.values()), log)
        yield Running(ports, root / "conf")
    finally:
        _start([binary, "-c", conf_dir, "stop"], root / "stop.log")
        shutil.rmtree(root, ignore_errors=True)
