"""`fix --edit-config` for the certbot user's Postfix lists: `smtpd_tls_chain_files = privkey.pem,
cert.pem` and `tls_server_sni_maps` entries naming cert.pem, repointed at fullchain.pem; the
real postconf and postmap say what Postfix reads afterwards, and a failing postmap leaves the
source AND its index as they were."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mailtls.fix.backups import backups_of
from mailtls.fix.run import FixResult, exit_code
from mailtls.report import fix_text
from tests.conftest import need_binary, run
from tests.fix.test_edit_config import certbot_lineage, pki, postfix_dir, run_fix

MAIN = "myhostname = mail.example.org\nsmtpd_tls_security_level = may\n"


@pytest.fixture
def postmap() -> str:
    return need_binary("postmap")


def errors(result: FixResult) -> list[str]:
    assert result.after is not None
    return [f.message for f in result.after.findings if f.severity.value == "error"]


def served(postmap: str, folder: Path, name: str, table: str) -> bytes:
    """What Postfix reads for `name`: the files postmap -F copied into the index."""
    done = run([postmap, "-c", str(folder), "-F", "-q", name, table])
    assert done.returncode == 0, done.stderr
    return done.stdout.encode()


def pem_count(data: bytes) -> int:
    return data.count(b"-----BEGIN ")


def blocks(data: bytes) -> list[bytes]:
    """The PEM blocks, whatever joins them (postmap -F puts a newline between files)."""
    return re.findall(rb"-----BEGIN .*?-----END [^\n]*", data, re.DOTALL)


def test_main_cf_chain_files_repointed(tmp_path: Path, postconf: str) -> None:
    """The token naming cert.pem changes, the key's and the separators stay; postconf reads
    fullchain.pem; the audit after it is clean."""
    live = certbot_lineage(tmp_path)
    main = MAIN + f"smtpd_tls_chain_files = {live}/privkey.pem,\n    {live}/cert.pem\r\n"
    folder = postfix_dir(tmp_path, main)
    result = run_fix([folder])
    assert (folder / "main.cf").read_bytes() == main.replace("/cert.pem", "/fullchain.pem").encode()
    shown = run([postconf, "-c", str(folder), "-xh", "smtpd_tls_chain_files"]).stdout
    assert shown.split() == [f"{live}/privkey.pem,", f"{live}/fullchain.pem"]
    assert errors(result) == [] and result.suggestions == []
    assert exit_code(result, dry_run=False) == 0
    text = fix_text.render(result, dry_run=False, diff=False)
    assert f"repointed {folder}/main.cf:4: {live}/cert.pem -> {live}/fullchain.pem" in text


def test_the_suggestion_names_the_file_that_holds_the_leaf(tmp_path: Path) -> None:
    """Before: the lineage was judged by the key's file, so the suggestion (and any edit)
    named privkey.pem."""
    live = certbot_lineage(tmp_path)
    folder = postfix_dir(
        tmp_path, MAIN + f"smtpd_tls_chain_files = {live}/privkey.pem {live}/cert.pem\n"
    )
    result = run_fix([folder], dry_run=True)
    assert result.repoints[0].cert == f"{live}/cert.pem"
    assert "privkey.pem" not in fix_text.render(result, dry_run=True, diff=False)


def test_master_cf_chain_files_override_repointed(tmp_path: Path, postconf: str) -> None:
    live = certbot_lineage(tmp_path)
    master = (
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "submission inet n       -       y       -       -       smtpd\n"
        "  -o smtpd_tls_security_level=encrypt\n"
        f"  -o smtpd_tls_chain_files={live}/privkey.pem,{live}/cert.pem\n"
    )
    folder = postfix_dir(tmp_path, MAIN, master)
    result = run_fix([folder])
    assert (folder / "master.cf").read_text() == master.replace("/cert.pem", "/fullchain.pem")
    assert (folder / "main.cf").read_text() == MAIN
    shown = run([postconf, "-c", str(folder), "-P", "submission/inet/smtpd_tls_chain_files"])
    assert shown.stdout.strip().endswith(f"= {live}/privkey.pem,{live}/fullchain.pem")
    assert errors(result) == []
    assert exit_code(result, dry_run=False) == 0


def sni_setup(tmp_path: Path, postmap: str, kind: str = "hash") -> tuple[Path, Path, bytes]:
    """Two SNI names of one lineage, CRLF and a comment; the index built as Postfix needs."""
    live = certbot_lineage(tmp_path)
    folder = postfix_dir(tmp_path, MAIN + f"tls_server_sni_maps = {kind}:{tmp_path}/postfix/sni\n")
    source = folder / "sni"
    source.write_bytes(
        f"# {live}/cert.pem alone, before\r\n"
        f"mail.example.org {live}/privkey.pem {live}/cert.pem\r\n"
        f"smtp.example.org\t{live}/privkey.pem,\r\n    {live}/cert.pem\r\n".encode()
    )
    source.chmod(0o640)
    if kind != "texthash":
        assert run([postmap, "-c", str(folder), "-F", f"{kind}:{source}"]).returncode == 0
    return folder, source, source.read_bytes()


def test_sni_map_entries_repointed_and_the_index_rebuilt(tmp_path: Path, postmap: str) -> None:
    """Every entry of the lineage in one edit, the comment and CRLF kept, mode kept, a
    backup; postmap -F -q now returns the key and the full chain; the audit is clean."""
    folder, source, before = sni_setup(tmp_path, postmap)
    result = run_fix([folder])
    live = f"{tmp_path}/etc/letsencrypt/live/mail.example.org"
    new = before.replace(b"org/cert.pem\r\n", b"org/fullchain.pem\r\n")
    assert source.read_bytes() == new and new.count(b"/cert.pem") == 1  # the comment's
    assert source.stat().st_mode & 0o777 == 0o640
    (backup,) = backups_of(str(source), None)
    assert Path(backup).read_bytes() == before
    table = f"hash:{source}"
    want = pki("leaf-2026.key", "leaf-2026.pem", "issuing-r2.pem")
    for name in ("mail.example.org", "smtp.example.org"):
        assert blocks(served(postmap, folder, name, table)) == blocks(want)
    assert len(blocks(want)) == 3
    assert errors(result) == [] and result.suggestions == []
    assert exit_code(result, dry_run=False) == 0
    text = fix_text.render(result, dry_run=False, diff=False)
    assert f"repointed {source}:2: {live}/cert.pem -> {live}/fullchain.pem" in text
    assert f"repointed {source}:4: {live}/cert.pem -> {live}/fullchain.pem" in text
    assert f"-F {table}: done" in text
    assert "rebuild" not in text  # not rebuilt a second time by the after-fix steps


def test_sni_dry_run_writes_nothing(tmp_path: Path, postmap: str) -> None:
    folder, source, before = sni_setup(tmp_path, postmap)
    index = (folder / "sni.db").read_bytes()
    result = run_fix([folder], dry_run=True)
    assert source.read_bytes() == before and (folder / "sni.db").read_bytes() == index
    assert backups_of(str(source), None) == []
    text = fix_text.render(result, dry_run=True, diff=False)
    assert f"would repoint {source}:2:" in text and f"would repoint {source}:4:" in text


def fake_postmap(tmp_path: Path, real: str, fail_on: str) -> Path:
    """`postmap` that fails when given `fail_on` (`-q`: the lookup; `-F`: everything) and
    otherwise runs the real one."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "postmap"
    script.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = {fail_on} ] && {{ echo "postmap: fatal: made to fail" >&2;'
        " exit 1; }; done\n"
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return folder


def test_a_failing_lookup_puts_back_the_source_and_rebuilds_the_index(
    tmp_path: Path, postmap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index was rebuilt from the new source before the lookup failed: after the source is
    put back, the index is rebuilt again and serves the leaf alone, as the source says."""
    folder, source, before = sni_setup(tmp_path, postmap)
    monkeypatch.setenv("PATH", f"{fake_postmap(tmp_path, postmap, '-q')}:{os.environ['PATH']}")
    result = run_fix([folder])
    assert source.read_bytes() == before
    assert pem_count(served(postmap, folder, "mail.example.org", f"hash:{source}")) == 2
    (outcome,) = [o for o in result.edited if o.edit.table]
    assert outcome.rolled_back and not outcome.written and not outcome.error
    assert exit_code(result, dry_run=False) == 1
    text = fix_text.render(result, dry_run=False, diff=False)
    assert "NOT repointed" in text and "FAILED: postmap: fatal: made to fail" in text
    assert "put back, byte for byte" in text


def test_a_postmap_that_cannot_rebuild_says_so(
    tmp_path: Path, postmap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """postmap fails every time: the source is put back, the index (never rebuilt) still
    matches it, and the outcome says that the rebuild after the rollback failed too (exit 2)."""
    folder, source, before = sni_setup(tmp_path, postmap)
    index = (folder / "sni.db").read_bytes()
    monkeypatch.setenv("PATH", f"{fake_postmap(tmp_path, postmap, '-F')}:{os.environ['PATH']}")
    result = run_fix([folder])
    assert source.read_bytes() == before and (folder / "sni.db").read_bytes() == index
    (outcome,) = result.edited
    assert "the index was NOT rebuilt" in outcome.error and "made to fail" in outcome.error
    assert exit_code(result, dry_run=False) == 2


def test_texthash_needs_no_rebuild(tmp_path: Path, postmap: str) -> None:
    folder, source, _ = sni_setup(tmp_path, postmap, "texthash")
    result = run_fix([folder])
    assert source.read_bytes().count(b"fullchain.pem") == 2
    table = f"texthash:{source}"
    assert pem_count(served(postmap, folder, "smtp.example.org", table)) == 3
    assert not (folder / "sni.db").exists()
    assert exit_code(result, dry_run=False) == 0


def test_inline_table_is_an_edit_of_main_cf(tmp_path: Path, postconf: str) -> None:
    live = certbot_lineage(tmp_path)
    main = MAIN + (
        "tls_server_sni_maps = inline:{\n"
        f"    {{ mail.example.org = {live}/privkey.pem {live}/cert.pem }},\n"
        f"    {{ smtp.example.org = {live}/privkey.pem {live}/cert.pem }} }}\n"
    )
    folder = postfix_dir(tmp_path, main)
    result = run_fix([folder])
    assert (folder / "main.cf").read_text() == main.replace("/cert.pem", "/fullchain.pem")
    shown = run([postconf, "-c", str(folder), "-xh", "tls_server_sni_maps"]).stdout
    assert shown.count("fullchain.pem") == 2 and "/cert.pem" not in shown
    assert errors(result) == []
    assert exit_code(result, dry_run=False) == 0


def test_a_refused_edit_elsewhere_leaves_the_map_and_its_index(
    tmp_path: Path, postmap: str
) -> None:
    """main.cf names the same cert.pem through a variable, which cannot be rewritten: the
    repoint is done whole or not at all, so the map source and its index stay as they were,
    and the suggestion says why in one line."""
    folder, source, before = sni_setup(tmp_path, postmap)
    live = f"{tmp_path}/etc/letsencrypt/live/mail.example.org"
    main = (folder / "main.cf").read_text()
    main += f"le = {live}\nsmtpd_tls_chain_files = ${{le}}/privkey.pem, ${{le}}/cert.pem\n"
    (folder / "main.cf").write_text(main)
    index = (folder / "sni.db").read_bytes()
    result = run_fix([folder])
    assert source.read_bytes() == before and (folder / "sni.db").read_bytes() == index
    assert (folder / "main.cf").read_text() == main
    assert backups_of(str(source), None) == [] and result.edited == []
    (suggestion,) = result.suggestions
    assert "--edit-config: not rewritten" in suggestion and "variable" in suggestion
    assert "\n" not in suggestion
    assert exit_code(result, dry_run=False) == 1


def test_an_inline_table_naming_the_file_for_another_name_is_refused(
    tmp_path: Path, postconf: str
) -> None:
    """b.example already serves the chain (cert.pem, chain.pem): its cert.pem is not the
    one to repoint, and a table-wide edit would change it too, so main.cf is left alone."""
    live = certbot_lineage(tmp_path)
    main = MAIN + (
        "tls_server_sni_maps = inline:{ "
        f"{{ a.example = {live}/privkey.pem {live}/cert.pem }}, "
        f"{{ b.example = {live}/privkey.pem {live}/cert.pem {live}/chain.pem }} }}\n"
    )
    folder = postfix_dir(tmp_path, main)
    result = run_fix([folder])
    assert (folder / "main.cf").read_text() == main
    (suggestion,) = result.suggestions
    assert "names" in suggestion and "edit it by hand" in suggestion
