"""The stage for the attacks: a world-traversable folder, a server whose certificate folder
belongs to `nobody` (the renewal client's user), a root-only victim, and `nobody` itself."""

from __future__ import annotations

import datetime as dt
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.aia import AiaFetcher
from mailtls.fix.run import FixOptions, FixResult, fix
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
TRUST = (str(PKI / "root.pem"),)
R2 = str(PKI / "issuing-r2.pem")
NOBODY = 65534  # nobody and nogroup on Debian
NOGROUP = 65534
# The attacker runs the system's Python: the test's interpreter may live under /root.
ATTACKER = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3"]
SECRET = b"root's secret, 0600\n"


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("these tests need root (attacks by nobody against root, mounts, chattr)")


def need_attacker() -> None:
    if not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"):
        pytest.skip("setpriv or /usr/bin/python3 missing: no unprivileged attacker here")
    try:
        pwd.getpwuid(NOBODY)
        grp.getgrgid(NOGROUP)
    except KeyError:
        pytest.skip("no nobody/nogroup (65534) on this system")


def pki(*names: str) -> bytes:
    return b"".join((PKI / name).read_bytes() for name in names)


def state(path: Path) -> tuple[bytes | str, int, int, int]:
    """What an attack must not change: the bytes (or link target), mode and owner."""
    info = path.lstat()
    body: bytes | str = os.readlink(path) if path.is_symlink() else path.read_bytes()
    return body, info.st_mode, info.st_uid, info.st_gid


@dataclass
class Server:
    """A Dovecot config whose certificate folder nobody owns; the key is root's."""

    arena: Path
    ssl: Path
    cert: Path
    key: Path
    conf: Path
    victim: Path

    def fix(self, *, offline: bool = True, **extra: object) -> FixResult:
        settings = AuditOptions(
            at=AT, ca_files=TRUST, system_trust=False, intermediates=() if not offline else (R2,)
        )
        options = FixOptions(
            audit=settings,
            offline=offline,
            lock_file=str(self.arena / "run" / "fix.lock"),
            **extra,  # type: ignore[arg-type]
        )
        fetcher = AiaFetcher() if not offline else None
        return fix(read_all([str(self.conf)], {}), options, fetcher)


@pytest.fixture
def arena() -> Iterator[Path]:
    """A folder under /tmp that the user nobody can pass through (pytest's tmp_path is 0700)."""
    need_root()
    place = Path(tempfile.mkdtemp(prefix="mailtls-security-"))
    place.chmod(0o755)
    try:
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)


def make_server(arena: Path, cert: bytes, key: bytes, *, cert_owner: int = NOBODY) -> Server:
    need_attacker()
    (arena / "run").mkdir(mode=0o700)  # the lock's folder, root's alone
    ssl = arena / "ssl"
    ssl.mkdir()
    os.chown(ssl, NOBODY, NOGROUP)
    cert_file, key_file = ssl / "cert.pem", arena / "key.pem"
    cert_file.write_bytes(cert)
    os.chown(cert_file, cert_owner, NOGROUP if cert_owner == NOBODY else 0)
    cert_file.chmod(0o644)
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    conf = arena / "dovecot.conf"
    conf.write_text(f"ssl_cert = <{cert_file}\nssl_key = <{key_file}\n")
    victim = arena / "victim"
    victim.write_bytes(SECRET)
    victim.chmod(0o600)
    return Server(arena, ssl, cert_file, key_file, conf, victim)


def as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ATTACKER, "-c", code, *args], capture_output=True, text=True, timeout=30, check=False
    )


def spawn_nobody(code: str, *args: str) -> subprocess.Popen[str]:
    """A running attacker; it prints one line once it is at work (read it to wait for that)."""
    attacker = subprocess.Popen([*ATTACKER, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert attacker.stdout is not None
    assert attacker.stdout.readline().strip() == "ready"
    return attacker


def mailtls(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtls", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, **(env or {})},
    )
