"""`mailtls hook` on the real Dovecot and Postfix (127.0.0.1, high ports): acme.sh's
environment, dehydrated's arguments, a renewal in place, and the rollbacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailtls.probe.tls import Target, probe
from tests.conftest import FIXTURES
from tests.daemons import dovecot, postfix

PKI = FIXTURES / "pki"
MAILTLS = str(Path(sys.executable).parent / "mailtls")
TRUST = ["--ca-file", str(PKI / "root.pem"), "--no-system-trust", "--offline", "--at", "2026-11-29"]
NAME = "mail.example.org"


def pki(*names: str) -> bytes:
    return b"".join((PKI / n).read_bytes() for n in names)


def daemon_files(tmp_path: Path) -> tuple[Path, Path]:
    """The file the daemons read: the renewed leaf alone, as the story's admin copied it."""
    ssl = tmp_path / "ssl"
    ssl.mkdir()
    (ssl / "cert.pem").write_bytes(pki("leaf-2026.pem"))
    (ssl / "key.pem").write_bytes(pki("leaf-2026.key"))
    (ssl / "key.pem").chmod(0o600)
    return ssl / "cert.pem", ssl / "key.pem"


def acme_sh(tmp_path: Path) -> dict[str, str]:
    """What acme.sh exports to its --reloadcmd, over files of its own layout."""
    home = tmp_path / "acme.sh" / NAME
    home.mkdir(parents=True)
    files = {
        "CERT_PATH": ("mail.example.org.cer", pki("leaf-2026.pem")),
        "CERT_KEY_PATH": ("mail.example.org.key", pki("leaf-2026.key")),
        "CA_CERT_PATH": ("ca.cer", pki("issuing-r2.pem")),
        "CERT_FULLCHAIN_PATH": ("fullchain.cer", pki("leaf-2026.pem", "issuing-r2.pem")),
    }
    for name, data in files.values():
        (home / name).write_bytes(data)
    return {key: str(home / name) for key, (name, _) in files.items()} | {"Le_Domain": NAME}


def hook(tmp_path: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("RENEWED_LINEAGE", "CERT_PATH")}
    return subprocess.run(
        [MAILTLS, "hook", *TRUST, *args],
        env=clean | env | {"MAILTLS_LOCK_FILE": str(tmp_path / "lock")},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def served(port: int, starttls: str | None = None) -> int:
    """How many certificates the listener sends now."""
    wire = probe(Target("127.0.0.1", port, starttls, NAME), 5)
    assert wire.error is None, wire.error
    return len(wire.certs)


def leaf_der(name: str) -> bytes:
    return x509.load_pem_x509_certificate(pki(name)).public_bytes(Encoding.DER)


def backups(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".bak"))


def test_acme_sh_fixes_only_its_files_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    """Another name's leaf-only file is not the renewal's: left as it is. The second run
    writes nothing, makes no backup and says one line."""
    cert, key = daemon_files(tmp_path)
    other = tmp_path / "ssl" / "other.pem"
    other.write_bytes(pki("leaf-other-name.key", "leaf-other-name.pem"))
    other.chmod(0o600)
    block = f"local_name www.example.net {{\n  ssl_cert = <{other}\n  ssl_key = <{other}\n}}\n"
    env = acme_sh(tmp_path)
    with dovecot(tmp_path, cert, key, extra=block) as running:
        first = hook(tmp_path, [str(running.config)], env)
        assert (first.returncode, first.stdout) == (
            0,
            "mailtls hook: 1 file fixed, Dovecot reloaded, 4 listeners serve the new chain\n",
        ), first.stdout + first.stderr
        assert "acme.sh renewed mail.example.org" in first.stderr
        assert cert.read_bytes() == pki("leaf-2026.pem", "issuing-r2.pem")
        assert other.read_bytes() == pki("leaf-other-name.key", "leaf-other-name.pem")
        assert served(running.ports["imaps"]) == served(running.ports["pop3"], "pop3") == 2
        made = backups(tmp_path / "ssl")
        assert len(made) == 1
        second = hook(tmp_path, [str(running.config)], env)
        assert (second.returncode, second.stdout) == (
            0,
            "mailtls hook: nothing to fix, 4 listeners serve the chain on disk\n",
        ), second.stdout + second.stderr
        assert backups(tmp_path / "ssl") == made


