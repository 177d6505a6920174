"""The story with dehydrated: it renews against pebble (whose root and intermediate changed
since the first issuance), its HOOK script's deploy_cert copies only cert.pem to where Dovecot
and Postfix read it, then hands dehydrated's arguments to `mailtls hook`, as the README says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cryptography import x509

from tests.conftest import need_binary
from tests.hook.acme import NAME, Pebble, assert_every_listener_serves, dehydrated, pebble, renewing

NAMES = ("-d", NAME, "-d", "imap.example.org")  # one certificate, two names

# dehydrated calls its HOOK at every step (and once with a made-up name, to see that unknown
# steps are ignored); $4 is the leaf alone, the admin's deploy step copies just that.
HOOK = """#!/bin/sh
case "$1" in deploy_cert)
    cp "$4" {cert}
    MAILTLS_LOCK_FILE={lock} exec {mailtls} hook --ca-file {root} --no-system-trust --offline \\
        {dovecot} {postfix} "$@";;
esac
"""


def issue_first(state: Path, server: Pebble, ssl: Path) -> None:
    """The first issuance, deployed by hand the right way (full chain): all is well."""
    for args in (["--register", "--accept-terms"], ["-c", *NAMES]):
        done = dehydrated(state, server, None, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    certs = state / "base" / "certs" / NAME
    (ssl / "cert.pem").write_bytes((certs / "fullchain.pem").read_bytes())
    shutil.copy(certs / "privkey.pem", ssl / "key.pem")
    (ssl / "key.pem").chmod(0o600)


def renew(state: Path, server: Pebble, hook: Path) -> subprocess.CompletedProcess[str]:
    """pebble restarted, on other ports (a new CA URL): register again, then force it."""
    registered = dehydrated(state, server, hook, "--register", "--accept-terms")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    return dehydrated(state, server, hook, "-c", *NAMES, "--force")


def test_dehydrated_renewal_with_a_new_intermediate(tmp_path: Path) -> None:
    """After the renewal every listener serves the new leaf and pebble's new intermediate,
    which only dehydrated's chain.pem had (pebble's leaves carry no AIA URL)."""
    need_binary("dehydrated")
    state, ssl = tmp_path / "dehydrated", tmp_path / "ssl"
    ssl.mkdir()
    with pebble(tmp_path / "pebble") as first:
        issue_first(state, first, ssl)
    with renewing(tmp_path, ssl) as server:
        hook = tmp_path / "hook.sh"
        hook.write_text(HOOK.format(**server.hook_values(ssl / "cert.pem", tmp_path / "lock")))
        hook.chmod(0o755)
        renewed = renew(state, server.ca, hook)
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr
        summary = "mailtls hook: 1 file fixed, Dovecot and Postfix reloaded, 7 listeners serve"
        assert f"{summary} the new chain\n" in renewed.stdout, renewed.stdout + renewed.stderr
        # its second name came from the `altnames` dehydrated exports, not from DOMAIN
        assert f"dehydrated renewed {NAME} ({NAME} imap.example.org)\n" in renewed.stderr
        leaf = x509.load_pem_x509_certificate((ssl / "cert.pem").read_bytes())
        renewed_leaf = (state / "base" / "certs" / NAME / "cert.pem").read_bytes()
        assert leaf == x509.load_pem_x509_certificate(renewed_leaf)
        assert_every_listener_serves(server, leaf, tmp_path)
