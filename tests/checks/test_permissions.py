"""cert-dir-writable, and the folder test the fixer uses before following a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailtls.checks.permissions import FolderFacts, unsafe_component
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


def test_a_folder_opened_between_two_audits_is_seen_by_the_second(tmp_path: Path) -> None:
    """What the folder check learns is kept for one run only: a hook process that audits,
    then audits again after a chmod, sees the folder as it is now."""
    folder = tmp_path / "srv"
    folder.mkdir()
    if os.geteuid() == 0:
        os.chown(folder, 0, 65534)
    folder.chmod(0o755)
    assert codes(run_audit(folder, ["leaf-2026", "issuing-r2"], "leaf-2026")) == []
    folder.chmod(0o775)
    assert codes(run_audit(folder, ["leaf-2026", "issuing-r2"], "leaf-2026")) == [
        "cert-dir-writable"
    ]


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


def test_folder_facts_resolve_paths_as_realpath_does(tmp_path: Path) -> None:
    """The per-run cache resolves a name in its folder's real path: the same answer as
    os.path.realpath for symlinked folders and files, `.` and `..`, missing names, loops."""
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "sub" / "cert.pem").write_text("x")
    (tmp_path / "link-dir").symlink_to(real)
    (real / "sub" / "link.pem").symlink_to("cert.pem")
    (real / "sub" / "dangling.pem").symlink_to("/nonexistent/cert.pem")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    base = str(tmp_path)
    paths = [
        "/", "/etc", f"{base}/real/sub/cert.pem", f"{base}/link-dir/sub/cert.pem",
        f"{base}/link-dir/sub/link.pem", f"{base}/real/sub/dangling.pem",
        f"{base}/link-dir/sub/../sub/cert.pem", f"{base}/link-dir/./sub/cert.pem",
        f"{base}//real/sub//cert.pem", f"{base}/real/sub/", f"{base}/missing/cert.pem",
        f"{base}/loop/cert.pem", f"/{base}/real/sub/cert.pem", "relative/cert.pem",
    ]  # fmt: skip
    facts = FolderFacts()
    for path in paths + paths:  # the second time from the cache
        assert facts.real(path)[0] == os.path.realpath(path), path
    real_file, owner = facts.file(f"{base}/link-dir/sub/link.pem")
    assert (real_file, owner) == (str(real / "sub" / "cert.pem"), os.geteuid())
    assert facts.file(f"{base}/missing/cert.pem")[1] is None
