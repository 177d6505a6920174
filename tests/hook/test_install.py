"""`mailtls hook install|uninstall`: the hook where each renewal client looks, under --root,
idempotent, never over something else (unless --force), and only ours taken away."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailtls.hook.install import B64_END, B64_START, install

MAILTLS = str(Path(sys.executable).parent / "mailtls")
CERTBOT_HOOK = "etc/letsencrypt/renewal-hooks/deploy/mailtls"


def cli(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LE_CONFIG_HOME": str(home)} if home else dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "mailtls", "hook", *args],
        capture_output=True, text=True, check=False, timeout=60, env=env,
    )  # fmt: skip


def state(path: Path) -> tuple[bytes, int, int, int]:
    info = path.stat()
    return path.read_bytes(), info.st_ino, info.st_mtime_ns, info.st_mode & 0o7777


def test_certbot_install_twice_then_uninstall(tmp_path: Path) -> None:
    """The deploy hook: 0755, the running mailtls' absolute path; the second install
    changes nothing and says so; uninstall removes it."""
    (tmp_path / "etc" / "letsencrypt").mkdir(parents=True)
    hook = tmp_path / CERTBOT_HOOK
    done = cli("install", "certbot", "--root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"installed {hook}\n"
    assert hook.read_bytes() == f"#!/bin/sh\nexec {MAILTLS} hook\n".encode()
    assert hook.stat().st_mode & 0o7777 == 0o755
    first = state(hook)
    again = cli("install", "certbot", "--root", str(tmp_path))
    assert again.returncode == 0
    assert "already installed; nothing changed" in again.stdout
    assert state(hook) == first
    gone = cli("uninstall", "certbot", "--root", str(tmp_path))
    assert gone.returncode == 0 and gone.stdout == f"removed {hook}\n"
    assert not hook.exists()
    assert "not installed" in cli("uninstall", "certbot", "--root", str(tmp_path)).stdout


def test_certbot_a_different_file_is_kept_unless_force(tmp_path: Path) -> None:
    hook = tmp_path / CERTBOT_HOOK
    hook.parent.mkdir(parents=True)
    hook.write_bytes(b"#!/bin/sh\nsystemctl reload dovecot\n")
    before = state(hook)
    refused = cli("install", "certbot", "--root", str(tmp_path))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    assert state(hook) == before
    kept = cli("uninstall", "certbot", "--root", str(tmp_path))
    assert kept.returncode == 0 and "left alone" in kept.stdout
    assert state(hook) == before
    forced = cli("install", "certbot", "--root", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert hook.read_bytes() == f"#!/bin/sh\nexec {MAILTLS} hook\n".encode()


def test_certbot_a_symlink_at_the_place_is_not_followed(tmp_path: Path) -> None:
    hook = tmp_path / CERTBOT_HOOK
    hook.parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"precious\n")
    hook.symlink_to(elsewhere)
    assert cli("install", "certbot", "--root", str(tmp_path)).returncode == 2
    assert cli("install", "certbot", "--root", str(tmp_path), "--force").returncode == 0
    assert elsewhere.read_bytes() == b"precious\n"
    assert not hook.is_symlink()


def test_certbot_not_installed_is_one_line(tmp_path: Path) -> None:
    done = cli("install", "certbot", "--root", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"mailtls: error: {tmp_path}/etc/letsencrypt: no such folder: is certbot installed?\n"  # fmt: skip


ACME_CONF = (
    "Le_Domain='mail.example.org'\nLe_Alt='no'\nLe_Webroot='/var/www'\n"
    "Le_RealFullChainPath='/etc/ssl/mail/cert.pem'\nLe_ReloadCmd=''\nLe_NextRenewTime='1800000000'\n"
)


def acme_home(tmp_path: Path, conf: str = ACME_CONF, folder: str = "mail.example.org") -> Path:
    home = tmp_path / "acme"
    (home / folder).mkdir(parents=True)
    path = home / folder / "mail.example.org.conf"
    path.write_text(conf)
    path.chmod(0o600)
    return path


def read_reload_cmd(conf: Path) -> str:
    """acme.sh's own `_read_conf Le_ReloadCmd`: eval the line, unwrap, `openssl base64 -d -A`."""
    shell = (
        'eval "$(grep "^Le_ReloadCmd *=" "$1")"; v="$Le_ReloadCmd"\n'
        'case "$v" in __ACME_BASE64__START_*__ACME_BASE64__END_)\n'
        '  v="$(echo "$v" | sed "s/__ACME_BASE64__START_//" | sed "s/__ACME_BASE64__END_//"'
        ' | openssl base64 -d -A)";; esac\nprintf "%s" "$v"\n'
    )
    done = subprocess.run(["sh", "-c", shell, "sh", str(conf)], capture_output=True, text=True,
                          check=True, timeout=30)  # fmt: skip
    return done.stdout


