"""backups.keep: after a fix, only the newest mailtls backups of each file written stay; no
other file is ever touched."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.backups import backup_name, backups_of, prune_backups
from mailtls.fix.run import FixOptions, fix
from tests.fix.test_fix import AT, TRUST, dovecot_server, pki

DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def plant(path: str, backup_dir: str | None, days: int) -> list[str]:
    """`days` backups of `path`, a day apart, oldest first."""
    names = [backup_name(path, START + i * DAY, backup_dir) for i in range(days)]
    for name in names:
        Path(name).write_bytes(b"old\n")
    return names


def neighbours(folder: Path) -> dict[str, bytes]:
    """Files that look like ours but are not: each must survive."""
    files = {
        "cert.pem.mailtls-20260101T000000000000Z.bak.orig": b"a",  # more after the suffix
        "cert.pem.mailtls-2026.bak": b"b",  # not our stamp
        "xcert.pem.mailtls-20250101T000000000000Z.bak": b"c",  # another file's backup
        "other.pem.mailtls-20250101T000000000000Z.bak": b"d",
        "cert.pem.bak": b"e",  # someone else's naming
        "cert.pem": b"the certificate",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def test_keeps_the_newest_and_touches_nothing_else(tmp_path: Path) -> None:
    cert = str(tmp_path / "cert.pem")
    planted = plant(cert, None, 5)
    others = neighbours(tmp_path)
    os.symlink("/etc/passwd", tmp_path / "cert.pem.mailtls-20240101T000000000000Z.bak")
    (tmp_path / "cert.pem.mailtls-20240102T000000000000Z.bak").mkdir()
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        removed = prune_backups(folder, cert, None, 3, planted[-1])
    finally:
        os.close(folder)
    assert removed == [os.path.basename(n) for n in planted[:2]]
    assert [os.path.exists(n) for n in planted] == [False, False, True, True, True]
    assert (tmp_path / "cert.pem.mailtls-20240101T000000000000Z.bak").is_symlink()
    assert (tmp_path / "cert.pem.mailtls-20240102T000000000000Z.bak").is_dir()
    assert {n: (tmp_path / n).read_bytes() for n in others} == others


def test_the_backup_just_made_stays_even_if_its_clock_was_behind(tmp_path: Path) -> None:
    """A clock set back makes today's backup sort as the oldest: it is spared anyway."""
    cert = str(tmp_path / "cert.pem")
    planted = plant(cert, None, 4)
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        prune_backups(folder, cert, None, 1, planted[0])
    finally:
        os.close(folder)
    assert backups_of(cert, None) == [planted[0]]


def run_fix(conf: Path, backup_dir: str | None, keep: int | None) -> list[str]:
    settings = AuditOptions(at=AT, ca_files=TRUST, system_trust=False)
    options = FixOptions(
        audit=settings,
        offline=True,
        backup_dir=backup_dir,
        keep_backups=keep,
        lock_file=str(conf.parent / "lock"),
    )
    intermediates = read_all([str(conf)], {})
    return fix(intermediates, options).pruned


def broken_server(tmp_path: Path) -> Path:
    """A leaf whose intermediate sits beside it: fix completes the chain."""
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    (tmp_path / "ssl" / "issuing-r2.pem").write_bytes(pki("issuing-r2.pem"))
    return conf


def test_a_fix_prunes_beside_the_file(tmp_path: Path) -> None:
    conf = broken_server(tmp_path)
    cert = os.path.realpath(tmp_path / "ssl" / "cert.pem")
    planted = plant(cert, None, 4)
    pruned = run_fix(conf, None, keep=2)
    assert pruned == [os.path.basename(n) for n in planted[:3]]
    kept = backups_of(cert, None)
    assert len(kept) == 2 and kept[0] == planted[-1]
    assert Path(kept[1]).read_bytes() == pki("leaf-2026.pem")  # this run's backup


def test_a_fix_prunes_in_the_backup_dir_and_keeps_all_by_default(tmp_path: Path) -> None:
    conf = broken_server(tmp_path)
    cert = os.path.realpath(tmp_path / "ssl" / "cert.pem")
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    planted = plant(cert, str(backups), 3)
    assert run_fix(conf, str(backups), keep=None) == []
    assert len(backups_of(cert, str(backups))) == 4
    (tmp_path / "ssl" / "cert.pem").write_bytes(pki("leaf-2026.pem"))  # broken again
    pruned = run_fix(conf, str(backups), keep=1)
    assert pruned == [os.path.basename(n) for n in planted] + [pruned[-1]]
    assert len(backups_of(cert, str(backups))) == 1


def test_a_shared_backup_dir_keeps_look_alike_paths_apart(tmp_path: Path) -> None:
    """`/a_b/c.pem` and `/a/b_c.pem` once flattened to the same name in --backup-dir: restore
    of one put the other's bytes back, and pruning one removed the other's backups."""
    shared = str(tmp_path / "backups")
    os.mkdir(shared)
    first, second = "/srv/a_b/c.pem", "/srv/a/b_c.pem"
    mine = plant(first, shared, 2)
    theirs = plant(second, shared, 3)
    assert not set(mine) & set(theirs)
    assert backups_of(first, shared) == mine
    assert backups_of(second, shared) == theirs
    folder = os.open(shared, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert prune_backups(folder, first, shared, 1, mine[-1]) == [os.path.basename(mine[0])]
    finally:
        os.close(folder)
    assert all(os.path.exists(n) for n in theirs)


def test_a_file_named_like_a_backup_stem_keeps_its_backups(tmp_path: Path) -> None:
    """`x.pem.mailtls-y`'s backups start like `x.pem`'s; they are not `x.pem`'s to restore."""
    cert = str(tmp_path / "x.pem")
    odd = str(tmp_path / "x.pem.mailtls-y")
    mine = plant(cert, None, 1)
    plant(odd, None, 2)
    assert backups_of(cert, None) == mine


def test_a_long_path_still_gets_a_backup_in_a_shared_folder(tmp_path: Path) -> None:
    """Found by review: the percent-encoded path of /etc/letsencrypt/live/<long name>/...
    went past 255 bytes with the stamp, and fix --backup-dir failed (File name too long).
    A long path keeps its tail and a hash of it whole: still one file's backups alone."""
    shared = tmp_path / "backups"
    shared.mkdir()
    deep = tmp_path / ("d" * 120) / ("e" * 100)
    deep.mkdir(parents=True)
    names = []
    for leaf in ("cert.pem", "other.pem", "é" * 60 + ".pem"):
        made = plant(str(deep / leaf), str(shared), 2)
        assert all(len(os.fsencode(os.path.basename(n))) <= 200 for n in made)
        assert backups_of(str(deep / leaf), str(shared)) == made
        names += made
    assert len(set(names)) == 6
