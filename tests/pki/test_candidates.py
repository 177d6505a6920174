"""--intermediates FOLDER: what is not a certificate there is passed over; a FILE is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailtls.errors import UsageError
from mailtls.pki.candidates import Candidates
from mailtls.pki.load import FileCache
from tests.conftest import FIXTURES
from tests.pki.test_hostile import CA, KEY, LEAF, audit_one


def mixed_folder(tmp_path: Path) -> Path:
    """Like /etc/ssl/certs: a README, a subfolder (java/), a key, a dangling link, a FIFO."""
    folder = tmp_path / "intermediates"
    (folder / "java").mkdir(parents=True)
    (folder / "java" / "cacerts").write_bytes(b"\xfe\xed\xfe\xed binary keystore")
    (folder / "README").write_text("Put the CA's intermediates here.\n")
    (folder / "leaf.key").write_bytes(KEY)
    (folder / "gone.pem").symlink_to(folder / "nowhere.pem")
    os.mkfifo(folder / "pipe")
    (folder / "issuing-r2.pem").write_bytes(CA)
    return folder


def test_folder_entries_that_are_not_certificates_are_passed_over(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path)
    report = audit_one(tmp_path, LEAF, intermediates=(str(folder),))
    (missing,) = [f for f in report.findings if f.code == "missing-intermediate"]
    assert str(folder / "issuing-r2.pem") in missing.message


def test_a_named_file_that_is_not_a_certificate_stays_an_error(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a certificate\n")
    with pytest.raises(UsageError, match="README: no certificate or key in it"):
        Candidates([str(tmp_path / "README")], FileCache())


def test_a_named_path_that_cannot_be_read_stays_an_error(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert Candidates([str(FIXTURES / "pki")], FileCache()).given.certs
    with pytest.raises(UsageError):
        Candidates([str(tmp_path / "loop")], FileCache())
