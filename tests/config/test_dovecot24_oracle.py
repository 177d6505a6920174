"""The readers against the real Dovecot 2.4 (Debian 13's doveconf 2.4.1, from a trixie chroot
that `make trixie` builds: see ../shared/notes/dovecot24-chroot.md). Each test tree is bind-
mounted at the same path inside the chroot, so one configuration reads the same in and out.

`doveconf -f local_name=NAME -h ssl_server/cert_file` says which file 2.4 loads for an SNI
name: the oracle of which local_name block wins, and of what 2.4 refuses to start with.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailtls.config import dovecot
from mailtls.config.dovecot_listeners import PROTOCOL
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from mailtls.models import Endpoint
from tests.config.test_etc_fixtures import DOVECOT24, ETC

TRIXIE = Path(os.environ.get("MAILTLS_TRIXIE", "/var/cache/mailtls-trixie"))
Doveconf24 = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="module")
def doveconf24() -> Iterator[Doveconf24]:
    if not (TRIXIE / "usr/bin/doveconf").exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Dovecot 2.4 chroot at {TRIXIE}: `make trixie` should have built it")
        pytest.skip(f"no Dovecot 2.4 chroot at {TRIXIE} (make trixie builds it)")
    mounted: list[Path] = []

    def run(
        conf: Path, args: list[str], also: tuple[Path, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """doveconf 2.4 on `conf`, its folder (and the folders `also`) seen in the chroot."""
        for folder in (conf.parent, *also):
            if not any(folder.is_relative_to(m) for m in mounted):
                inside = TRIXIE / folder.relative_to("/")
                inside.mkdir(parents=True, exist_ok=True)
                subprocess.run(
                    ["mount", "--bind", str(folder), str(inside)], check=True, timeout=30
                )
                mounted.append(folder)
        return subprocess.run(
            ["chroot", str(TRIXIE), "doveconf", "-c", str(conf), *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    try:
        yield run
    finally:
        for folder in reversed(mounted):
            subprocess.run(["umount", str(TRIXIE / folder.relative_to("/"))], check=False)


@pytest.mark.parametrize(("case", "conf"), DOVECOT24, ids=[f"{c}/{f}" for c, f in DOVECOT24])
def test_etc_trees_agree_with_doveconf24(
    doveconf24: Doveconf24, tmp_path: Path, case: str, conf: str
) -> None:
    """A conf.d fragment is read by 2.4 only from a dovecot.conf that starts with the version
    lines: the oracle reads it through one, mailtls reads the fragment alone."""
    path = ETC / case / conf
    (endpoint,) = dovecot.read(str(path), ConfigFiles(), {}).endpoints
    also: tuple[Path, ...] = ()
    if not re.search(r"^\s*dovecot_config_version", path.read_text(), re.M):
        main = tmp_path / "dovecot.conf"
        main.write_text(HEAD.split("ssl_server")[0] + f"!include {path}\n")
        path, also = main, (path.parent,)
    cert = doveconf24(path, ["-h", "ssl_server/cert_file"], also)
    key = doveconf24(path, ["-h", "ssl_server/key_file"], also)
    assert cert.returncode == 0 and key.returncode == 0, cert.stderr + key.stderr
    assert (endpoint.cert_file, endpoint.key_file) == (cert.stdout.strip(), key.stdout.strip())


HEAD = (
    "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
    "ssl_server_cert_file = /etc/ssl/global.pem\nssl_server_key_file = /etc/ssl/global.key\n"
)
BLOCKS = {
    "exact-then-wildcard": [("mail.example.net", "exact"), ("*.example.net", "wild")],
    "wildcard-then-exact": [("*.example.net", "wild"), ("mail.example.net", "exact")],
    "same-name-twice": [("mail.example.net", "first"), ("mail.example.net", "second")],
    "nested-server-block": [("imap.example.org", "imap")],
}
ASKED = ["mail.example.net", "x.example.net", "example.net", "imap.example.org", "other.org"]


def serving(endpoints: tuple[Endpoint, ...], name: str) -> str | None:
    """The certificate mailtls says Dovecot loads for SNI `name`: the block that serves it
    (after precedence: shadowed names are not in `names`), else the global one."""
    parent = name.partition(".")[2]
    chosen = [e for e in endpoints if name in e.names]
    chosen = chosen or [e for e in endpoints if parent and f"*.{parent}" in e.names]
    assert len(chosen) <= 1, [e.id for e in chosen]
    glob = [e for e in endpoints if e.scope == "global"]
    return (chosen or glob)[0].cert_file


@pytest.mark.parametrize("case", sorted(BLOCKS))
def test_which_local_name_wins_agrees_with_doveconf24(
    doveconf24: Doveconf24, tmp_path: Path, case: str
) -> None:
    body = ""
    for name, label in BLOCKS[case]:
        if case == "nested-server-block":
            body += f"local_name {name} {{\n  ssl_server {{\n    cert_file = /etc/ssl/{label}.pem\n  }}\n}}\n"
        else:
            body += f"local_name {name} {{\n  ssl_server_cert_file = /etc/ssl/{label}.pem\n}}\n"
    conf = tmp_path / "dovecot.conf"
    conf.write_text(HEAD + body)
    endpoints = dovecot.read(str(conf), ConfigFiles(), {}).endpoints
    for name in ASKED:
        said = doveconf24(conf, ["-f", f"local_name={name}", "-h", "ssl_server/cert_file"])
        assert said.returncode == 0, said.stderr
        assert serving(endpoints, name) == said.stdout.strip(), (case, name)


def test_several_names_in_one_block_is_refused_as_24_refuses_it(
    doveconf24: Doveconf24, tmp_path: Path
) -> None:
    """2.3 took `local_name "a b" {`; 2.4 refuses to start (found with this oracle)."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text(
        HEAD + 'local_name "imap.example.org pop.example.org" {\n'
        "  ssl_server_cert_file = /etc/ssl/multi.pem\n}\n"
    )
    said = doveconf24(conf, ["-n"])
    assert said.returncode != 0
    assert "Multiple names no longer supported in local_name value" in said.stderr
    with pytest.raises(ConfigError, match="Multiple names no longer supported"):
        dovecot.read(str(conf), ConfigFiles(), {})


