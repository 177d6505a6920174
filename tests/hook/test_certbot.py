"""The story, end to end with the real things: certbot renews against pebble (whose root and
intermediate changed since the first issuance), the admin's deploy step copies only cert.pem
to where Dovecot and Postfix read it, and `mailtls hook` as certbot's deploy hook completes
the chain, reloads both daemons and checks every listener."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cryptography import x509

from tests.conftest import need_binary
from tests.hook.acme import NAME, Pebble, assert_every_listener_serves, certbot, pebble, renewing

HOOK = """#!/bin/sh
# The admin's own deploy step, as in the story: the new leaf alone, over the daemons' file.
cp "$RENEWED_LINEAGE/cert.pem" {cert}
MAILTLS_LOCK_FILE={lock} {mailtls} hook --ca-file {root} --no-system-trust --offline \\
    {dovecot} {postfix} >{out} 2>{err}
code=$?
cat {out}; cat {err} >&2
exit $code
"""


def issue_first(state: Path, server: Pebble, ssl: Path) -> None:
    """The first issuance, deployed by hand the right way (full chain): all is well."""
    done = certbot(state, server, "certonly", "--webroot", "-w", str(state / "www"), "-d", NAME)
    assert done.returncode == 0, done.stderr
    live = state / "config" / "live" / NAME
    (ssl / "cert.pem").write_bytes((live / "fullchain.pem").read_bytes())
    shutil.copy(live / "privkey.pem", ssl / "key.pem")
    (ssl / "key.pem").chmod(0o600)


def renew(state: Path, server: Pebble, hook: Path) -> subprocess.CompletedProcess[str]:
    """pebble restarted and forgot its accounts: register again, then force the renewal."""
    shutil.rmtree(state / "config" / "accounts")
    registered = certbot(state, server, "register")
    assert registered.returncode == 0, registered.stderr
    return certbot(
        state, server, "certonly", "--force-renewal", "--reuse-key", "--cert-name", NAME,
        "--webroot", "-w", str(state / "www"), "-d", NAME, "--deploy-hook", str(hook),
    )  # fmt: skip


def test_certbot_renewal_with_a_new_intermediate(tmp_path: Path) -> None:
    """After the renewal every listener serves the new leaf and pebble's new intermediate,
    which only the lineage had (pebble's leaves carry no AIA URL)."""
    need_binary("certbot")
    state, ssl = tmp_path / "certbot", tmp_path / "ssl"
    ssl.mkdir()
    with pebble(tmp_path / "pebble") as first:
        issue_first(state, first, ssl)
    with renewing(tmp_path, ssl) as server:
        hook = tmp_path / "deploy-hook"
        out, err = tmp_path / "hook.out", tmp_path / "hook.err"
        values = server.hook_values(ssl / "cert.pem", tmp_path / "lock")
        hook.write_text(HOOK.format(out=out, err=err, **values))
        hook.chmod(0o755)
        renewed = renew(state, server.ca, hook)
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr
        assert out.read_text() == (
            "mailtls hook: 1 file fixed, Dovecot and Postfix reloaded,"
            " 7 listeners serve the new chain\n"
        ), err.read_text()
        leaf = (state / "config" / "live" / NAME / "cert.pem").read_bytes()
        assert_every_listener_serves(server, x509.load_pem_x509_certificate(leaf), tmp_path)
