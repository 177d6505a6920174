"""Differential tests: mailtls' Postfix reader against the real `postconf` (3.7 from Debian 12)."""

from __future__ import annotations

import os
import re
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtls.config import postfix
from mailtls.config.postfix_expand import expand
from mailtls.config.postfix_syntax import parse_master
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from tests.conftest import need_binary, run

CERT_PARAMS = [
    "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_eccert_file", "smtpd_tls_eckey_file",
    "smtpd_tls_dcert_file", "smtpd_tls_dkey_file", "smtpd_tls_chain_files",
    "smtp_tls_cert_file", "smtp_tls_key_file", "lmtp_tls_cert_file", "lmtp_tls_key_file",
]  # fmt: skip

MASTER = """\
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_cert_file=/srv/submission.pem
submissions inet n      -       y       -       -       smtpd
  -o { smtpd_tls_wrappermode = yes }
  -osmtpd_tls_eccert_file=$ec_dir/ec.pem
127.0.0.1:10025 inet n  -       n       -       -       smtpd
  -o smtpd_tls_security_level=none
relay     unix  -       -       y       -       -       smtp
  -o smtp_tls_cert_file=/srv/relay-client.pem
"""


# Without myhostname postconf resolves this machine's name: seconds lost to a DNS timeout.
HOST = "myhostname = mail.example.org\n"


def settle(*paths: Path) -> None:
    """Date files a minute back: Postfix re-reads a file changed in the last second, sleeping
    0.3 s a round (dict_load_file), which costs a fresh file about two seconds."""
    past = time.time() - 60
    for path in paths:
        os.utime(path, (past, past))


def write(root: Path, main: str, master: str = MASTER) -> Path:
    (root / "main.cf").write_text(HOST + textwrap.dedent(main))
    (root / "master.cf").write_text(master)
    settle(root / "main.cf", root / "master.cf")
    return root


def postconf_values(postconf: str, root: Path, names: list[str]) -> dict[str, str]:
    done = run([postconf, "-c", str(root), "-x", *names])
    assert done.returncode == 0, done.stderr
    values = {}
    for line in done.stdout.split("\n")[:-1]:  # postconf ends lines at \n only
        name, _, value = line.partition(" =")
        values[name] = value.removeprefix(" ")
    return values


MAINS = {
    "defaults-follow-cert": """
        smtpd_tls_cert_file = /srv/rsa.pem
        smtpd_tls_eccert_file = /srv/ec.pem
        smtpd_tls_security_level = may
    """,
    "macros-and-continuation": """
        tls_dir = /srv
          # a comment line inside the continuation
          /tls
        base = ${tls_dir?{$tls_dir}:{/nowhere}}
        unset =
        smtpd_tls_cert_file = $(base)/${unset:fallback}.pem
        smtpd_tls_key_file = ${base}/${unset?never}key.pem
        smtp_tls_cert_file = $$literal/$base/client.pem
        smtp_tls_key_file = $smtpd_tls_key_file
        ec_dir = /srv/ec
        smtpd_use_tls = yes
    """,
    # Found by differential testing: `?` and `:` test a parameter's text as written.
    "conditions-test-the-text-as-written": """
        empty =
        hollow = $empty
        loop = $loop
        smtpd_tls_cert_file = /srv/${hollow?set}${hollow:unset}.pem
        smtpd_tls_key_file = /srv/${hollow?{Y}:{N}}${loop?/x}${loop:/never}.pem
    """,
    # Found by review: Postfix ends a line at \n only; str.splitlines also split at a form
    # feed (a setting hidden in a comment came alive) and at U+0085 (a value cut in two).
    "lines-end-at-newline-only": "smtpd_tls_cert_file = /srv/real.pem\n"
    "# note\x0csmtpd_tls_cert_file = /srv/hidden.pem\n"
    "smtpd_tls_key_file = /srv/a\x85b.pem\n",
    "chain-files": """
        smtpd_tls_chain_files = /srv/key.pem, /srv/chain.pem
          /srv/ec-key.pem /srv/ec-chain.pem
        smtpd_tls_cert_file = /srv/ignored.pem
        smtpd_tls_security_level = may
        lmtp_tls_cert_file = /srv/lmtp.pem
        smtpd_tls_cert_file = /srv/last-wins.pem
    """,
}