PROTOCOLS = {
    "unset": "",
    "list": "protocols = imap pop3\n",
    "commas": "protocols = imap, pop3\n",
    "quoted": 'protocols = "imap submission"\n',
    "block": "protocols {\n  imap = yes\n  pop3 = yes\n}\n",
    "block-removes": "protocols {\n  imap = yes\n  pop3 = yes\n}\nprotocols {\n  imap = no\n}\n",
    "list-then-block": "protocols = pop3\nprotocols {\n  imap = yes\n}\n",
    "block-then-list": "protocols {\n  imap = yes\n}\nprotocols = pop3\n",
    "no-from-empty": "protocols {\n  imap = no\n}\n",
    # Found by differential testing: any boolean is taken (yes, y, 1 in any case, and no),
    # but only `yes` as written adds a name; `no` in any case takes one out.
    "booleans-as-dovecot-reads-them": "protocols = pop3 imap\nprotocols {\n  imap = NO\n"
    "  submission = Yes\n  lmtp = yes\n}\n",
}


def doveconf24_protocols(output: str) -> set[str]:
    """`doveconf -h protocols`: `imap pop3` for a list, `imap = yes` lines for a block."""
    lines = output.splitlines()
    if any("=" in line for line in lines):
        return {
            n.strip() for n, _, v in (line.partition("=") for line in lines) if v.strip() == "yes"
        }
    return set(output.split())


