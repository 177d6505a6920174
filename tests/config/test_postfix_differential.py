"""Differential test: random small Postfix main.cf and master.cf files, in the shapes admins
write, read by mailtls and by the real postconf; both must agree.

Compared: each TLS parameter of main.cf fully expanded (`postconf -x`), each master.cf `-o`
override as written (`postconf -P`) and expanded as its service sees it (`postconf -Px`).
A seeded generator of the same shapes ran on 1,600 configurations and this test on 1,500
before it was committed; here a modest number of examples keeps the suite fast. Shapes where postconf only warns and guesses (an unclosed `{`,
`-o name` without `=`), which mailtls refuses, and `-oX` with an `o` in X (postconf splits it
at every `o`; the daemon's getopt does not) are left out.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtls.config import postfix
from mailtls.config.postfix_syntax import Service
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError

PARAMS = [
    "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_eccert_file", "smtpd_tls_eckey_file",
    "smtpd_tls_chain_files", "smtpd_tls_CAfile", "smtpd_tls_security_level", "smtpd_use_tls",
    "smtpd_tls_wrappermode", "smtp_tls_cert_file", "smtp_tls_key_file", "tls_server_sni_maps",
]  # fmt: skip
USER = ["tls_dir", "hollow", "empty"]
# Every name is defined: postconf takes a second over each `undefined parameter` warning.
NAME = st.sampled_from([*USER, "smtpd_tls_cert_file"])
PIECE = st.one_of(
    st.sampled_from(["/srv/x.pem", "/a/b.pem", " ", ",", "$$lit", "# not a comment", "may"]),
    NAME.map(lambda n: f"${n}"),
    NAME.map(lambda n: f"${{{n}}}"),
    NAME.map(lambda n: f"$({n})"),
    st.tuples(NAME, st.sampled_from("?:")).map(lambda t: f"${{{t[0]}{t[1]}/y}}"),
    NAME.map(lambda n: f"${{{n}?{{${n}}}:{{/none}}}}"),
)
VALUE = st.lists(PIECE, min_size=1, max_size=3).map("".join)
MAIN_LINE = st.tuples(
    st.sampled_from(PARAMS),
    st.sampled_from([" = ", "=", " ="]),
    VALUE,
    st.sampled_from(["", "\n  /srv/continued.pem", "\n# a comment line inside\n  /more"]),
).map(lambda t: f"{t[0]}{t[1]}{t[2]}{t[3]}")
OVERRIDE = st.tuples(
    st.sampled_from([*PARAMS[:9], "syslog_name"]),
    VALUE,
    st.sampled_from(["-o {n}={v}", "-o {{ {n} = {v} }}", "-o {{{n}={v}}}", "-v -o {n}={v}"]),
).map(lambda t: t[2].format(n=t[0], v=t[1] if "{{" in t[2] else t[1].replace(" ", "")))
SERVICE = st.tuples(
    st.sampled_from(["smtp", "submission", "smtps", "127.0.0.1:10025", "[::1]:2525"]),
    st.lists(OVERRIDE, max_size=3),
)


def write(root: Path, main: list[str], services: list[tuple[str, list[str]]]) -> None:
    (root / "main.cf").write_text("myhostname = mail.example.org\n" + "\n".join(main) + "\n")
    master = []
    for name, overrides in {name: o for name, o in services}.items():
        master.append(f"{name} inet n - n - - smtpd")
        master += [f"  {line}" for line in overrides]
    (root / "master.cf").write_text("\n".join(master) + "\n")
    past = time.time() - 60  # a fresh file costs Postfix 2 s of waiting (see test_postfix_oracle)
    for name in ("main.cf", "master.cf"):
        os.utime(root / name, (past, past))


def ask(binary: str, root: Path, args: list[str]) -> dict[str, str] | None:
    """postconf's `name = value` lines; None when it stops on a user parameter that calls
    itself (postconf expands them all; the daemon never looks at one it does not use)."""
    done = subprocess.run(
        [binary, "-c", str(root), *args], capture_output=True, text=True, check=False, timeout=60
    )
    if "macro processing error" in done.stderr:
        return None
    assert done.returncode == 0, done.stderr
    said = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(" =")
        said[name] = " ".join(value.split())  # postconf folds runs of white space
    return said


def find(services: list[Service], label: str) -> Service:
    return next(s for s in services if f"{s.name}/{s.type}" == label)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(main=st.lists(MAIN_LINE, max_size=7), services=st.lists(SERVICE, max_size=3))
def test_random_configurations_read_as_postconf_reads_them(
    postconf: str, main: list[str], services: list[tuple[str, list[str]]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root, ["empty =", "hollow = $empty", "tls_dir = /srv/tls", *main], services)
        config = postfix.read_config(tmp, ConfigFiles(), [])
        said = ask(postconf, root, ["-x", *PARAMS])
        if said is None:  # a parameter that calls itself: postconf stops, so must mailtls
            with pytest.raises(ConfigError, match="unreasonable macro call nesting"):
                for service in [None, *config.services]:
                    for name in PARAMS:
                        config.value(name, service)
            return
        for name in PARAMS:
            assert " ".join(config.value(name).split()) == said[name], name
        expanded = ask(postconf, root, ["-Px"])
        if expanded is None:
            return  # an override that calls itself, in a service: not main.cf's business
        written = ask(postconf, root, ["-P"])
        mine = {
            f"{s.name}/{s.type}/{n}": " ".join(p.value.split())
            for s in config.services
            for n, p in s.overrides.items()
        }
        assert mine == written
        for key, value in expanded.items():
            label, _, name = key.rpartition("/")
            service = find(config.services, label)
            assert " ".join(config.value(name, service).split()) == value, key