@pytest.mark.parametrize("case", MAINS)
def test_main_cf_values_agree_with_postconf(postconf: str, tmp_path: Path, case: str) -> None:
    """Each cert/key/chain parameter, fully expanded, is what `postconf -x` prints."""
    root = write(tmp_path, MAINS[case])
    config = postfix.read_config(str(root), ConfigFiles(), [])
    want = postconf_values(postconf, root, CERT_PARAMS)
    assert {name: config.value(name) for name in CERT_PARAMS} == want


@pytest.mark.parametrize("case", MAINS)
def test_master_overrides_agree_with_postconf(postconf: str, tmp_path: Path, case: str) -> None:
    """`postconf -P` lists exactly the -o overrides mailtls read, in all three spellings."""
    root = write(tmp_path, MAINS[case])
    done = run([postconf, "-c", str(root), "-P"])
    assert done.returncode == 0, done.stderr
    services = parse_master(MASTER, "master.cf", [])
    got = {f"{s.label}/{n} = {p.value}" for s in services for n, p in s.overrides.items()}
    assert got == set(done.stdout.splitlines())


def test_per_service_endpoints_and_the_moving_default_key(tmp_path: Path) -> None:
    """`-o smtpd_tls_cert_file=X` with no key override moves the key too (its default is
    $smtpd_tls_cert_file); the disabled 10025 service shares the global certificate."""
    root = write(tmp_path, MAINS["defaults-follow-cert"])
    result = postfix.read(str(root), ConfigFiles())
    rows = {(e.id, e.cert_file, e.key_file, e.enabled) for e in result.endpoints}
    assert rows == {
        ("postfix:global", "/srv/rsa.pem", "/srv/rsa.pem", True),
        ("postfix:global:ecdsa", "/srv/ec.pem", "/srv/ec.pem", True),
        ("postfix:master.cf submission/inet", "/srv/submission.pem", "/srv/submission.pem", True),
        ("postfix:master.cf submission/inet:ecdsa", "/srv/ec.pem", "/srv/ec.pem", True),
        ("postfix:master.cf submissions/inet", "/srv/rsa.pem", "/srv/rsa.pem", True),
        ("postfix:master.cf submissions/inet:ecdsa", "/ec.pem", "/ec.pem", True),
        ("postfix:master.cf relay/unix", "/srv/relay-client.pem", "/srv/relay-client.pem", False),
    }
    (glob,) = [e for e in result.endpoints if e.id == "postfix:global"]
    assert glob.services == ("smtp/inet", "127.0.0.1:10025/inet")


def test_chain_files_win_and_the_conflict_is_reported(tmp_path: Path) -> None:
    root = write(tmp_path, MAINS["chain-files"], master="")
    result = postfix.read(str(root), ConfigFiles())
    (server,) = [e for e in result.endpoints if e.scope == "global"]
    assert server.chain_files == (
        "/srv/key.pem",
        "/srv/chain.pem",
        "/srv/ec-key.pem",
        "/srv/ec-chain.pem",
    )
    assert server.cert_file is None
    assert [f.code for f in result.findings] == ["chain-files-conflict"]
    (lmtp,) = [e for e in result.endpoints if e.scope == "lmtp client"]
    assert (lmtp.cert_file, lmtp.key_file, lmtp.role) == (
        "/srv/lmtp.pem",
        "/srv/lmtp.pem",
        "client",
    )


@pytest.mark.parametrize(
    ("main", "master"),
    [
        ("smtpd_tls_cert_file /srv/x.pem\n", ""),
        ("a = $b\nb = $a\nsmtpd_tls_cert_file = $a\n", ""),
        ("smtpd_tls_cert_file = /x\n", "smtp inet n - y - PH_MAX smtpd\n"),
        ("smtpd_tls_cert_file = /x\n", "smtp inet n - y -\n"),
    ],
    ids=["no-equals", "macro-loop", "bad-maxproc", "short-entry"],
)
def test_configs_postconf_rejects_are_rejected(
    postconf: str, tmp_path: Path, main: str, master: str
) -> None:
    root = write(tmp_path, main, master)
    assert run([postconf, "-c", str(root), "-x", "smtpd_tls_cert_file"]).returncode != 0
    with pytest.raises(ConfigError):
        postfix.read(str(root), ConfigFiles()).endpoints[0].cert_file  # noqa: B018


