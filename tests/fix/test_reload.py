"""After a fix: `postmap -F` rebuilds the SNI index that copied a changed file; reloads run
only when asked, and a failed one is said."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.reload import Step, run_steps
from mailtls.fix.run import FixOptions, exit_code, fix
from tests.conftest import FIXTURES, need_binary

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def pki(*names: str) -> bytes:
    return b"".join((PKI / n).read_bytes() for n in names)


def postfix_with_sni(tmp_path: Path) -> Path:
    """main.cf with a default certificate and an SNI map whose chain file lacks R2."""
    for name, data in {
        "default.pem": pki("leaf-2026.key", "leaf-2026.pem", "issuing-r2.pem"),
        "sni-chain.pem": pki("leaf-rsa.key", "leaf-rsa.pem"),
    }.items():
        (tmp_path / name).write_bytes(data)
        (tmp_path / name).chmod(0o600)
    (tmp_path / "sni").write_text(f"imap.example.org {tmp_path}/sni-chain.pem\n")
    (tmp_path / "main.cf").write_text(
        "myhostname = mail.example.org\n"
        f"smtpd_tls_chain_files = {tmp_path}/default.pem\n"
        "smtpd_tls_security_level = may\n"
        f"tls_server_sni_maps = hash:{tmp_path}/sni\n"
    )
    (tmp_path / "master.cf").write_text("")
    past = time.time() - 600
    for name in ("main.cf", "master.cf", "sni", "default.pem", "sni-chain.pem"):
        os.utime(tmp_path / name, (past, past))
    return tmp_path


def options(tmp_path: Path, **extra: object) -> FixOptions:
    audit = AuditOptions(
        at=AT,
        ca_files=(str(PKI / "root.pem"),),
        system_trust=False,
        intermediates=(str(PKI / "issuing-r2.pem"),),
    )
    return FixOptions(audit=audit, offline=True, lock_file=str(tmp_path / "lock"), **extra)  # type: ignore[arg-type]


def test_sni_chain_fixed_and_its_index_rebuilt(tmp_path: Path) -> None:
    postmap = need_binary("postmap")
    root = postfix_with_sni(tmp_path)
    assert os.system(f"{postmap} -c {root} -F hash:{root}/sni") == 0  # built before the fix
    os.utime(root / "sni.db", (time.time() - 300, time.time() - 300))
    result = fix(read_all([str(root)], {}), options(tmp_path))
    (change,) = result.changes
    assert change.path == str(root / "sni-chain.pem")
    (outcome,) = result.outcomes
    assert outcome.ok and outcome.step.argv[:2] == ("postmap", "-c")
    assert os.stat(root / "sni.db").st_mtime > os.stat(root / "sni-chain.pem").st_mtime - 1
    assert result.after is not None
    assert [f.code for f in result.after.findings] == []  # not stale, chain complete
    assert exit_code(result, dry_run=False) == 0


def test_reload_runs_only_when_asked_and_a_failure_is_said(tmp_path: Path) -> None:
    root = postfix_with_sni(tmp_path)
    (root / "sni").write_text("")  # no SNI here: only the reload matters
    (root / "default.pem").write_bytes(pki("leaf-2026.key", "leaf-2026.pem"))
    marker = tmp_path / "reloaded"
    ok = fix(
        read_all([str(root)], {}), options(tmp_path, reload=True, postfix_command=f"touch {marker}")
    )
    assert [o.ok for o in ok.outcomes] == [True] and marker.exists()
    (root / "default.pem").write_bytes(pki("leaf-2026.key", "leaf-2026.pem"))
    failed = fix(read_all([str(root)], {}), options(tmp_path, reload=True, postfix_command="false"))
    assert [o.ok for o in failed.outcomes] == [False]
    assert exit_code(failed, dry_run=False) == 1
    (root / "default.pem").write_bytes(pki("leaf-2026.key", "leaf-2026.pem"))
    quiet = fix(read_all([str(root)], {}), options(tmp_path))
    assert quiet.outcomes == [] and len(quiet.changes) == 1


def test_postmap_is_not_run_as_root_in_a_folder_others_can_write(tmp_path: Path) -> None:
    """postmap creates and truncates the index beside the source, following a link planted at
    its name: run as root in a folder another user can write, it overwrote the file the link
    pointed to (checked by hand with postmap 3.7). Now the rebuild is refused, and said so."""
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    (folder / "sni").write_text("mail.example.org /x/key.pem /x/cert.pem\n")
    victim = tmp_path / "victim"
    victim.write_text("victim data\n")
    (folder / "sni.db").symlink_to(victim)
    step = Step("rebuild", ("postmap", "-c", str(tmp_path), "-F", f"hash:{folder}/sni"))
    (outcome,) = run_steps([step])
    assert not outcome.ok
    assert outcome.output == (
        f"not run: {folder} is writable by everyone, and postmap as root writes the index there"
    )
    assert victim.read_text() == "victim data\n"
