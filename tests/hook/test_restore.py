"""The hook's rollback puts back the very backup it made, not whichever is newest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailtls.errors import MailtlsError
from mailtls.fix.apply import backup_name, restore


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