def test_sni_map_entries_and_a_stale_index(tmp_path: Path) -> None:
    """One endpoint per key of the map's source; an index older than a file it names is stale."""
    (tmp_path / "sni").write_text(
        "# SNI\nexample.org /srv/org-key.pem /srv/org.pem\n.example.net  /srv/net.pem,\n  /srv/net-ca.pem\n"
    )
    index = tmp_path / "sni.db"
    index.write_bytes(b"built by postmap -F")
    old = time.time() - 3600
    os.utime(tmp_path / "sni", (old, old))
    cert = tmp_path / "org.pem"
    cert.write_text("renewed after postmap ran")
    (tmp_path / "sni").write_text((tmp_path / "sni").read_text().replace("/srv/org.pem", str(cert)))
    os.utime(tmp_path / "sni", (old, old))
    os.utime(index, (old + 10, old + 10))
    root = write(
        tmp_path, f"tls_server_sni_maps = hash:{tmp_path}/sni\nsmtpd_tls_security_level = may\n", ""
    )
    result = postfix.read(str(root), ConfigFiles())
    assert [(e.id, e.chain_files, e.names) for e in result.endpoints] == [
        ("postfix:sni example.org", ("/srv/org-key.pem", str(cert)), ("example.org",)),
        ("postfix:sni .example.net", ("/srv/net.pem", "/srv/net-ca.pem"), (".example.net",)),
    ]
    # No default certificate besides the map: Postfix needs one, and mailtls says so.
    assert sorted(f.code for f in result.findings) == ["no-certificate", "sni-map-stale"]
    (stale,) = [f for f in result.findings if f.code == "sni-map-stale"]
    assert str(cert) in stale.message


def test_sni_map_fresh_index_is_silent(tmp_path: Path) -> None:
    (tmp_path / "sni").write_text("example.org /srv/org.pem\n")
    (tmp_path / "sni.db").write_bytes(b"index")
    root = write(tmp_path, f"tls_server_sni_maps = hash:{tmp_path}/sni\n", "")
    result = postfix.read(str(root), ConfigFiles())
    assert result.findings == ()
    assert len(result.endpoints) == 1


