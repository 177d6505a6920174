"""Attacks by a local user (`nobody`, who owns the certificate folder as a renewal client's
user would) against root's `fix` and `restore`: each leaves root's files as they were.

Deterministic where the code offers a seam (the AIA fetch, served on 127.0.0.1, is where a
swap lands between the read and the write); repeated where it is a race.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fixtures.build import FOREVER, issue, key_pem, leaf, pem, utc
from mailtls.fix.apply import WriteError
from mailtls.fix.backups import backups_of
from mailtls.fix.lock import run_lock
from mailtls.fix.run import exit_code
from tests.security.arena import (
    R2,
    SECRET,
    TRUST,
    Server,
    arena,
    as_nobody,
    mailtls,
    make_server,
    pki,
    spawn_nobody,
    state,
)

__all__ = ["arena"]  # the fixture, used by name

RACE_ROUNDS = 10

# Swap every backup or temporary file mailtls makes for a symlink to the victim, as fast as
# it can: root setting a mode or owner by path would then change the victim.
SWAPPER = """
import os, sys
folder, victim = sys.argv[1:3]
print("ready", flush=True)
n = 0
while True:
    for name in os.listdir(folder):
        if name.endswith(".bak") or ".mailtls-tmp-" in name:
            n += 1
            link = os.path.join(folder, f".swap{n}")
            try:
                os.symlink(victim, link)
                os.rename(link, os.path.join(folder, name))
            except OSError:
                pass
"""


def test_backup_and_temp_files_swapped_for_symlinks_never_reach_the_victim(
    arena: Path,
) -> None:
    """Before: root chowned and chmodded the backup by path after the rename (29 of 30)."""
    server = make_server(arena, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    before = state(server.victim)
    attacker = spawn_nobody(SWAPPER, str(server.ssl), str(server.victim))
    try:
        for _ in range(RACE_ROUNDS):
            server.cert.unlink(missing_ok=True)
            server.cert.write_bytes(pki("leaf-2026.pem"))
            os.chown(server.cert, 65534, 65534)
            # The folder is nobody's: the attacker may spoil root's write (a one-line
            # WriteError), never turn it onto the victim.
            with contextlib.suppress(WriteError):
                server.fix()
            assert state(server.victim) == before
    finally:
        attacker.kill()
        attacker.wait()
    assert server.victim.read_bytes() == SECRET


@pytest.fixture
def aia_during() -> Iterator[Callable[[Callable[[], None]], str]]:
    """An AIA server on 127.0.0.1 that runs `meanwhile` (the attack) before it answers with
    R2: the attack lands exactly between root's read and root's write."""
    root = issue("root", "Example Root CA X1", None, (utc(2020, 1, 1), utc(2045, 1, 1)), ca=True)
    r2 = issue(
        "issuing-r2", "Example Issuing CA R2", root, (utc(2025, 6, 1), utc(2040, 6, 1)), ca=True
    )
    body = r2.cert.public_bytes(serialization.Encoding.DER)
    attacks: list[Callable[[], None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            for attack in attacks:
                attack()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def start(meanwhile: Callable[[], None]) -> str:
        attacks.append(meanwhile)
        return f"http://127.0.0.1:{server.server_address[1]}/r2.der"

    try:
        yield start
    finally:
        server.shutdown()
        server.server_close()


def aia_leaf(url: str) -> tuple[bytes, bytes]:
    root = issue("root", "Example Root CA X1", None, (utc(2020, 1, 1), utc(2045, 1, 1)), ca=True)
    r2 = issue(
        "issuing-r2", "Example Issuing CA R2", root, (utc(2025, 6, 1), utc(2040, 6, 1)), ca=True
    )
    story = leaf("leaf-aia", r2, FOREVER, aia=url)
    return pem(story.cert), key_pem(story.key)


SYMLINK = "import os, sys; os.symlink(sys.argv[2], sys.argv[1] + '.x'); os.rename(sys.argv[1] + '.x', sys.argv[1])"


def test_certificate_swapped_for_a_symlink_during_the_fetch_is_not_written_through(
    arena: Path, aia_during: Callable[[Callable[[], None]], str]
) -> None:
    """Before: the path was resolved after the fetch, and root overwrote the victim."""
    holder: list[Server] = []

    def swap() -> None:
        done = as_nobody(SYMLINK, str(holder[0].cert), str(holder[0].victim))
        assert done.returncode == 0, done.stderr

    cert, key = aia_leaf(aia_during(swap))
    server = make_server(arena, cert, key)
    holder.append(server)
    before = state(server.victim)
    result = server.fix(offline=False)
    assert state(server.victim) == before
    assert os.readlink(server.cert) == str(server.victim)  # the attacker's link, untouched
    assert [f.code for f in result.skipped] == ["changed-during-fix"]
    assert result.written == [] and exit_code(result, dry_run=False) == 1


RENEW = """
import os, sys
cert, data = sys.argv[1], sys.argv[2].encode()
with open(cert + ".new", "wb") as f:
    f.write(data)
