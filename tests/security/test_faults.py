"""File-system faults under `mailtls fix`: a full disk (a small tmpfs), a read-only mount, an
immutable file or folder. Each is one line on stderr, exit 2, and nothing changed: the file,
its key, no backup, no stray temporary file."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailtls.fix.apply import TEMP_MARK
from tests.security.arena import R2, TRUST, arena, mailtls, need_root, pki

__all__ = ["arena"]  # the fixture, used by name

PAGE = 4096


def fix_cli(conf: Path, run: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["--offline", "--no-system-trust", "--ca-file", TRUST[0], "--intermediates", R2]
    return mailtls(
        "fix",
        str(conf),
        *args,
        "--at",
        "2026-11-29",
        *extra,
        env={"MAILTLS_LOCK_FILE": str(run / "fix.lock")},
    )


def server(folder: Path) -> Path:
    (folder / "cert.pem").write_bytes(pki("leaf-2026.pem"))
    (folder / "key.pem").write_bytes(pki("leaf-2026.key"))
    (folder / "key.pem").chmod(0o600)
    conf = folder / "dovecot.conf"
    conf.write_text(f"ssl_cert = <{folder}/cert.pem\nssl_key = <{folder}/key.pem\n")
    return conf


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def one_line_error(done: subprocess.CompletedProcess[str], why: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("mailtls: error: ") and why in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def small_fs(arena: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, or a skip where mounting is not permitted."""
    need_root()
    place = arena / "small"
    place.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=755", "tmpfs", str(place)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield place
    finally:
        subprocess.run(["umount", "-l", str(place)], check=False)


def fill(folder: Path, leave_pages: int) -> None:
    """Fill the file system page by page, then free `leave_pages` pages."""
    (folder / "filler").mkdir()
    pages = []
    for n in range(100_000):
        page = folder / "filler" / str(n)
        try:
            page.write_bytes(b"x" * PAGE)
        except OSError as error:
            assert error.errno == errno.ENOSPC
            page.unlink(missing_ok=True)
            break
        pages.append(page)
    for page in pages[len(pages) - leave_pages :] if leave_pages else []:
        page.unlink()


@pytest.mark.parametrize("free_pages", [0, 1], ids=["no room", "room for the backup only"])
def test_full_disk_is_one_line_and_changes_nothing(
    arena: Path, small_fs: Path, free_pages: int
) -> None:
    conf = server(small_fs)
    fill(small_fs, free_pages)
    before = files(small_fs)
    done = fix_cli(conf, arena / "run")
    one_line_error(done, "could not write (No space left on device); it is unchanged")
    assert files(small_fs) == before  # no backup, no temporary file


def test_full_backup_dir_is_one_line_and_changes_nothing(arena: Path, small_fs: Path) -> None:
    certs = arena / "certs"
    certs.mkdir()
    conf = server(certs)
    fill(small_fs, 0)
    before = files(certs)
    done = fix_cli(conf, arena / "run", "--backup-dir", str(small_fs))
    one_line_error(done, "No space left on device")
    assert files(certs) == before


@pytest.mark.parametrize("where", ["certificate folder", "backup dir"])
def test_read_only_mount_is_one_line_and_changes_nothing(
    arena: Path, small_fs: Path, where: str
) -> None:
    certs = small_fs if where == "certificate folder" else arena / "certs"
    certs.mkdir(exist_ok=True)
    conf = server(certs)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    before = files(certs)
    extra = ("--backup-dir", str(small_fs)) if where == "backup dir" else ()
    done = fix_cli(conf, arena / "run", *extra)
    one_line_error(done, "Read-only file system")
    assert files(certs) == before


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i refused here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.mark.parametrize("which", ["cert.pem", "its folder"])
def test_immutable_file_or_folder_is_one_line_and_changes_nothing(arena: Path, which: str) -> None:
    certs = arena / "certs"
    certs.mkdir()
    conf = server(certs)
    before = files(certs)
    with immutable(certs / "cert.pem" if which == "cert.pem" else certs):
        done = fix_cli(conf, arena / "run")
    one_line_error(done, "could not write (Operation not permitted); it is unchanged")
    assert files(certs) == before
    assert not [p for p in os.listdir(certs) if TEMP_MARK in p or p.endswith(".bak")]


def test_second_file_on_a_full_disk_the_first_is_said_reloaded_and_audited(
    arena: Path, small_fs: Path
) -> None:
    """Before: the first file was rewritten, nothing said so, no reload, 'internal error'."""
    certs = arena / "certs"
    certs.mkdir()
    conf = server(certs)
    (small_fs / "b.pem").write_bytes(pki("leaf-2026.pem"))
    conf.write_text(
        conf.read_text()
        + f"local_name imap.example.org {{\n  ssl_cert = <{small_fs}/b.pem\n"
        + f"  ssl_key = <{certs}/key.pem\n}}\n"
    )
    fill(small_fs, 0)
    marker = arena / "reloaded"
    done = fix_cli(conf, arena / "run", "--reload", "--dovecot-reload", f"touch {marker}")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"rewrote {certs}/cert.pem for dovecot:global" in lines
    assert (
        f"NOT written: {small_fs}/b.pem: could not write (No space left on device);"
        " it is unchanged" in lines
    )
    assert marker.exists()  # the daemon was reloaded for the file that changed
    assert any(line.startswith("after the fix:") for line in lines)
    assert (small_fs / "b.pem").read_bytes() == pki("leaf-2026.pem")
    assert (certs / "cert.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2