NAMES = st.sampled_from(["a", "b", "c", "empty", "hollow"])
TOKENS = st.one_of(
    st.sampled_from(["x", "/", " ", "$$", "-", ".pem"]),
    NAMES.map(lambda n: f"${n}"),
    NAMES.map(lambda n: f"${{{n}}}"),
    NAMES.map(lambda n: f"$({n})"),
    st.tuples(NAMES, st.sampled_from("?:"), st.sampled_from(["y", "/z", ""])).map(
        lambda t: f"${{{t[0]}{t[1]}{t[2]}}}"
    ),
    st.tuples(NAMES, st.sampled_from(["p", ""]), st.sampled_from(["q", ""])).map(
        lambda t: f"${{{t[0]}?{{{t[1]}}}:{{{t[2]}}}}}"
    ),
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(expressions=st.lists(st.lists(TOKENS, max_size=6).map("".join), min_size=1, max_size=8))
def test_expansion_agrees_with_postconf(
    postconf: str, tmp_path_factory: pytest.TempPathFactory, expressions: list[str]
) -> None:
    """Random macro expressions: mailtls' mac_expand gives what postconf -x gives."""
    root = tmp_path_factory.mktemp("expand")
    params = {"a": "/srv", "b": "$a/tls", "c": "${b?{$b}:{none}}", "empty": "", "hollow": "$empty"}
    lines = [HOST.strip()] + [f"{k} = {v}" for k, v in params.items()]
    lines += [f"p{i} = {e}" for i, e in enumerate(expressions)]
    # One known parameter carries every expression, each behind an @@N marker: asking postconf
    # for a known parameter takes milliseconds, for user-defined ones seconds.
    markers = " ".join(f"@@{i} $p{i}" for i in range(len(expressions)))
    lines.append(f"smtpd_banner = {markers} @@ $a$b$c$empty")
    (root / "main.cf").write_text("\n".join(lines) + "\n")
    (root / "master.cf").write_text("")
    settle(root / "main.cf", root / "master.cf")
    done = run([postconf, "-c", str(root), "-xh", "smtpd_banner"])
    assert done.returncode == 0, done.stderr
    parts = re.split(r"@@\d*", done.stdout.rstrip("\n"))[1:-1]
    said = {f"p{i}": part.strip() for i, part in enumerate(parts)}
    lookup = {**params, **{f"p{i}": e for i, e in enumerate(expressions)}}.get
    for i, expression in enumerate(expressions):
        # postconf prints runs of white space as one (its output folding); Postfix does not.
        mine = " ".join(expand(expression, lookup).split())
        assert mine == said.get(f"p{i}", ""), expression


PIPES = """\
smtp      inet  n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=may
spamassassin unix -     n       n       -       -       pipe
  flags=Rq user=debian-spamd argv=/usr/sbin/sendmail -oi -f ${sender} ${recipient}
amavis unix -   -       n       -       2       smtp
  -o smtp_data_done_timeout=1200 -v -vo smtp_tls_security_level=none
  -o { smtp_tls_cert_file = /srv/x y.pem } -- -o smtp_tls_key_file=/late
dovecot   unix  -       n       n       -       -       pipe
  flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/deliver -d ${recipient} -o x
"""


def test_options_end_at_the_first_word_that_is_not_one(postconf: str, tmp_path: Path) -> None:
    """A pipe command's own `-oi` is not a master.cf override (the daemon's getopt stops at
    `flags=`), `-vo` is `-v -o`, and `--` ends the options: as `postconf -P` lists them."""
    root = write(tmp_path, "", PIPES)
    done = run([postconf, "-c", str(root), "-P"])
    assert done.returncode == 0, done.stderr
    services = parse_master(PIPES, "master.cf", [])
    got = {f"{s.label}/{n} = {p.value}" for s in services for n, p in s.overrides.items()}
    assert got == set(done.stdout.splitlines())
    assert len(got) == 4
    (amavis,) = [e for e in postfix.read(str(root), ConfigFiles()).endpoints if "amavis" in e.id]
    assert (amavis.cert_file, amavis.enabled) == ("/srv/x y.pem", False)


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("-o { smtpd_tls_cert_file = /srv/x.pem", "missing '}'"),
        ("-o { smtpd_tls_cert_file = {/srv/x.pem }", "missing '}'"),
        ("-o {smtpd_tls_cert_file=/srv/x.pem}x", "syntax error after '}'"),
    ],
    ids=["unclosed", "inner-brace-unclosed", "text-after-brace"],
)
def test_braces_postconf_warns_about_stop_mailtls(
    postconf: str, tmp_path: Path, option: str, problem: str
) -> None:
    """postconf warns and guesses a value; mailtls does not guess (found by differential
    testing: `-o { a = {b }` ends with `}`, but that brace closes `{b`)."""
    root = write(tmp_path, "", f"smtp inet n - n - - smtpd\n  {option}\n")
    done = run([postconf, "-c", str(root), "-P"])
    assert f"warning: master.cf: {problem} in" in done.stderr
    with pytest.raises(ConfigError, match=re.escape(problem)):
        postfix.read(str(root), ConfigFiles())


@pytest.fixture(scope="session")
def postmap() -> str:
    return need_binary("postmap")


INLINE = (
    "inline:{ {mail.example.org = /srv/org-key.pem /srv/org.pem}, .Example.NET=/srv/net.pem,"
    "\n  { imap.example.com = /srv/com.pem, /srv/com-ca.pem } }"
)


def test_inline_sni_map_and_a_list_split_as_postfix_splits_it(
    postconf: str, postmap: str, tmp_path: Path
) -> None:
    """`hash:sni, inline:{ {k = a b}, k=a, ... }`: braces group, so the commas inside the inline
    table do not split the list; each key gets the files `postmap -q` gives for it."""
    (tmp_path / "sni").write_text("example.org /srv/org.pem\n")
    (tmp_path / "sni.db").write_bytes(b"index")
    main = f"tls_server_sni_maps = hash:{tmp_path}/sni, {INLINE}\nsmtpd_tls_cert_file = /c\n"
    root = write(tmp_path, main, "")
    spec = postconf_values(postconf, root, ["tls_server_sni_maps"])["tls_server_sni_maps"]
    inline = spec[spec.index("inline:") :]
    result = postfix.read(str(root), ConfigFiles())
    sni = [e for e in result.endpoints if e.scope.startswith("sni ")]
    assert [e.names for e in sni] == [
        ("example.org",),
        ("mail.example.org",),
        (".example.net",),
        ("imap.example.com",),
    ]
    for endpoint in sni[1:]:
        done = run([postmap, "-q", endpoint.names[0], inline])
        assert done.returncode == 0, done.stderr
        assert endpoint.chain_files == tuple(done.stdout.replace(",", " ").split())
        assert endpoint.sni_table == ""  # read when Postfix opens it: no postmap -F to run
    assert result.findings == ()


