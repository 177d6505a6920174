"""`mailtls fix` on Postfix `smtpd_tls_chain_files = key.pem, cert.pem`: the intermediate goes
into the file that holds the leaf, never into the private key's file."""

from __future__ import annotations

from pathlib import Path

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.run import FixOptions, FixResult, exit_code, fix
from tests.fix.test_edit_config import AT, PKI, pki, postfix_dir


def chain_files_setup(tmp_path: Path, *files: tuple[str, bytes]) -> Path:
    ssl = tmp_path / "ssl"
    ssl.mkdir()
    for name, data in files:
        (ssl / name).write_bytes(data)
    listed = ", ".join(str(ssl / name) for name, _ in files)
    main = f"myhostname = mail.example.org\nsmtpd_tls_security_level = may\nsmtpd_tls_chain_files = {listed}\n"
    return postfix_dir(tmp_path, main)


def run_fix(folder: Path) -> FixResult:
    options = FixOptions(
        audit=AuditOptions(
            at=AT,
            ca_files=(str(PKI / "root.pem"),),
            system_trust=False,
            intermediates=(str(PKI / "issuing-r2.pem"),),
        ),
        offline=True,
        lock_file=str(folder / "lock"),
    )
    return fix(read_all([str(folder)], {}), options)


def test_the_leaf_file_gets_the_chain_and_the_key_file_is_untouched(tmp_path: Path) -> None:
    """Before: key.pem was rewritten with the leaf and the intermediate (and cert.pem's leaf
    then followed them a second time)."""
    key = pki("leaf-2026.key")
    folder = chain_files_setup(tmp_path, ("key.pem", key), ("cert.pem", pki("leaf-2026.pem")))
    result = run_fix(folder)
    assert (tmp_path / "ssl" / "key.pem").read_bytes() == key
    assert (tmp_path / "ssl" / "cert.pem").read_bytes() == pki("leaf-2026.pem", "issuing-r2.pem")
    assert [c.path for c in result.changes] == [str(tmp_path / "ssl" / "cert.pem")]
    assert exit_code(result, dry_run=False) == 0


def test_a_chain_spread_over_several_files_is_refused(tmp_path: Path) -> None:
    """cert.pem and a wrong chain.pem: which file the right chain belongs in is the admin's
    call; nothing is written."""
    files = (
        ("key.pem", pki("leaf-2026.key")),
        ("cert.pem", pki("leaf-2026.pem")),
        ("chain.pem", pki("root.pem")),
    )
    folder = chain_files_setup(tmp_path, *files)
    result = run_fix(folder)
    for name, data in files:
        assert (tmp_path / "ssl" / name).read_bytes() == data
    (refusal,) = result.refusals
    assert "comes from 2 files" in refusal.reason and "nothing was changed" in refusal.reason
    assert exit_code(result, dry_run=False) == 1