def dehydrated_lineage(tmp_path: Path) -> list[str]:
    """dehydrated's deploy_cert arguments over its certs/DOMAIN folder."""
    home = tmp_path / "dehydrated" / "certs" / NAME
    home.mkdir(parents=True)
    for name, data in {
        "privkey.pem": pki("leaf-2026.key"),
        "cert.pem": pki("leaf-2026.pem"),
        "fullchain.pem": pki("leaf-2026.pem", "issuing-r2.pem"),
        "chain.pem": pki("issuing-r2.pem"),
    }.items():
        (home / name).write_bytes(data)
    names = ("privkey.pem", "cert.pem", "fullchain.pem", "chain.pem")
    return ["deploy_cert", NAME, *(str(home / n) for n in names), "1795000000"]


def test_dehydrated_deploy_cert_on_postfix(tmp_path: Path) -> None:
    """Its other operations do nothing, say nothing, exit 0; deploy_cert fixes and reloads."""
    cert, key = daemon_files(tmp_path)
    main = f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\nsmtpd_tls_security_level = may\n"
    arguments = dehydrated_lineage(tmp_path)
    with postfix(tmp_path, main) as running:
        idle = hook(tmp_path, [str(running.config), "startup_hook"], {})
        assert (idle.returncode, idle.stdout, idle.stderr) == (0, "", "")
        assert cert.read_bytes() == pki("leaf-2026.pem")
        done = hook(tmp_path, [str(running.config), *arguments], {})
        assert (done.returncode, done.stdout) == (
            0,
            "mailtls hook: 1 file fixed, Postfix reloaded, 3 listeners serve the new chain\n",
        ), done.stdout + done.stderr
        assert served(running.ports["smtps"]) == served(running.ports["smtp"], "smtp") == 2


def test_a_failed_reload_puts_the_backup_back(tmp_path: Path) -> None:
    cert, key = daemon_files(tmp_path)
    with dovecot(tmp_path, cert, key) as running:
        assert served(running.ports["imaps"]) == 1  # read by Dovecot before the hook runs
        args = ["--dovecot-reload", "false", "--backup-dir", str(tmp_path / "backups")]
        failed = hook(tmp_path, [str(running.config), *args], acme_sh(tmp_path))
        assert failed.returncode == 2, failed.stdout + failed.stderr
        assert failed.stdout.startswith(
            "mailtls hook: FAILED, restored 1 file(s) and reloaded: reload Dovecot"
        ), failed.stdout
        assert cert.read_bytes() == pki("leaf-2026.pem")
        assert served(running.ports["imaps"]) == 1  # the old chain, still served
        assert f"restored {cert} from {tmp_path / 'backups'}/" in failed.stderr


def test_a_listener_still_serving_the_old_chain_puts_the_backup_back(tmp_path: Path) -> None:
    """A reload command that does nothing: the live check sees the old chain and undoes it."""
    cert, key = daemon_files(tmp_path)
    with dovecot(tmp_path, cert, key) as running:
        assert served(running.ports["imaps"]) == 1  # read by Dovecot before the hook runs
        args = [str(running.config), "--dovecot-reload", "true", "--wait", "1"]
        stale = hook(tmp_path, args, acme_sh(tmp_path))
        assert stale.returncode == 1, stale.stdout + stale.stderr
        assert stale.stdout.startswith("mailtls hook: FAILED, restored 1 file(s) and reloaded: ")
        assert "serves 1 certificate(s) where the file holds 2" in stale.stdout
        assert cert.read_bytes() == pki("leaf-2026.pem")


