"""The story, end to end with the real things: certbot renews against pebble (whose root and
intermediate changed since the first issuance), the admin's deploy step copies only cert.pem
to where Dovecot and Postfix read it, and `mailtls hook` as certbot's deploy hook completes
the chain, reloads both daemons and checks every listener."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailtls.probe.tls import probe
from tests.conftest import need_binary
from tests.daemons import dovecot, postfix
from tests.hook.acme import NAME, Pebble, certbot, listeners, pebble, verify

MAILTLS = str(Path(sys.executable).parent / "mailtls")

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
    main = (
        f"smtpd_tls_cert_file = {ssl}/cert.pem\nsmtpd_tls_key_file = {ssl}/key.pem\n"
        "smtpd_tls_security_level = may\n"
    )
    with (
        dovecot(tmp_path, ssl / "cert.pem", ssl / "key.pem") as imap,
        postfix(tmp_path, main) as smtp,
        pebble(tmp_path / "pebble") as second,
    ):
        root = tmp_path / "pebble-root.pem"
        root.write_bytes(second.get("/roots/0"))
        hook = tmp_path / "deploy-hook"
        out, err = tmp_path / "hook.out", tmp_path / "hook.err"
        values = {"cert": ssl / "cert.pem", "lock": tmp_path / "lock", "mailtls": MAILTLS}
        values |= {"root": root, "dovecot": imap.config, "postfix": smtp.config}
        hook.write_text(HOOK.format(out=out, err=err, **values))
        hook.chmod(0o755)
        renewed = renew(state, second, hook)
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr
        assert out.read_text() == (
            "mailtls hook: 1 file fixed, Dovecot and Postfix reloaded,"
            " 7 listeners serve the new chain\n"
        ), err.read_text()
        leaf = (state / "config" / "live" / NAME / "cert.pem").read_bytes()
        intermediate = x509.load_pem_x509_certificate(second.get("/intermediates/0"))
        for target in listeners(imap, smtp):
            wire = probe(target, 5)
            assert wire.error is None, (target, wire.error)
            served = list(wire.certs)
            assert x509.load_der_x509_certificate(served[0]) == x509.load_pem_x509_certificate(
                leaf
            ), target
            assert served[1:] == [intermediate.public_bytes(Encoding.DER)], target
            checked = verify(served, root, tmp_path)
            assert checked.returncode == 0, (target, checked.stdout + checked.stderr)
