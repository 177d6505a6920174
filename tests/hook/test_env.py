"""The renewal clients' conventions, read from their environment and arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailtls.errors import UsageError
from mailtls.hook.env import from_dehydrated, from_environment, split_dehydrated


def test_certbot_lineage_and_domains() -> None:
    """The lineage's chain.pem and fullchain.pem are the intermediates; names lower-cased."""
    env = {
        "RENEWED_LINEAGE": "/etc/letsencrypt/live/mail",
        "RENEWED_DOMAINS": "Mail.Example.org imap.example.org.",
    }
    renewal = from_environment(env)
    assert renewal is not None
    assert renewal.client == "certbot"
    assert renewal.cert == "/etc/letsencrypt/live/mail/cert.pem"
    assert renewal.chain_files == (
        "/etc/letsencrypt/live/mail/chain.pem",
        "/etc/letsencrypt/live/mail/fullchain.pem",
    )
    assert "/etc/letsencrypt/live/mail/privkey.pem" in renewal.files
    assert renewal.domains == ("mail.example.org", "imap.example.org")


def test_acme_sh_reloadcmd_environment() -> None:
    env = {
        "CERT_PATH": "/acme/mail/mail.cer",
        "CERT_KEY_PATH": "/acme/mail/mail.key",
        "CA_CERT_PATH": "/acme/mail/ca.cer",
        "CERT_FULLCHAIN_PATH": "/acme/mail/fullchain.cer",
        "Le_Domain": "mail.example.org",
    }
    renewal = from_environment(env)
    assert renewal is not None
    assert (renewal.client, renewal.name, renewal.cert) == (
        "acme.sh",
        "mail.example.org",
        "/acme/mail/mail.cer",
    )
    assert renewal.chain_files == ("/acme/mail/ca.cer", "/acme/mail/fullchain.cer")
    assert set(renewal.files) == set(env.values()) - {"mail.example.org"}


def test_certbot_wins_over_acme_sh_and_nothing_is_none() -> None:
    both = {"RENEWED_LINEAGE": "/l", "CERT_PATH": "/c"}
    assert from_environment(both).client == "certbot"  # type: ignore[union-attr]
    assert from_environment({"PATH": "/usr/bin"}) is None


def test_dehydrated_arguments_after_the_paths() -> None:
    args = ["/etc/dovecot", "deploy_cert", "mail.example.org", "/d/privkey.pem", "/d/cert.pem",
            "/d/fullchain.pem", "/d/chain.pem", "1700000000"]  # fmt: skip
    paths, rest = split_dehydrated(args)
    assert paths == ["/etc/dovecot"]
    renewal = from_dehydrated(rest, {})
    assert renewal is not None
    assert renewal.cert == "/d/cert.pem"
    assert renewal.chain_files == ("/d/chain.pem", "/d/fullchain.pem")
    assert renewal.domains == ("mail.example.org",)


def test_dehydrated_other_operations_do_nothing() -> None:
    """dehydrated calls its hook for every step: only deploy_cert deploys."""
    for operation in ("deploy_challenge", "unchanged_cert", "exit_hook"):
        paths, rest = split_dehydrated([operation, "mail.example.org", "x", "y"])
        assert paths == []
        assert from_dehydrated(rest, {}) is None
    assert split_dehydrated(["/etc/postfix"]) == (["/etc/postfix"], [])


DEPLOY_CERT = ["deploy_cert", "mail.example.org", "/d/privkey.pem", "/d/cert.pem",
               "/d/fullchain.pem", "/d/chain.pem", "1700000000"]  # fmt: skip
# What dehydrated 0.7 calls its HOOK with first, before any renewal: a hook that fails on it
# stops dehydrated ("Please check your hook script, it should exit cleanly ...").
UNKNOWN_STEP = "this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script"


def test_dehydrated_names_are_its_altnames() -> None:
    """DOMAIN is only the first name; dehydrated exports them all in `altnames`."""
    env = {"altnames": "mail.example.org IMAP.example.org smtp.example.org"}
    renewal = from_dehydrated(DEPLOY_CERT, env)
    assert renewal is not None
    assert renewal.domains == ("mail.example.org", "imap.example.org", "smtp.example.org")


def test_dehydrated_altnames_of_another_certificate_are_ignored() -> None:
    renewal = from_dehydrated(DEPLOY_CERT, {"altnames": "other.example.org"})
    assert renewal is not None
    assert renewal.domains == ("mail.example.org",)


def test_dehydrated_unknown_step_check_is_a_no_op(tmp_path: Path) -> None:
    """`exec mailtls hook PATH "$@"` for every step: the check step exits 0 and says nothing
    (the PATH is not even read)."""
    assert split_dehydrated(["/etc/postfix", UNKNOWN_STEP]) == (["/etc/postfix"], [UNKNOWN_STEP])
    mailtls = str(Path(sys.executable).parent / "mailtls")
    env = {**os.environ, "MAILTLS_LOCK_FILE": str(tmp_path / "lock")}
    done = subprocess.run(
        [mailtls, "hook", str(tmp_path / "postfix"), UNKNOWN_STEP],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_dehydrated_deploy_cert_short_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="deploy_cert needs"):
        from_dehydrated(["deploy_cert", "mail.example.org", "/k"], {})