def test_renewed_in_place_nothing_to_fix_but_the_daemon_is_reloaded(tmp_path: Path) -> None:
    """Dovecot reads the lineage's fullchain.pem (the right setup): the renewal rewrote it,
    nothing is left to fix, and Dovecot still serves the old leaf until reloaded."""
    live = tmp_path / "live" / NAME
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_bytes(pki("leaf-2025-fullchain.pem"))
    (live / "privkey.pem").write_bytes(pki("leaf-2025.key"))
    (live / "privkey.pem").chmod(0o600)
    with dovecot(tmp_path, live / "fullchain.pem", live / "privkey.pem") as running:
        # Served once before the renewal: Dovecot's config process has read the old files.
        before = probe(Target("127.0.0.1", running.ports["imaps"], None, NAME), 5)
        assert before.certs[0] == leaf_der("leaf-2025.pem")
        for name, data in {
            "cert.pem": pki("leaf-2026.pem"),
            "chain.pem": pki("issuing-r2.pem"),
            "fullchain.pem": pki("leaf-2026.pem", "issuing-r2.pem"),
            "privkey.pem": pki("leaf-2026.key"),
        }.items():
            (live / name).write_bytes(data)
        env = {"RENEWED_LINEAGE": str(live), "RENEWED_DOMAINS": NAME}
        done = hook(tmp_path, [str(running.config)], env)
        assert (done.returncode, done.stdout) == (
            0,
            "mailtls hook: nothing to fix, Dovecot reloaded, 4 listeners serve the new chain\n",
        ), done.stdout + done.stderr
        wire = probe(Target("127.0.0.1", running.ports["imaps"], None, NAME), 5)
        assert wire.certs[0] == leaf_der("leaf-2026.pem")


def test_a_dovecot_config_broken_since_start_fails_the_reload_and_the_backup_goes_back(
    tmp_path: Path,
) -> None:
    """The real doveadm refuses a configuration with an unknown setting: the reload fails,
    the file is restored, and the running Dovecot still serves the old chain."""
    cert, key = daemon_files(tmp_path)
    with dovecot(tmp_path, cert, key) as running:
        assert served(running.ports["imaps"]) == 1
        good = running.config.read_text()
        running.config.write_text(good + "mailtls_broken_on_purpose = yes\n")
        try:
            failed = hook(tmp_path, [str(running.config)], acme_sh(tmp_path))
        finally:
            running.config.write_text(good)  # else `doveadm stop` refuses it too, Dovecot stays
        assert failed.returncode == 2, failed.stdout + failed.stderr
        assert failed.stdout.startswith(
            "mailtls hook: FAILED, restored 1 file(s) and reloaded: reload Dovecot"
        ), failed.stdout
        assert "mailtls_broken_on_purpose" in failed.stdout
        assert cert.read_bytes() == pki("leaf-2026.pem")
        assert served(running.ports["imaps"]) == 1


def test_the_hook_holds_the_lock_until_its_live_check_is_done(tmp_path: Path) -> None:
    """Another mailtls run (a second renewal client's hook) must not write or roll back
    between this hook's fix and its live check. The lock used to be released after the fix
    and its reload, while the live check waited for the daemons. Here the reload does nothing,
    so the live check waits its 3 s for a new chain that never comes, then rolls back: the
    lock must be held all that time."""
    cert, key = daemon_files(tmp_path)
    lock, old = tmp_path / "lock", cert.read_bytes()
    with dovecot(tmp_path, cert, key) as running:
        clean = {k: v for k, v in os.environ.items() if k not in ("RENEWED_LINEAGE", "CERT_PATH")}
        args = [str(running.config), "--dovecot-reload", "true", "--wait", "3"]
        env = clean | acme_sh(tmp_path) | {"MAILTLS_LOCK_FILE": str(lock)}
        argv = [MAILTLS, "hook", *TRUST, *args]
        with subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) as running_hook:
            assert running_hook.stderr is not None
            said: list[str] = []
            # The log says the fix wrote and reloaded; the 3 s live check comes next.
            while not (
                any(s.startswith("rewrote") for s in said) and said[-1].endswith(": done\n")
            ):
                said.append(running_hook.stderr.readline().partition("mailtls hook: ")[2])
                assert said[-1], "the hook ended before its live check"
            free = subprocess.run(["flock", "-n", str(lock), "true"], check=False, timeout=10)
            running_hook.communicate(timeout=120)
        assert running_hook.returncode == 1  # the old chain is served: rolled back
    assert free.returncode == 1, "the lock was free while the hook waited for the daemons"
    assert cert.read_bytes() == old
