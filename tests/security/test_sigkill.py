"""The SIGKILL sweep: `fix` killed at every step of its write path (MAILTLS_TEST_KILL_AT=N,
N = 1, 2, ... until a run ends by itself), eight files per run. After each kill every file
holds its old bytes or the new valid chain, the keys are untouched, every backup is whole;
the next run finishes the job and leaves no stray file."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.apply import KILL_AT, TEMP_MARK
from mailtls.fix.run import FixOptions, fix
from tests.security.arena import AT, R2, TRUST, pki

FILES = 8
OLD = pki("leaf-2026.pem")
KEY = pki("leaf-2026.key")


def build(root: Path) -> list[str]:
    """Eight servers, each a Dovecot config with a leaf-only certificate and a 0600 key."""
    confs = []
    for n in range(FILES):
        folder = root / f"server{n}"
        folder.mkdir(parents=True)
        (folder / "cert.pem").write_bytes(OLD)
        (folder / "key.pem").write_bytes(KEY)
        (folder / "key.pem").chmod(0o600)
        conf = folder / "dovecot.conf"
        conf.write_text(f"ssl_cert = <{folder}/cert.pem\nssl_key = <{folder}/key.pem\n")
        confs.append(str(conf))
    return confs


def run(root: Path, confs: list[str]) -> None:
    settings = AuditOptions(at=AT, ca_files=TRUST, system_trust=False, intermediates=(R2,))
    options = FixOptions(audit=settings, offline=True, lock_file=str(root / "run" / "fix.lock"))
    fix(read_all(confs, {}), options)


def killed_at(step: int, root: Path, confs: list[str]) -> bool:
    """Run fix in a child told to SIGKILL itself at `step`; True if it died there."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 0
        try:
            os.environ[KILL_AT] = str(step)
            run(root, confs)
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, "the run failed without being killed"
    return False


def check_whole(root: Path, new: bytes) -> None:
    for n in range(FILES):
        folder = root / f"server{n}"
        assert (folder / "cert.pem").read_bytes() in (OLD, new)
        assert (folder / "cert.pem").stat().st_mode & 0o777 == 0o644
        assert (folder / "key.pem").read_bytes() == KEY
        assert (folder / "key.pem").stat().st_mode & 0o777 == 0o600
        for backup in folder.glob("cert.pem.mailtls-*.bak"):
            assert backup.read_bytes() == OLD


def strays(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if TEMP_MARK in p.name]


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Path]:
    """/dev/shm where there is one: its fsync costs nothing, so 100+ runs fit in seconds;
    the kill points are the same steps as on a disk."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="mailtls-sweep-", dir="/dev/shm"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_sigkill_at_every_step_of_the_write_path(place: Path) -> None:
    tmp_path = place
    reference = tmp_path / "reference"
    run(reference, build(reference))
    new = (reference / "server0" / "cert.pem").read_bytes()
    chain = x509.load_pem_x509_certificates(new)
    assert [c.subject.rfc4514_string().split(",")[0] for c in chain] == [
        "CN=mail.example.org",
        "CN=Example Issuing CA R2",
    ]
    started = time.monotonic()
    step = 0
    while True:
        step += 1
        root = tmp_path / f"kill{step}"
        confs = build(root)
        if not killed_at(step, root, confs):
            break
        check_whole(root, new)
        run(root, confs)  # the next run
        assert strays(root) == []
        check_whole(root, new)
        assert all((root / f"server{n}" / "cert.pem").read_bytes() == new for n in range(FILES))
    assert step - 1 >= 100, f"only {step - 1} kill points"
    print(f"{step - 1} kill points in {time.monotonic() - started:.1f} s")
    assert time.monotonic() - started < 60
