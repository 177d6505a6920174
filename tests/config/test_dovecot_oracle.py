"""Differential tests: mailtls' Dovecot reader against the real `doveconf` (2.3 from Debian 12).

Each tree exercises some rules; for every endpoint mailtls finds, and for every SNI name the
tree lists, doveconf is asked which ssl_cert/ssl_key apply, and both must agree.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from mailtls.config import dovecot
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from mailtls.models import Endpoint
from tests.conftest import run

FILTER_ARGS = {"local": "local", "local_name": "lname", "remote": "remote", "protocol": "protocol"}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write the tree with `/srv` moved under `root`, and make every `<file` it names exist,
    holding its own path: `doveconf -x` then prints which file each setting really reads."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(text).lstrip("\n").replace("/srv/", f"{root}/srv/")
        path.write_text(text)
        for target in re.findall(r"<\s*([^\s\"]+)", text):
            file = (path.parent / target).resolve()
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(f"{file}\n")
    return root / "dovecot.conf"


def ask(doveconf: str, conf: Path, filters: list[str]) -> tuple[str | None, str | None]:
    """The files doveconf -x reads for ssl_cert and ssl_key under these filters, as the config
    process of a running Dovecot 2.3 does (it reads them as root and expands variables)."""
    args = [doveconf, "-x", "-c", str(conf)]
    for item in filters:
        args += ["-f", item]
    found = []
    for setting in ("ssl_cert", "ssl_key"):
        done = run([*args, "-h", setting])
        assert done.returncode == 0, done.stderr
        found.append(done.stdout.strip() or None)
    return found[0], found[1]


def endpoint_filters(endpoint: Endpoint) -> list[str]:
    scope = (
        [part.split(" ", 1) for part in endpoint.scope.split(", ")]
        if endpoint.names or endpoint.scope != "global"
        else []
    )
    out = []
    for kind, value in scope:
        if kind == "local_name":
            value = endpoint.names[0]
        out.append(f"{FILTER_ARGS[kind]}={value}")
    return out


TREES = {
    "includes": {
        "dovecot.conf": """
            ssl = yes
            !include conf.d/*.conf
            !include_try missing/*.conf
            !include extra/{b,a}.conf
        """,
        "conf.d/10-ssl.conf": """
            ssl_cert = </srv/tls/global.pem
            ssl_key = </srv/tls/wrong.key
        """,
        "conf.d/20-key.conf": """
            # the last definition wins
            ssl_key = </srv/tls/global.key
        """,
        "extra/a.conf": """
            local_name a.example.org {
              ssl_cert = </srv/tls/a.pem
              !include ../inner.inc
            }
        """,
        "extra/b.conf": """
            local_name b.example.org {
              ssl_cert = </srv/tls/b.pem
            }
        """,
        "inner.inc": "ssl_key = </srv/tls/a.key\n",
    },
    "syntax": {
        "dovecot.conf": """
            ssl_cert=</srv/tls/nospace.pem
            ssl_key = \\
                </srv/tls/continued.key
            login_greeting = "ready # not a comment"   # a comment
            local_name "one.example.org two.example.org" {
              ssl_cert = </srv/tls/multi.pem # trailing comment
            }
            local_name *.example.net {
              ssl_cert = </srv/tls/wild.pem
            }
            local_name mail.example.net {
              ssl_cert = </srv/tls/shadowed.pem
            }
        """,
    },
    # Found by differential testing: a blank or comment line, or the end of the file, after a
    # `\\` drops the statement begun, in 2.3 and 2.4 alike.
    "continuations": {
        "dovecot.conf": """
            ssl_cert = </srv/tls/global.pem
            ssl_key = </srv/tls/global.key
            ssl_cert = </srv/tls/dropped.pem \\

            ssl_key = \\
              # a comment line drops it too
            local_name a.example.org {
              ssl_cert = \\
                </srv/tls/a.pem
            }
            ssl_key = </srv/tls/at-the-end.key \\
        """,
    },
    # Found by differential testing: a block may hold one of its own kind (a network inside
    # the outer one), which takes the outer one's place.
    "same-kind-nesting": {
        "dovecot.conf": """
            ssl_cert = </srv/tls/global.pem
            local 10.0.0.0/8 {
              ssl_cert = </srv/tls/net8.pem
              local 10.1.0.0/16 {
                ssl_key = </srv/tls/net16.key
              }
            }
            local_name a.example.org {
              ssl_cert = </srv/tls/a.pem
              local_name b.example.org {
                ssl_key = </srv/tls/b.key
              }
            }
        """,
    },
    # Found by differential testing: a connection from a narrower network matches the wider
    # network's block too, and the narrower one's values win, whichever comes first.
    "overlapping-networks": {
        "dovecot.conf": """
            ssl_cert = </srv/tls/global.pem
            remote 10.1.0.0/16 {
              ssl_key = </srv/tls/narrow.key
            }
            remote 10.0.0.0/8 {
              ssl_cert = </srv/tls/wide.pem
              ssl_key = </srv/tls/wide.key
            }
            local ::1 {
              ssl_cert = </srv/tls/v6.pem
            }
        """,
    },
    # Found by differential testing: an SNI name gets every local_name block it matches,
    # merged; the block Dovecot picks (2.3: the first) wins where they both set a value.
    "sni-blocks-merge": {
        "dovecot.conf": """
            ssl_cert = </srv/tls/global.pem
            ssl_key = </srv/tls/global.key
            local_name mail.example.net {
              ssl_cert = </srv/tls/exact.pem
            }
            local_name *.example.net {
              ssl_cert = </srv/tls/wild.pem
              ssl_key = </srv/tls/wild.key
            }
            local_name "other.example.org mail.example.net" {
              ssl = no
            }
        """,
    },
    "filters": {
        "dovecot.conf": """
            ssl_cert = </srv/tls/global.pem
            ssl_key = </srv/tls/global.key
            ssl_ca = </srv/tls/ca.pem
            protocol imap {
              ssl_cert = </srv/tls/imap.pem
            }
            local 127.0.0.2 {
              ssl_ca = <tls/local-ca.pem
              local_name nested.example.org {
                protocol pop3 {
                  ssl_cert = </srv/tls/nested-pop3.pem
                }
              }
            }
            remote 10.0.0.0/8 {
              ssl_key = </srv/tls/remote.key
            }
            local_name ref.example.org {
              ssl_key = $ssl_cert
            }
        """,
    },
}


@pytest.mark.parametrize("tree", TREES)
def test_endpoints_agree_with_doveconf(doveconf: str, tmp_path: Path, tree: str) -> None:
    """Every endpoint's cert and key are what doveconf gives for that endpoint's filters."""
    conf = write_tree(tmp_path, TREES[tree])
    result = dovecot.read(str(conf), ConfigFiles(), {})
    assert result.endpoints
    for endpoint in result.endpoints:
        if endpoint.scope.startswith("local_name") and not endpoint.names:
            continue  # shadowed: no name reaches it (checked below)
        want = ask(doveconf, conf, endpoint_filters(endpoint))
        assert (endpoint.cert_file, endpoint.key_file) == want, endpoint.id


@pytest.mark.parametrize("tree", TREES)
def test_ca_file_agrees_with_doveconf(doveconf: str, tmp_path: Path, tree: str) -> None:
    """Every endpoint's ca_file is the file doveconf -x reads for ssl_ca under its filters."""
    conf = write_tree(tmp_path, TREES[tree])
    for endpoint in dovecot.read(str(conf), ConfigFiles(), {}).endpoints:
        if endpoint.scope.startswith("local_name") and not endpoint.names:
            continue
        args = [doveconf, "-x", "-c", str(conf), "-h", "ssl_ca"]
        for item in endpoint_filters(endpoint):
            args[1:1] = ["-f", item]
        done = run(args)
        assert done.returncode == 0, done.stderr
        assert endpoint.ca_file == (done.stdout.strip() or None), endpoint.id


def test_ca_file_in_24_is_a_path(tmp_path: Path) -> None:
    """2.4: ssl_server_ca_file names the file; inside `ssl_server { }` it is `ca_file`."""
    conf = write_tree(
        tmp_path,
        {
            "dovecot.conf": """
                dovecot_config_version = 2.4.0
                ssl_server_cert_file = /srv/tls/global.pem
                ssl_server_ca_file = ca/global.pem
                local_name mail.example.net {
                  ssl_server {
                    cert_file = /srv/tls/exact.pem
                    ca_file = /srv/tls/exact-ca.pem
                  }
                }
            """
        },
    )
    found = {e.scope: e.ca_file for e in dovecot.read(str(conf), ConfigFiles(), {}).endpoints}
    assert found == {
        "global": f"{tmp_path}/ca/global.pem",
        "local_name mail.example.net": f"{tmp_path}/srv/tls/exact-ca.pem",
    }


@pytest.mark.parametrize("tree", TREES)
def test_each_sni_name_gets_the_block_doveconf_picks(
    doveconf: str, tmp_path: Path, tree: str
) -> None:
    """For each listed name, the endpoint that claims it serves what doveconf says it gets."""
    conf = write_tree(tmp_path, TREES[tree])
    result = dovecot.read(str(conf), ConfigFiles(), {})
    listed = {
        name
        for e in result.endpoints
        if e.scope.startswith("local_name")
        for name in e.scope.split(", ")[0].split()[1:]
    }
    for name in listed:
        claims = [e for e in result.endpoints if name in e.names and "," not in e.scope]
        if not claims:
            continue
        (endpoint,) = claims
        assert ask(doveconf, conf, [f"lname={name}"])[0] == endpoint.cert_file, name


def test_shadowed_local_name_is_reported(tmp_path: Path) -> None:
    """mail.example.net is listed but *.example.net comes first: Dovecot 2.3 takes the first."""
    conf = write_tree(tmp_path, TREES["syntax"])
    result = dovecot.read(str(conf), ConfigFiles(), {})
    (shadowed,) = [e for e in result.endpoints if e.scope == "local_name mail.example.net"]
    assert shadowed.names == ()
    assert [f.code for f in result.findings] == ["local-name-shadowed"]


def test_dovecot_24_takes_the_last_matching_local_name(tmp_path: Path) -> None:
    """The same two blocks under dovecot_config_version 2.4: the later, exact block wins."""
    conf = write_tree(
        tmp_path,
        {
            "dovecot.conf": """
                dovecot_config_version = 2.4.0
                ssl_server_cert_file = /srv/tls/global.pem
                ssl_server_key_file = /srv/tls/global.key
                local_name *.example.net {
                  ssl_server_cert_file = /srv/tls/wild.pem
                }
                local_name mail.example.net {
                  ssl_server {
                    cert_file = /srv/tls/exact.pem
                  }
                }
            """
        },
    )
    result = dovecot.read(str(conf), ConfigFiles(), {})
    by_scope = {e.scope: e for e in result.endpoints}
    assert by_scope["local_name mail.example.net"].names == ("mail.example.net",)
    assert by_scope["local_name mail.example.net"].cert_file == f"{tmp_path}/srv/tls/exact.pem"
    assert by_scope["local_name *.example.net"].names == ("*.example.net",)
    assert result.findings == ()


@pytest.mark.parametrize(
    "text",
    [
        "protocol imap {\n  local_name x.org {\n    ssl_cert = </x\n  }\n}\n",
        "local_name x.org {\n  ssl_cert = </x\n",
        "}\n",
        "ssl_cert </x\n",
    ],
    ids=["protocol-outside-local_name", "missing-brace", "extra-brace", "no-equals"],
)
def test_configs_doveconf_rejects_are_rejected(doveconf: str, tmp_path: Path, text: str) -> None:
    """What doveconf refuses to parse, mailtls refuses too (exit 2), never guesses."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text(text)
    assert run([doveconf, "-c", str(conf), "-n"]).returncode != 0
    with pytest.raises(ConfigError):
        dovecot.read(str(conf), ConfigFiles(), {})


def listen(service: str, listener: str, *lines: str) -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return f"service {service} {{\n  inet_listener {listener} {{\n{body}  }}\n}}\n"


DAEMON_REJECTS = {
    "two-names-unquoted": "local_name a.example b.example {\n  ssl_cert = </x\n}\n",
    "brace-in-name": "local_name a.example{\n  ssl_cert = </x\n}\n",
    "single-quotes": "local_name 'a.example b.example' {\n  ssl_cert = </x\n}\n",
    "two-protocols": "protocol imap pop3 {\n  ssl_cert = </x\n}\n",
    "missing-include": "!include nowhere.conf\nssl_cert = </x\n",
    "glob-matches-nothing": "!include conf.d/*.conf\nssl_cert = </x\n",
    "dangling-link": "!include link.conf\nssl_cert = </x\n",
    "includes-itself": "ssl_cert = </x\n!include dovecot.conf\n",
    "ssl-value": "ssl = maybe\nssl_cert = </x\n",
    "ssl-value-in-block": "protocol imap {\n  ssl = Yes\n}\n",
    # Found by differential testing: doveconf checks every listener line as it reads it.
    "port-set-again-later": listen("imap-login", "imaps", "port = 70000", "port = 0"),
    "port-of-unserved-protocol": "protocols = pop3\n"
    + listen("imap-login", "imaps", "port = 99999"),
    "listener-ssl-not-boolean": listen("imap-login", "imap", "ssl = true"),
    "local-net-not-inside": "local 10.1.2.3 {\n  local 10.0.0.0/8 {\n    ssl_cert = </x\n  }\n}\n",
}


@pytest.mark.parametrize("case", DAEMON_REJECTS)
def test_what_doveconf_stops_on_stops_mailtls_with_its_reason(
    doveconf: str, tmp_path: Path, case: str
) -> None:
    """doveconf ends with `Fatal: Error in configuration file F line N: REASON`: mailtls raises
    ConfigError (exit 2) at the same line, saying the same reason."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text(DAEMON_REJECTS[case])
    (tmp_path / "link.conf").symlink_to(tmp_path / "gone.conf")
    done = run([doveconf, "-c", str(conf), "-n"])
    assert done.returncode != 0
    said = re.search(r"line (\d+): ([^:\n]+)", done.stderr)
    assert said is not None, done.stderr
    line, reason = said.groups()
    with pytest.raises(ConfigError) as raised:
        dovecot.read(str(conf), ConfigFiles(), {})
    assert f"{conf}:{line}: " in str(raised.value)
    assert reason in str(raised.value)


LISTENERS = {
    "ssl-capitalised": listen("imap-login", "imap", "port = 10993", "ssl = Yes"),
    "ssl-one": listen("imap-login", "imaps", "port = 10994", "ssl = 1"),
    "ssl-y-and-no": listen("pop3-login", "pop3s", "ssl = y")
    + listen("imap-login", "imaps", "ssl = NO"),
    "quoted-port": listen("imap-login", "imap", 'port = "10143"'),
}


@pytest.mark.parametrize("case", LISTENERS)
def test_listeners_agree_with_doveconf(doveconf: str, tmp_path: Path, case: str) -> None:
    """Each listener's port, and implicit TLS or STARTTLS, as doveconf reads them (Dovecot's
    booleans: yes, y, 1 in any case, and no)."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text("protocols = imap pop3\n" + LISTENERS[case])
    listeners = dovecot.read(str(conf), ConfigFiles(), {}).listeners
    assert listeners
    for listener in listeners:
        path = "service/{}/inet_listener/{}/".format(*listener.label.split("/"))
        port, ssl = (
            run([doveconf, "-c", str(conf), "-h", path + name]).stdout.strip()
            for name in ("port", "ssl")
        )
        assert (listener.port, listener.starttls is None) == (int(port), ssl == "yes"), case


def test_commas_in_23_protocols_are_refused_as_doveconf_refuses_them(
    doveconf: str, tmp_path: Path
) -> None:
    """Found by differential testing: 2.3 splits `protocols` at spaces (2.4 takes commas)."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text("protocols = imap, pop3\nssl_cert = </x\n")
    done = run([doveconf, "-c", str(conf), "-n"])
    assert done.returncode != 0 and "protocols: Unknown protocol: imap," in done.stderr
    with pytest.raises(ConfigError, match=r"dovecot\.conf:1: protocols: Unknown protocol: imap,"):
        dovecot.read(str(conf), ConfigFiles(), {})


DUPLICATES = {
    "imaps-on-pop3s-port": (
        "protocols = imap pop3\n" + listen("imap-login", "imaps", "port = 995"),
        True,
    ),
    "extra-on-imaps-port": (
        "protocols = imap\n" + listen("imap-login", "extra", "port = 993"),
        True,
    ),
    "other-address": (
        "protocols = imap\n" + listen("imap-login", "imaps", "port = 143", "address = 127.0.0.1"),
        False,
    ),
    "port-moved-off": (
        "protocols = imap pop3\n"
        + listen("imap-login", "imaps", "port = 995")
        + listen("pop3-login", "pop3s", "port = 0"),
        False,
    ),
    "protocols-set-in-a-block": (
        "local 127.0.0.2 {\n  protocols = pop3 submission\n}\n"
        + listen("pop3-login", "pop3s", "port = 10993")
        + listen("submission-login", "submission", "port = 10993"),
        True,
    ),
    "each-block-its-own-view": (
        "local 127.0.0.2 {\n  protocols = pop3 submission\n}\nprotocols = imap\n"
        + listen("imap-login", "imap", "port = 10993")
        + listen("pop3-login", "pop3s", "port = 10993"),
        False,
    ),
    "protocol-not-served": (
        "protocols = imap\n" + listen("imap-login", "imaps", "port = 995"),
        False,
    ),
}


@pytest.mark.parametrize("case", DUPLICATES)
def test_two_listeners_on_one_port_stop_mailtls_as_doveconf(
    doveconf: str, tmp_path: Path, case: str
) -> None:
    """Found by differential testing: doveconf stops on `duplicate listener: PORT:`."""
    text, duplicate = DUPLICATES[case]
    conf = tmp_path / "dovecot.conf"
    conf.write_text(text)
    done = run([doveconf, "-c", str(conf), "-n"])
    assert ("duplicate listener" in done.stderr) == duplicate, done.stderr
    if duplicate:
        with pytest.raises(ConfigError, match="duplicate listener"):
            dovecot.read(str(conf), ConfigFiles(), {})
    else:
        assert dovecot.read(str(conf), ConfigFiles(), {}).listeners


def test_include_try_of_nothing_and_a_quoted_name_with_spaces_are_fine(
    doveconf: str, tmp_path: Path
) -> None:
    conf = write_tree(
        tmp_path,
        {
            "dovecot.conf": """
                !include_try nowhere.conf
                !include_try conf.d/*.conf
                ssl = required
                ssl_cert = </srv/tls/global.pem
                local_name "a.example b.example" {
                  ssl_cert = </srv/tls/ab.pem
                }
            """
        },
    )
    assert run([doveconf, "-c", str(conf), "-n"]).returncode == 0
    result = dovecot.read(str(conf), ConfigFiles(), {})
    assert [e.names for e in result.endpoints] == [(), ("a.example", "b.example")]


def test_relative_file_paths_resolve_against_the_including_file(tmp_path: Path) -> None:
    """`ssl_cert = <x.pem` in conf.d/10-ssl.conf means conf.d/x.pem (doveconf -x reads it)."""
    conf = write_tree(
        tmp_path,
        {
            "dovecot.conf": "!include conf.d/*.conf\n",
            "conf.d/10-ssl.conf": "ssl_cert = <x.pem\nssl_key = <../k.pem\n",
        },
    )
    (endpoint,) = dovecot.read(str(conf), ConfigFiles(), {}).endpoints
    assert endpoint.cert_file == str(tmp_path / "conf.d/x.pem")
    assert endpoint.key_file == str(tmp_path / "k.pem")


def test_quoted_file_value_is_reported(tmp_path: Path) -> None:
    conf = write_tree(tmp_path, {"dovecot.conf": 'ssl_cert = "</srv/x.pem"\nssl_key = </srv/k\n'})
    result = dovecot.read(str(conf), ConfigFiles(), {})
    assert [f.code for f in result.findings] == ["quoted-file-value"]


def test_file_prefix_in_24_is_reported(tmp_path: Path) -> None:
    """2.4: `ssl_server_cert_file = </x` reads x's text and takes it as the file name."""
    conf = write_tree(
        tmp_path,
        {"dovecot.conf": "dovecot_config_version = 2.4.0\nssl_server_cert_file = </srv/x.pem\n"},
    )
    result = dovecot.read(str(conf), ConfigFiles(), {})
    assert [f.code for f in result.findings] == ["file-content-as-path"]
    assert result.endpoints[0].cert_file is None


def test_alt_certificates_and_ssl_no(tmp_path: Path) -> None:
    conf = write_tree(
        tmp_path,
        {
            "dovecot.conf": """
                ssl_cert = </srv/rsa.pem
                ssl_key = </srv/rsa.key
                ssl_alt_cert = </srv/ecdsa.pem
                ssl_alt_key = </srv/ecdsa.key
                ssl = no
            """
        },
    )
    result = dovecot.read(str(conf), ConfigFiles(), {})
    assert [(e.slot, e.cert_file, e.key_file, e.enabled) for e in result.endpoints] == [
        ("main", f"{tmp_path}/srv/rsa.pem", f"{tmp_path}/srv/rsa.key", False),
        ("alt", f"{tmp_path}/srv/ecdsa.pem", f"{tmp_path}/srv/ecdsa.key", False),
    ]


# Found by differential testing: 2.3 expands an unquoted, non-`<` value word by word (a word
# starting with `$` is one variable, whole), and never a `<file` name or a quoted value.
VARIABLES = {
    "env-in-file-name": "ssl_cert = <$ENV:D/a.pem\n",
    "setting-in-file-name": "login_greeting = srv\nssl_cert = <$login_greeting/a.pem\n",
    "quoted-variable": 'ssl_key = <srv/k.pem\nssl_cert = "$ssl_key"\n',
    "whole-variable": "ssl_key = <srv/k.pem\nssl_cert = $ssl_key\n",
    "inner-block": "ssl_key = <srv/k.pem\nprotocol imap {\n  ssl_cert = $ssl_key\n}\n",
    "env-word-with-slash": "ssl_cert = $ENV:D/a.pem\nssl_key = $ENV:D\n",
}


def doveconf_files(
    doveconf: str, conf: Path, filters: list[str], env: dict[str, str]
) -> dict[str, str | None]:
    """The files doveconf -x reads for ssl_cert and ssl_key (each holds `FILE:` and its path;
    None for a value that names no file); when it cannot open one, just that one."""
    args = [doveconf, "-x", "-c", str(conf), *filters, "ssl_cert", "ssl_key"]
    done = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **env}, check=False
    )
    if done.returncode != 0:
        failed = re.search(r"(\w+): Can't open file (\S+): No such file", done.stderr)
        assert failed is not None, done.stderr
        return {failed.group(1): failed.group(2)}
    said = dict(re.findall(r"^(ssl_cert|ssl_key) = (.*)$", done.stdout, re.M))
    return {k: v.removeprefix("FILE:") if v.startswith("FILE:") else None for k, v in said.items()}


@pytest.mark.parametrize("case", VARIABLES)
def test_variables_expand_as_doveconf_expands_them(
    doveconf: str, tmp_path: Path, case: str
) -> None:
    conf = tmp_path / "dovecot.conf"
    conf.write_text(VARIABLES[case])
    (tmp_path / "srv").mkdir()
    for name in ("a.pem", "k.pem"):
        (tmp_path / "srv" / name).write_text(f"FILE:{tmp_path / 'srv' / name}\n")
    env = {"D": str(tmp_path / "srv")}
    for endpoint in dovecot.read(str(conf), ConfigFiles(), env).endpoints:
        filters = [] if endpoint.scope == "global" else ["-f", "protocol=imap"]
        said = doveconf_files(doveconf, conf, filters, env)
        mine = {"ssl_cert": endpoint.cert_file, "ssl_key": endpoint.key_file}
        assert {k: mine[k] for k in said} == said, endpoint.id


def test_a_variable_word_that_names_no_setting_is_refused(doveconf: str, tmp_path: Path) -> None:
    """`$ssl_key/x` is one word, so one variable name, which no setting has."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text("ssl_key = k\nssl_cert = $ssl_key/x\n")
    done = run([doveconf, "-x", "-c", str(conf), "-h", "ssl_cert"])
    assert done.returncode != 0 and "Unknown variable: $ssl_key/x" in done.stderr
    with pytest.raises(ConfigError, match=r"dovecot.conf:2: Unknown variable: \$ssl_key/x"):
        dovecot.read(str(conf), ConfigFiles(), {})


PROTOCOL_CERTS = {
    "both-protocols": """
        protocols = imap pop3
        ssl = yes
        protocol imap {
          ssl_cert = </srv/tls/imap.pem
          ssl_key = </srv/tls/imap.key
        }
        protocol pop3 {
          ssl_cert = </srv/tls/pop3.pem
          ssl_key = </srv/tls/pop3.key
        }
    """,
    "pop3-without": """
        protocols = imap pop3 lmtp
        ssl = yes
        protocol imap {
          ssl_cert = </srv/tls/imap.pem
          ssl_key = </srv/tls/imap.key
        }
    """,
    "pop3-tls-off": """
        protocols = imap pop3
        protocol imap {
          ssl_cert = </srv/tls/imap.pem
        }
        protocol pop3 {
          ssl = no
        }
    """,
    "global": """
        protocols = imap pop3 submission
        ssl_cert = </srv/tls/global.pem
        protocol pop3 {
          ssl_key = </srv/tls/pop3.key
        }
    """,
}


@pytest.mark.parametrize("tree", PROTOCOL_CERTS)
def test_no_certificate_names_the_protocols_doveconf_gives_none(
    doveconf: str, tmp_path: Path, tree: str
) -> None:
    """Certificates only in `protocol` blocks: Dovecot starts and each protocol's login
    process serves its own (a live Dovecot 2.3 serves imaps and fails only pop3s with
    "Can't load SSL certificate: The certificate is empty" when pop3 has none). mailtls names
    exactly the TLS protocols doveconf gives no ssl_cert, with the line that turns TLS on."""
    conf = write_tree(tmp_path, {"dovecot.conf": PROTOCOL_CERTS[tree]})
    protocols = run([doveconf, "-c", str(conf), "-h", "protocols"]).stdout.split()
    lacking = []
    for protocol in protocols:
        args = [doveconf, "-c", str(conf), "-f", f"protocol={protocol}", "-h"]
        ssl, cert = (run([*args, name]).stdout.strip() for name in ("ssl", "ssl_cert"))
        if protocol != "lmtp" and ssl != "no" and not cert:
            lacking.append(protocol)
    result = dovecot.read(str(conf), ConfigFiles(), {})
    said = [f for f in result.findings if f.code == "no-certificate"]
    if not lacking:
        assert said == []
        return
    (finding,) = said
    assert f"TLS is on for {', '.join(lacking)} " in finding.message
    assert finding.source is not None
    assert conf.read_text().splitlines()[finding.source.line - 1].startswith(("ssl =", "protocols"))


def test_lines_end_at_newline_only_as_doveconf_reads_them(doveconf: str, tmp_path: Path) -> None:
    """Found by review: a form feed or U+0085 ended a line for mailtls (str.splitlines), not
    for Dovecot: a setting after one in a comment came alive."""
    conf = write_tree(
        tmp_path,
        {"dovecot.conf": "ssl_cert = </srv/real.pem\nssl_key = </srv/key.pem\n"
         "# note\x0cssl_cert = </srv/hidden.pem\n# and\x85ssl_key = </srv/hidden.key\n"},
    )  # fmt: skip
    (endpoint,) = dovecot.read(str(conf), ConfigFiles(), {}).endpoints
    assert (endpoint.cert_file, endpoint.key_file) == ask(doveconf, conf, [])
    assert endpoint.cert_file is not None and endpoint.cert_file.endswith("/srv/real.pem")