os.rename(cert + ".new", cert)
"""


def test_a_renewal_by_the_client_during_the_fetch_is_kept(
    arena: Path, aia_during: Callable[[Callable[[], None]], str]
) -> None:
    """Before: fix overwrote the renewed file with the old leaf and said "rewrote", exit 0."""
    holder: list[Server] = []
    renewed = pki("leaf-2026.pem", "issuing-r2.pem").decode()

    def renew() -> None:
        done = as_nobody(RENEW, str(holder[0].cert), renewed)
        assert done.returncode == 0, done.stderr

    cert, key = aia_leaf(aia_during(renew))
    server = make_server(arena, cert, key)
    holder.append(server)
    result = server.fix(offline=False)
    assert server.cert.read_bytes() == renewed.encode()
    assert [f.code for f in result.skipped] == ["changed-during-fix"]
    assert exit_code(result, dry_run=False) == 1
    assert backups_of(str(server.cert), None) == []


PLANT_LINK = "import os, sys; os.symlink(sys.argv[2], sys.argv[1])"
PLANT_FILE = "import sys; open(sys.argv[1], 'wb').write(sys.argv[2].encode())"


@pytest.mark.parametrize("planted", ["symlink", "file of nobody's"])
def test_restore_ignores_a_planted_newer_backup(arena: Path, planted: str) -> None:
    """Before: restore followed a newer-named .bak symlink and copied any secret into the
    world-readable certificate."""
    server = make_server(arena, pki("leaf-2026.pem"), pki("leaf-2026.key"), cert_owner=0)
    server.fix()  # a genuine backup exists
    newer = server.ssl / "cert.pem.mailtls-29991231T235959999999Z.bak"
    code = PLANT_LINK if planted == "symlink" else PLANT_FILE
    what = str(server.victim) if planted == "symlink" else "-----BEGIN CERTIFICATE-----\n"
    assert as_nobody(code, str(newer), what).returncode == 0
    before, victim = state(server.cert), state(server.victim)
    done = mailtls("restore", str(server.cert), env={"MAILTLS_LOCK_FILE": str(arena / "run/l")})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not restored" in done.stderr
    assert state(server.cert) == before and state(server.victim) == victim


LOCK_SQUAT = r"""
set -u
mount -t tmpfs -o mode=755 tmpfs /run || exit 77
mkdir -m 1777 /run/lock
{plant}
timeout 60 "$PYTHON" -m mailtls fix "$CONF" --offline --no-system-trust --ca-file "$ROOT" \
    --intermediates "$R2" --at 2026-11-29 >/dev/null 2>/run/fix.err
echo "fix=$?"
echo "lockdir=$(stat -c '%a %u' /run/mailtls)"
echo "fifo=$(test -p /run/lock/mailtls.lock && echo kept)"
echo "created=$(test -e /run/created-by-root && echo yes || echo no)"
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c \
    "open('/run/mailtls/fix.lock', 'a')" 2>/dev/null && echo "nobody=opened" || echo "nobody=refused"
"""

NOBODY_SH = "setpriv --reuid=65534 --regid=65534 --clear-groups"
PLANTS = {
    "fifo": f"{NOBODY_SH} mkfifo /run/lock/mailtls.lock",
    "symlink": f"{NOBODY_SH} ln -s /run/created-by-root /run/lock/mailtls.lock",
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_a_lock_squatted_at_the_old_place_changes_nothing(arena: Path, plant: str) -> None:
    """In a mount namespace with its own /run: nobody plants a FIFO (fix hung forever) or a
    symlink (root created the file of nobody's choice) at /run/lock/mailtls.lock."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare here: no private /run to squat in")
    server = make_server(arena, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    script = LOCK_SQUAT.replace("{plant}", PLANTS[plant])
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "CONF": str(server.conf),
        "ROOT": TRUST[0],
        "R2": R2,
    }
    env.pop("MAILTLS_LOCK_FILE", None)
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
    )
    if done.returncode == 77 or "unshare failed" in done.stderr:
        pytest.skip("no mount namespace here (unshare or mount refused)")
    said = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert said["fix"] == "0", done.stdout + done.stderr
    assert said["lockdir"] == "700 0"
    assert said["created"] == "no"
    assert said["nobody"] == "refused"
    if plant == "fifo":
        assert said["fifo"] == "kept"
    assert len(server.cert.read_bytes()) > len(pki("leaf-2026.pem"))  # it was fixed


def test_a_held_lock_is_waited_for_with_a_bound(arena: Path) -> None:
    server = make_server(arena, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    lock = str(arena / "run" / "fix.lock")
    before = state(server.cert)
    with run_lock(lock, wait=0):
        done = mailtls(
            "fix",
            str(server.conf),
            "--offline",
            "--no-system-trust",
            "--ca-file",
            TRUST[0],
            "--intermediates",
            R2,
            "--at",
            "2026-11-29",
            env={"MAILTLS_LOCK_FILE": lock, "MAILTLS_LOCK_WAIT": "0.5"},
        )
    assert done.returncode == 2
    assert (
        done.stderr
        == f"mailtls: error: another mailtls run holds {lock} (waited 0.5 s); try again later\n"
    )
    assert state(server.cert) == before