@pytest.mark.parametrize("case", sorted(PROTOCOLS))
def test_protocols_agree_with_doveconf24(doveconf24: Doveconf24, tmp_path: Path, case: str) -> None:
    """2.4's boolean list: `protocols { imap = yes }` adds, `= no` takes out, `protocols =`
    replaces; unset is empty in 2.4 (2.3: imap pop3 lmtp). The listeners follow."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text(HEAD + PROTOCOLS[case])
    said = doveconf24(conf, ["-h", "protocols"])
    assert said.returncode == 0, said.stderr
    config = dovecot.read_config(str(conf), ConfigFiles(), {})
    served = set(dovecot.protocols(config)[0])
    assert served == doveconf24_protocols(said.stdout), case
    listeners = dovecot.read(str(conf), ConfigFiles(), {}).listeners
    listening = {PROTOCOL[listener.label.split("/")[0]] for listener in listeners}
    assert listening == served & {"imap", "pop3", "submission", "sieve"}


def test_a_boolean_that_is_not_yes_or_no_is_refused_as_24_refuses_it(
    doveconf24: Doveconf24, tmp_path: Path
) -> None:
    conf = tmp_path / "dovecot.conf"
    conf.write_text(HEAD + "protocols {\n  imap = maybe\n}\n")
    said = doveconf24(conf, ["-n"])
    assert said.returncode != 0 and "Invalid boolean value: maybe" in said.stderr
    with pytest.raises(ConfigError, match="Invalid boolean value: maybe"):
        dovecot.read(str(conf), ConfigFiles(), {})


NESTINGS = {
    "protocol-holds-local_name": "protocol imap {\n  local_name a.example {\n",
    "remote-holds-local": "remote 10.0.0.0/8 {\n  local 10.0.0.0/8 {\n",
    "protocol-holds-protocol": "protocol imap {\n  protocol pop3 {\n",
    "local-net-not-inside": "local 10.1.0.0/16 {\n  local 10.0.0.0/8 {\n",
}


@pytest.mark.parametrize("case", sorted(NESTINGS))
def test_nestings_24_refuses_are_refused(doveconf24: Doveconf24, tmp_path: Path, case: str) -> None:
    """Found by differential testing: 2.4 wants 2.3's order of filter blocks too."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text(HEAD + NESTINGS[case] + "    ssl_server_cert_file = /x.pem\n  }\n}\n")
    said = doveconf24(conf, ["-n"])
    assert said.returncode != 0 and "line 6: " in said.stderr, said.stderr
    with pytest.raises(ConfigError, match=r"dovecot\.conf:6: "):
        dovecot.read(str(conf), ConfigFiles(), {})


# Found by differential testing: 2.4 expands `$SET:name` and `$ENV:name` only as whole words
# (`$ENV:D/a.pem` asks the environment for `D/a.pem`), and refuses a `$SET:` word that names
# no setting; `$SET:` of a file setting is empty. `doveconf -x` shows the expanded value (and
# opens the files, as Dovecot does).
VARIABLES = {
    "env-inside-a-word": "ssl_server_cert_file = $ENV:D/a.pem\n",
    "env-whole-word": "ssl_server_cert_file = $ENV:F\n",
    "set-whole-word": "ssl_server_key_file = srv/a.pem\nssl_server_cert_file = $SET:ssl_server_key_file\n",
    "set-inside-a-word": "login_greeting = srv\nssl_server_cert_file = $SET:login_greeting/a.pem\n",
    "set-of-a-string-setting": "login_greeting = srv/a.pem\nssl_server_cert_file = $SET:login_greeting\n",
    "set-of-a-boolean-list": "protocols = imap\nprotocols = $SET:protocols pop3\n",
    "env-between-words": "login_greeting = x $ENV:D y\nssl_server_cert_file = srv/a.pem\n",
}


@pytest.mark.parametrize("case", sorted(VARIABLES))
def test_variables_expand_as_doveconf24_expands_them(
    doveconf24: Doveconf24, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "a.pem").write_text("PEM\n")
    env = {"D": str(tmp_path / "srv"), "F": str(tmp_path / "srv" / "a.pem")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the chroot's doveconf inherits them
    conf = tmp_path / "dovecot.conf"
    conf.write_text(HEAD.split("ssl_server")[0] + VARIABLES[case])
    said = doveconf24(conf, ["-x", "-h", "ssl_server/cert_file"])
    if said.returncode != 0:
        reason = re.search(r"line \d+: (.+)", said.stderr)
        assert reason is not None, said.stderr
        with pytest.raises(ConfigError, match=re.escape(reason.group(1))):
            dovecot.read(str(conf), ConfigFiles(), env)
        return
    (endpoint,) = dovecot.read(str(conf), ConfigFiles(), env).endpoints
    assert endpoint.cert_file == (said.stdout.strip() or None)
