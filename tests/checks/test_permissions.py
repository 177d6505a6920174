"""cert-dir-writable, and the folder test the fixer uses before following a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailtls.checks.permissions import unsafe_component
from tests.checks.test_codes import codes, run_audit


@pytest.mark.parametrize(("mode", "fires"), [(0o755, False), (0o775, True), (0o1777, True)])
def test_a_certificate_folder_others_can_write_is_a_warning(
    tmp_path: Path, mode: int, fires: bool
) -> None:
    """Group 0 is root's; a group other than root's, or everyone, can replace the file."""
    folder = tmp_path / "srv"
    folder.mkdir()
    if os.geteuid() == 0:
        os.chown(folder, 0, 0 if mode == 0o755 else 65534)
    folder.chmod(mode)
    report = run_audit(folder, ["leaf-2026", "issuing-r2"], "leaf-2026")
    assert codes(report) == (["cert-dir-writable"] if fires else [])
    if fires:
        (finding,) = report.findings
        assert finding.path == str(folder / "cert.pem")
        assert str(folder) in finding.message and "\n" not in finding.message


def test_a_folder_owned_by_another_user_is_a_warning(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder away")
    folder = tmp_path / "srv"
    folder.mkdir()
    os.chown(folder, 65534, 65534)
    assert codes(run_audit(folder, ["leaf-2026", "issuing-r2"], "leaf-2026")) == [
        "cert-dir-writable"
    ]


def test_unsafe_component_passes_sticky_tmp_but_not_an_open_folder(tmp_path: Path) -> None:
    assert unsafe_component(str(tmp_path), {os.geteuid()}) is None  # /tmp is sticky
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "inner").mkdir()
    shared.chmod(0o777)
    assert unsafe_component(str(shared / "inner"), {os.geteuid()}) == (
        f"{shared} is writable by everyone"
    )
    shared.chmod(0o1777)  # sticky in the middle: others cannot rename inner away
    assert unsafe_component(str(shared / "inner"), {os.geteuid()}) is None
    assert unsafe_component(str(shared), {os.geteuid()}) == f"{shared} is writable by everyone"
