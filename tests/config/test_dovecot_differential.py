"""Differential test: random small Dovecot 2.3 configurations, in the shapes admins write,
read by mailtls and by the real doveconf; both must agree.

What is compared: whether the configuration is refused (doveconf's non-zero exit, mailtls'
ConfigError); for each endpoint, the files doveconf -x reads for ssl_cert and ssl_key under
that endpoint's filters, and `ssl`; each listener's port and implicit TLS. A seeded generator
of the same shapes ran on about 8,000 configurations and this test on 6,500 before it was
committed (the commits that cite "differential testing" fixed what they found); here a
modest number of examples keeps the suite fast.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtls.config import dovecot
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from mailtls.models import Endpoint

FILES = ["a.pem", "b.pem", "k.key"]
FILTER_ARGS = {"local": "local", "local_name": "lname", "remote": "remote", "protocol": "protocol"}
FILTER_VALUES = {
    "local": ["127.0.0.2", "10.0.0.0/8", "10.1.0.0/16"],
    "local_name": ["a.example", "*.example", "mail.example", '"a.example b.example"'],
    "remote": ["192.0.2.1", "10.0.0.0/8", "10.1.2.3"],
    "protocol": ["imap", "pop3", "submission"],
}

VALUES = st.sampled_from(
    [
        "<{root}/srv/{file}",
        "<srv/{file}",
        "< {root}/srv/{file} # a comment",
        "<$ENV:D/{file}",
        "$ENV:F",
        "$ENV:D/{file}",
        "$ssl_cert",
        "$ssl_key",
        '"<{root}/srv/{file}"',
        "{root}/srv/{file}",
        "",
    ]
)
KEYS = st.sampled_from(["ssl_cert", "ssl_key", "ssl_cert", "ssl_alt_cert"])
SEPARATORS = st.sampled_from([" = ", "=", " = \\\n    "])
SETTING = st.one_of(
    st.tuples(KEYS, SEPARATORS, VALUES, st.sampled_from(FILES)).map(
        lambda t: [f"{t[0]}{t[1]}{t[2].replace('{file}', t[3])}"]
    ),
    st.sampled_from(["yes", "no", "required", "no # off"]).map(lambda v: [f"ssl = {v}"]),
    st.sampled_from(["imap", "imap pop3", "pop3 submission", '"imap pop3"']).map(
        lambda v: [f"protocols = {v}"]
    ),
    st.just(["ssl_cert = </dropped.pem \\", ""]),  # a blank line after `\` drops it
    st.sampled_from(["# a comment", ""]).map(lambda line: [line]),
)
LISTENER = st.tuples(
    st.sampled_from(
        [
            ("imap-login", "imap"),
            ("imap-login", "imaps"),
            ("pop3-login", "pop3s"),
            ("submission-login", "submission"),
        ]
    ),
    st.sampled_from(["", "port = 10993", "port = 0", 'port = "10995"', "port = 70000"]),
    st.sampled_from(["", "ssl = yes", "ssl = no", "ssl = Yes", "ssl = 1", "ssl = true"]),
).map(
    lambda t: [
        f"service {t[0][0]} {{",
        f"  inet_listener {t[0][1]} {{",
        f"    {t[1]}",
        f"    {t[2]}",
        "  }",
        "}",
    ]
)


@st.composite
def block(draw: st.DrawFn, depth: int = 0) -> list[str]:
    kind = draw(st.sampled_from(list(FILTER_VALUES)))
    lines = [f"{kind} {draw(st.sampled_from(FILTER_VALUES[kind]))} {{"]
    inner = st.one_of(SETTING, block(depth + 1)) if depth < 2 else SETTING
    for part in draw(st.lists(inner, min_size=1, max_size=3)):
        lines += [f"  {line}" for line in part]
    return [*lines, "}"]


CONFIG = st.lists(st.one_of(SETTING, SETTING, block(), LISTENER), min_size=1, max_size=8)


def write(root: Path, statements: list[list[str]]) -> Path:
    for folder in (root / "srv", root / "conf.d" / "srv"):
        folder.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (folder / name).write_text(f"FILE:{folder / name}\n")
    text = "\n".join(line for part in statements for line in part) + "\n"
    conf = root / "dovecot.conf"
    conf.write_text(text.replace("{root}", str(root)))
    return conf


def ask(
    binary: str, conf: Path, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "-c", str(conf), *args],
        capture_output=True, text=True, env={**os.environ, **env}, check=False, timeout=60,
    )  # fmt: skip


def filters(endpoint: Endpoint) -> list[str]:
    args = []
    for part in endpoint.scope.split(", ") if endpoint.scope != "global" else []:
        kind, value = part.split(" ", 1)
        value = endpoint.names[0] if kind == "local_name" else value.split("/")[0]
        args += ["-f", f"{FILTER_ARGS[kind]}={value}"]
    return args


def files_said(done: subprocess.CompletedProcess[str]) -> dict[str, str | None]:
    """The file each setting reads (each holds `FILE:` and its path), and `ssl`."""
    said = dict(re.findall(r"^(ssl_cert|ssl_key|ssl) = (.*)$", done.stdout, re.M))
    files = {k: v.removeprefix("FILE:") if v.startswith("FILE:") else None for k, v in said.items()}
    return {**files, "ssl": said["ssl"]}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(statements=CONFIG)
def test_random_configurations_read_as_doveconf_reads_them(
    doveconf: str, statements: list[list[str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conf = write(root, statements)
        env = {"D": str(root / "srv"), "F": str(root / "srv" / "a.pem")}
        done = ask(doveconf, conf, ["-n"], env)
        if "Conflict in setting" in done.stderr:
            return  # two blocks neither of which Dovecot ranks first: not modelled by mailtls
        refused = done.returncode != 0
        try:
            result = dovecot.read(str(conf), ConfigFiles(), env)
        except ConfigError:
            assert refused, conf.read_text()
            return
        assert not refused, conf.read_text()
        quoted = {f.endpoint for f in result.findings if f.code == "quoted-file-value"}
        for endpoint in result.endpoints:
            if endpoint.slot != "main" or endpoint.id in quoted:
                continue  # `"<file"`: a deliberate finding, not a file Dovecot reads
            if endpoint.scope.startswith("local_name") and not endpoint.names:
                continue  # shadowed: no SNI name reaches it
            done = ask(
                doveconf, conf, ["-x", *filters(endpoint), "ssl_cert", "ssl_key", "ssl"], env
            )
            if "Conflict in setting" in done.stderr:
                continue  # two blocks neither of which Dovecot ranks first: not modelled
            if "Can't open file" in done.stderr:
                # Dovecot reads every `<file` line, even one set again later, and stops on a
                # missing one: test_dovecot_oracle.py checks which file that is.
                return
            said = files_said(done)
            ssl = said.pop("ssl", None)
            assert ssl is None or (ssl != "no") == endpoint.enabled, endpoint.id
            mine = {"ssl_cert": endpoint.cert_file, "ssl_key": endpoint.key_file}
            assert {k: mine[k] for k in said} == said, (endpoint.id, conf.read_text())
        for listener in result.listeners:
            path = "service/{}/inet_listener/{}/".format(*listener.label.split("/"))
            port, ssl = (
                ask(doveconf, conf, ["-h", path + name], env).stdout.strip()
                for name in ("port", "ssl")
            )
            assert (listener.port, listener.starttls is None) == (int(port), ssl == "yes")
