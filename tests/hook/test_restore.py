"""The hook's rollback puts back the very backup it made, not whichever is newest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailtls.errors import MailtlsError
from mailtls.fix.backups import backup_name, restore


def test_the_named_backup_not_the_newest(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"now\n")
    made = []
    for day, data in ((1, b"older\n"), (2, b"newer\n")):
        name = Path(backup_name(str(cert), dt.datetime(2026, 11, day, tzinfo=dt.UTC), None))
        name.write_bytes(data)
        name.chmod(0o600)
        made.append(str(name))
    assert restore(str(cert), None, made[0]) == made[0]
    assert cert.read_bytes() == b"older\n"


def test_a_backup_not_of_this_file_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"now\n")
    stray = tmp_path / "elsewhere.bak"
    stray.write_bytes(b"planted\n")
    with pytest.raises(MailtlsError, match="no mailtls backup found"):
        restore(str(cert), None, str(stray))
    assert cert.read_bytes() == b"now\n"


def test_a_backup_larger_than_any_certificate_file_is_not_cut_short(tmp_path: Path) -> None:
    """restore read at most MAX_BYTES + 1 bytes and wrote what it read: a backup past the
    limit became a truncated file. It is refused now, and the file is left as it was."""
    from mailtls.fix.target import MAX_BYTES

    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"now\n")
    name = Path(backup_name(str(cert), dt.datetime(2026, 11, 1, tzinfo=dt.UTC), None))
    name.write_bytes(b"x" * (MAX_BYTES + 10))
    name.chmod(0o600)
    with pytest.raises(MailtlsError, match="larger than any certificate file"):
        restore(str(cert), None)
    assert cert.read_bytes() == b"now\n"
