"""`fix --edit-config --reload` against the real Postfix on 127.0.0.1: an SNI name served from
a certbot lineage's cert.pem alone serves the full chain once the map entry is repointed, its
index rebuilt and Postfix reloaded."""

from __future__ import annotations

from pathlib import Path

from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.run import FixOptions, exit_code, fix
from tests.conftest import need_binary, run
from tests.daemons import postfix
from tests.fix.test_edit_config import AT, PKI, certbot_lineage
from tests.probe.test_daemons import codes, files, live, served_until


def test_sni_name_serves_the_full_chain_after_the_edit_and_a_reload(tmp_path: Path) -> None:
    lineage = certbot_lineage(tmp_path)
    cert, key = files(tmp_path, "leaf-2026.pem", "issuing-r2.pem")  # the default: complete
    source = tmp_path / "sni"
    source.write_text(f"mail.example.org {lineage}/privkey.pem {lineage}/cert.pem\n")
    main = (
        f"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = {cert}\n"
        f"smtpd_tls_key_file = {key}\ntls_server_sni_maps = hash:{source}\n"
    )
    postmap = need_binary("postmap")
    assert run([postmap, "-F", f"hash:{source}"]).returncode == 0
    with postfix(tmp_path, main) as running:
        smtps = running.ports["smtps"]
        before = live(smtps, None)
        assert codes(before) == ["missing-intermediate"]  # the SNI entry: the leaf alone
        assert len(live(smtps, None, name=None).chains[0].certs) == 2  # no SNI: the default
        options = FixOptions(
            audit=AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False),
            offline=True,
            reload=True,
            edit_config=True,
            lock_file=str(tmp_path / "lock"),
            reread=lambda: read_all([str(running.config)], {}),
        )
        result = fix(read_all([str(running.config)], {}), options)
        assert "fullchain.pem" in source.read_text()
        assert [o.step.argv[0] for o in result.outcomes] == ["postfix"]
        assert all(o.ok for o in result.outcomes), result.outcomes
        after = served_until(smtps, None, 2)
        assert codes(after) == [] and after.chains[0].trusted
        assert codes(served_until(running.ports["smtp"], "smtp", 2)) == []
        assert exit_code(result, dry_run=False) == 0