@pytest.mark.parametrize(
    "table",
    [
        "inline:{ mail.example.org = /srv/k.pem /srv/c.pem, b.example.org = /srv/b.pem }",
        "inline:{ a=/x",
        "inline:{ }",
        "inline:{ {a=/x}b }",
    ],
    ids=["spaces-without-braces", "unclosed", "empty", "text-after-brace"],
)
def test_inline_tables_postfix_cannot_open_are_rejected(
    postmap: str, tmp_path: Path, table: str
) -> None:
    """What postmap refuses to open, the daemon cannot use: exit 2 with postmap's reason."""
    done = run([postmap, "-q", "a", table])
    assert done.returncode != 0
    reason = done.stderr.split("fatal: ")[1].split(":")[0]
    root = write(tmp_path, f"tls_server_sni_maps = {table}\nsmtpd_tls_cert_file = /c\n", "")
    with pytest.raises(ConfigError, match=re.escape(reason)):
        postfix.read(str(root), ConfigFiles())


def test_ca_file_per_service_after_overrides_and_expansion(postconf: str, tmp_path: Path) -> None:
    """Each endpoint's ca_file is the smtpd_tls_CAfile that service sees (`postconf -x`,
    `postconf -Px`): a service with its own CA file gets its own endpoint, since OpenSSL
    completes a leaf-only chain from it; postscreen's tlsproxy follows smtpd's."""
    master = (
        "smtp inet n - y - 1 postscreen\n"
        "smtpd pass - - y - - smtpd\n"
        "submission inet n - y - - smtpd\n"
        "  -o smtpd_tls_CAfile=${ca_dir}/sub.pem -o smtpd_tls_security_level=encrypt\n"
        "relay unix - - y - - smtp -o smtp_tls_CAfile=relay-ca.pem\n"
    )
    main = (
        "ca_dir = /srv/ca\nsmtpd_tls_CAfile = $ca_dir/main.pem\n"
        "smtpd_tls_cert_file = /srv/leaf.pem\nsmtpd_tls_security_level = may\n"
        "smtp_tls_cert_file = /srv/client.pem\n"
        "tls_server_sni_maps = inline:{ {mail.example.org = /srv/k.pem /srv/c.pem} }\n"
    )
    root = write(tmp_path, main, master)
    main_values = postconf_values(postconf, root, ["smtpd_tls_CAfile", "smtp_tls_CAfile"])
    per_service = run([postconf, "-c", str(root), "-Px"]).stdout.splitlines()
    overrides = dict(line.split(" = ", 1) for line in per_service if "_CAfile" in line)
    endpoints = postfix.read(str(root), ConfigFiles()).endpoints
    assert {e.id: e.ca_file for e in endpoints} == {
        "postfix:global": main_values["smtpd_tls_CAfile"],
        "postfix:master.cf submission/inet": overrides["submission/inet/smtpd_tls_CAfile"],
        "postfix:smtp client": main_values["smtp_tls_CAfile"] or None,
        # relative: against the configuration folder, as mailtls reads every Postfix path
        "postfix:master.cf relay/unix": f"{root}/{overrides['relay/unix/smtp_tls_CAfile']}",
        "postfix:sni mail.example.org": main_values["smtpd_tls_CAfile"],
    }
    (glob,) = [e for e in endpoints if e.scope == "global"]
    assert glob.services == ("smtpd/pass", "smtp/inet")


@pytest.mark.parametrize("kind", ["hash", "texthash"])
def test_a_key_given_twice_in_a_map_serves_the_first(
    postmap: str, tmp_path: Path, kind: str
) -> None:
    """Found by differential testing: postmap warns `duplicate entry` and keeps the first
    value, texthash too; mailtls checked both, as two endpoints of one name."""
    sni = tmp_path / "sni"
    sni.write_text("mail.example.org /srv/first.pem\nMail.Example.ORG /srv/second.pem\n")
    settle(sni)
    if kind == "hash":
        assert run([postmap, f"hash:{sni}"]).returncode == 0
    said = run([postmap, "-q", "mail.example.org", f"{kind}:{sni}"]).stdout.split()
    assert said == ["/srv/first.pem"]
    (tmp_path / "etc").mkdir()
    root = write(tmp_path / "etc", f"tls_server_sni_maps = {kind}:{sni}\n", "")
    served = [e for e in postfix.read(str(root), ConfigFiles()).endpoints if e.sni_table]
    assert [(e.names, e.chain_files) for e in served] == [(("mail.example.org",), tuple(said))]