def test_acme_sh_reloadcmd_as_acme_sh_stores_it(tmp_path: Path) -> None:
    """Only the Le_ReloadCmd line changes; acme.sh's reading gives back the command; mode
    kept; twice changes nothing; uninstall leaves `Le_ReloadCmd=''`, as acme.sh writes it."""
    conf = acme_home(tmp_path)
    home = conf.parent.parent
    done = cli("install", "acme.sh", "--domain", "mail.example.org", home=home)
    assert done.returncode == 0, done.stderr
    assert read_reload_cmd(conf) == f"{MAILTLS} hook"
    encoded = base64.b64encode(f"{MAILTLS} hook".encode()).decode()
    expected = ACME_CONF.replace("Le_ReloadCmd=''", f"Le_ReloadCmd='{B64_START}{encoded}{B64_END}'")
    assert conf.read_text() == expected
    assert conf.stat().st_mode & 0o777 == 0o600
    first = state(conf)
    again = cli("install", "acme.sh", "--domain", "mail.example.org", home=home)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert state(conf) == first
    gone = cli("uninstall", "acme.sh", "--domain", "mail.example.org", home=home)
    assert gone.returncode == 0, gone.stderr
    assert conf.read_text() == ACME_CONF


def test_acme_sh_another_reload_command_is_kept_unless_force(tmp_path: Path) -> None:
    nginx = base64.b64encode(b"systemctl reload nginx").decode()
    conf = acme_home(tmp_path, ACME_CONF.replace("Le_ReloadCmd=''",
                                                 f"Le_ReloadCmd='{B64_START}{nginx}{B64_END}'"))  # fmt: skip
    home, before = conf.parent.parent, conf.read_bytes()
    refused = cli("install", "acme.sh", "--domain", "mail.example.org", home=home)
    assert refused.returncode == 2
    assert "systemctl reload nginx" in refused.stderr and "--force" in refused.stderr
    assert conf.read_bytes() == before
    kept = cli("uninstall", "acme.sh", "--domain", "mail.example.org", home=home)
    assert "left alone" in kept.stdout and conf.read_bytes() == before
    forced = cli("install", "acme.sh", "--domain", "mail.example.org", "--force", home=home)
    assert forced.returncode == 0
    assert read_reload_cmd(conf) == f"{MAILTLS} hook"


def test_acme_sh_ecc_folder_and_a_conf_without_the_key(tmp_path: Path) -> None:
    """DOMAIN_ecc/ is found; a missing Le_ReloadCmd line is added after a final newline, as
    acme.sh's _setopt does."""
    conf = acme_home(tmp_path, "Le_Domain='mail.example.org'", "mail.example.org_ecc")
    done = cli("install", "acme.sh", "--domain", "mail.example.org", home=conf.parent.parent)
    assert done.returncode == 0, done.stderr
    assert conf.read_text().startswith("Le_Domain='mail.example.org'\nLe_ReloadCmd='")
    assert read_reload_cmd(conf) == f"{MAILTLS} hook"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("acme.sh",), "give --domain"),
        (("acme.sh", "--domain", "other.example"), "no acme.sh certificate"),
        (("acme.sh", "--domain", "../x"), "no acme.sh certificate"),
        (("certbot", "--domain", "mail.example.org"), "--domain is for acme.sh"),
        (("nginx",), "give one of certbot, acme.sh, dehydrated"),
    ],
)
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    conf = acme_home(tmp_path)
    done = cli("install", *args, "--root", str(tmp_path / "empty"), home=conf.parent.parent)
    assert done.returncode == 2
    assert said in done.stderr and done.stderr.count("\n") == 1


def test_dehydrated_script_acts_only_at_deploy_cert(tmp_path: Path) -> None:
    """The script runs mailtls for deploy_cert with dehydrated's arguments, and is a no-op at
    dehydrated's other steps; the HOOK= line to add is printed."""
    (tmp_path / "etc" / "dehydrated").mkdir(parents=True)
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "mailtls"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    done = install("dehydrated", root=str(tmp_path), executable=str(fake))
    assert done.changed
    assert "add this line to /etc/dehydrated/config: HOOK=/etc/dehydrated/mailtls-hook.sh" in (
        done.lines
    )
    script = tmp_path / "etc" / "dehydrated" / "mailtls-hook.sh"
    for step in (["startup_hook"], ["deploy_challenge", "d", "t", "v"], ["deploy_cert", "d", "k"]):
        subprocess.run([str(script), *step], check=True, timeout=30)
    assert calls.read_text() == "hook deploy_cert d k\n"
    again = install("dehydrated", root=str(tmp_path), executable=str(fake))
    assert not again.changed


def test_dehydrated_config_already_naming_the_hook(tmp_path: Path) -> None:
    folder = tmp_path / "etc" / "dehydrated"
    (folder / "conf.d").mkdir(parents=True)
    (folder / "conf.d" / "hook.sh").write_text("HOOK=/etc/dehydrated/mailtls-hook.sh\n")
    done = cli("install", "dehydrated", "--root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "already has HOOK=/etc/dehydrated/mailtls-hook.sh" in done.stdout
    gone = cli("uninstall", "dehydrated", "--root", str(tmp_path))
    assert gone.returncode == 0 and "removed" in gone.stdout
    assert not (folder / "mailtls-hook.sh").exists()
    assert (folder / "conf.d" / "hook.sh").exists()  # the user's config is theirs
