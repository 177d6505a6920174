"""Each reader behaviour the corpus covers, on a small tree of its own under fixtures/etc/.

The trees are hand-written and trimmed after the corpus' files (named in each tree's
comments), so the suite stands alone without ../shared/corpus. Dovecot 2.3 and Postfix trees
are checked against the real `doveconf` (2.3) and `postconf`/`postmap` run on the same tree at
test time. No Dovecot 2.4 binary is installed here: the 2.4 trees are checked against expected
values written below, taken from what doveconf 2.4.1 printed for the corpus files they trim
(`_tool-output/doveconf24-*.txt`).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from mailtls.config import dovecot, postfix
from mailtls.config.discover import read_all
from mailtls.config.postfix_syntax import parse_master
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from mailtls.models import Endpoint
from tests.conftest import FIXTURES, ROOT, run

ETC = FIXTURES / "etc"

# (case, the file mailtls and doveconf are given)
DOVECOT23 = [
    ("dovecot23-debian-default", "dovecot/dovecot.conf"),
    ("dovecot23-no-spaces-required", "dovecot/conf.d/10-ssl.conf"),
    ("dovecot23-conf-d-fragment", "dovecot/10-ssl.conf"),
    ("dovecot23-sni-include-try", "dovecot/dovecot.conf"),
    ("dovecot23-ssl-without-cert", "dovecot/dovecot.conf"),
    ("dovecot23-include-dir-required", "dovecot/dovecot.conf"),
    ("dovecot-include-try-absolute-keys", "dovecot/conf.d-2.3/10-ssl.conf"),
    ("dovecot-include-try-absolute-keys", "dovecot/conf.d-2.3/10-ssl-keys.try"),
    # The 2.4 10-ssl.conf uses only settings 2.3 knows too: doveconf 2.3 reads it the same.
    ("dovecot-include-try-absolute-keys", "dovecot/conf.d-2.4/10-ssl.conf"),
]

# (case, file) -> (cert_file, key_file) as doveconf 2.4.1 printed them in `ssl_server { }`
DOVECOT24 = {
    ("dovecot24-debian-default", "dovecot/dovecot.conf"):  # doveconf24-debian-trixie.txt
        ("/etc/dovecot/private/dovecot.pem", "/etc/dovecot/private/dovecot.key"),
    ("dovecot24-fragment-without-version", "dovecot/10-ssl.conf"):  # doveconf24-docker-mailserver.txt
        ("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key"),
    ("dovecot24-named-blocks-required", "dovecot/dovecot.conf"):  # doveconf24-iRedMail-rendered.txt
        ("/etc/ssl/certs/iRedMail.crt", "/etc/ssl/private/iRedMail.key"),
    ("dovecot-include-try-absolute-keys", "dovecot/conf.d-2.4/10-ssl-keys.try"):  # doveconf24-modoboa-rendered.txt
        ("/etc/letsencrypt/live/mail.example.com/fullchain.pem",
         "/etc/letsencrypt/live/mail.example.com/privkey.pem"),
}  # fmt: skip

POSTFIX = [
    "postfix-debian-default",
    "postfix-no-tls-builtin-defaults",
    "postfix-no-spaces-commented",
    "postfix-chain-files-postscreen",
    "postfix-sni-map-missing",
    "postfix-sni-map-not-built",
    "postfix-master-overrides",
    "postfix-use-tls-config-directory",
]

POSTFIX_PARAMS = [
    "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_eccert_file", "smtpd_tls_eckey_file",
    "smtpd_tls_chain_files", "smtp_tls_cert_file", "smtp_tls_key_file", "lmtp_tls_cert_file",
    "lmtp_tls_key_file", "tls_server_sni_maps", "smtpd_tls_security_level", "smtpd_use_tls",
    "smtp_tls_security_level", "smtpd_tls_dh1024_param_file", "smtpd_tls_CAfile",
]  # fmt: skip

REJECTED = ["dovecot23-jinja-template-rejected", "postfix-jinja-template-rejected",
            "postfix-placeholder-master-rejected"]  # fmt: skip


# --- Dovecot -------------------------------------------------------------------------------


def doveconf_says(doveconf: str, conf: Path, setting: str, filters: list[str]) -> str:
    """`doveconf -h` of one setting under these filters (no -x: the files need not exist)."""
    args = [doveconf, "-c", str(conf)]
    for item in filters:
        args += ["-f", item]
    done = run([*args, "-h", setting])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def filters_of(endpoint: Endpoint) -> list[str]:
    """The doveconf filters of an endpoint; these trees use only global and local_name scopes."""
    if endpoint.scope == "global":
        return []
    assert endpoint.scope.startswith("local_name ") and len(endpoint.names) == 1, endpoint.id
    return [f"lname={endpoint.names[0]}"]


@pytest.mark.parametrize(("case", "conf"), DOVECOT23, ids=[f"{c}/{f}" for c, f in DOVECOT23])
def test_dovecot23_tree_agrees_with_doveconf(doveconf: str, case: str, conf: str) -> None:
    """Each endpoint's cert, key and ssl switch are what doveconf gives under its filters, the
    local_name blocks are the ones doveconf lists, and a missing certificate is said."""
    path = ETC / case / conf
    result = dovecot.read(str(path), ConfigFiles(), {})
    assert dovecot.read_config(str(path), ConfigFiles(), {}).version == "2.3"
    for endpoint in result.endpoints:
        filters = filters_of(endpoint)
        setting = "ssl_alt" if endpoint.slot == "alt" else "ssl"
        cert = doveconf_says(doveconf, path, f"{setting}_cert", filters).removeprefix("<")
        key = doveconf_says(doveconf, path, f"{setting}_key", filters).removeprefix("<")
        assert (endpoint.cert_file, endpoint.key_file) == (cert or None, key or None), endpoint.id
        assert endpoint.enabled == (doveconf_says(doveconf, path, "ssl", filters) != "no")
    listed = re.findall(
        r"^local_name (.+) \{$", run([doveconf, "-c", str(path), "-n"]).stdout, re.M
    )
    assert sorted(n for e in result.endpoints for n in e.names) == sorted(listed)
    has_alt = bool(doveconf_says(doveconf, path, "ssl_alt_cert", []))
    assert any(e.slot == "alt" for e in result.endpoints) == has_alt
    no_cert = not doveconf_says(doveconf, path, "ssl_cert", [])
    assert [f.code for f in result.findings] == (["no-certificate"] if no_cert else [])


def test_dovecot23_sni_blocks_from_an_included_file(doveconf: str) -> None:
    """mailcow's entrypoint writes local_name blocks into sni.conf (!include_try): one endpoint
    per name, beside the global pair set after the service blocks."""
    path = ETC / "dovecot23-sni-include-try/dovecot/dovecot.conf"
    result = dovecot.read(str(path), ConfigFiles(), {})
    assert [(e.scope, e.cert_file) for e in result.endpoints] == [
        ("global", "/etc/ssl/mail/cert.pem"),
        ("local_name mail.example.org", "/etc/ssl/mail/example.org/cert.pem"),
        ("local_name imap.example.org", "/etc/ssl/mail/example.org/cert.pem"),
        ("local_name mail.example.net", "/etc/ssl/mail/example.net/cert.pem"),
    ]
    assert doveconf_says(doveconf, path, "ssl_cert", ["lname=imap.example.org"]) == (
        "</etc/ssl/mail/example.org/cert.pem"
    )


@pytest.mark.parametrize(("case", "conf"), DOVECOT24, ids=[f"{c}/{f}" for c, f in DOVECOT24])
def test_dovecot24_tree_gives_what_doveconf24_printed(doveconf: str, case: str, conf: str) -> None:
    """Read as 2.4 (from its version line, or from 2.4 setting names in a fragment), the global
    pair is what doveconf 2.4.1 printed for the corpus file; doveconf 2.3 rejects the tree."""
    path = ETC / case / conf
    result = dovecot.read(str(path), ConfigFiles(), {})
    assert dovecot.read_config(str(path), ConfigFiles(), {}).version == "2.4"
    (endpoint,) = result.endpoints
    assert (endpoint.scope, endpoint.slot, endpoint.enabled) == ("global", "main", True)
    assert (endpoint.cert_file, endpoint.key_file) == DOVECOT24[(case, conf)]
    assert result.findings == ()
    done = run([doveconf, "-c", str(path), "-n"])
    assert done.returncode != 0
    assert "Unknown setting: " in done.stderr


# --- Postfix -------------------------------------------------------------------------------


def copy_case(case: str, tmp_path: Path) -> Path:
    """The case's postfix/ folder, copied and dated a minute back: postconf re-reads a file
    changed within the last second, sleeping between rounds (see test_postfix_oracle.settle)."""
    target = tmp_path / case
    shutil.copytree(ETC / case, target)
    past = time.time() - 60
    for path in target.rglob("*"):
        os.utime(path, (past, past))
    return target / "postfix"


def postconf_lines(postconf: str, folder: Path, *args: str) -> dict[str, str]:
    done = run([postconf, "-c", str(folder), *args])
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr, done.stderr
    values = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(" =")
        values[name] = value.removeprefix(" ")
    return values


@pytest.mark.parametrize("case", POSTFIX)
def test_postfix_parameters_agree_with_postconf(postconf: str, tmp_path: Path, case: str) -> None:
    """Every TLS file parameter, expanded (built-in defaults, $var, ${config_directory}), is what
    `postconf -x` prints; every -o override, as each service sees it, is what `postconf -Px`
    prints."""
    folder = copy_case(case, tmp_path)
    config = postfix.read_config(str(folder), ConfigFiles(), [])
    said = postconf_lines(postconf, folder, "-x", *POSTFIX_PARAMS)
    assert {name: config.value(name) for name in POSTFIX_PARAMS} == said
    overrides = postconf_lines(postconf, folder, "-Px")
    mine = {
        f"{service.label}/{name}": config.value(name, service)
        for service in config.services
        for name in service.overrides
    }
    assert mine == overrides


@pytest.mark.parametrize("case", POSTFIX)
def test_postfix_master_overrides_agree_with_postconf(
    postconf: str, tmp_path: Path, case: str
) -> None:
    """`postconf -P` lists exactly the master.cf -o overrides mailtls read, unexpanded."""
    folder = copy_case(case, tmp_path)
    master = folder / "master.cf"
    services = parse_master(master.read_text(), str(master), [])
    got = {f"{s.label}/{n}": p.value for s in services for n, p in s.overrides.items()}
    assert got == postconf_lines(postconf, folder, "-P")


ServerFiles = tuple[str, str | None, str | None, tuple[str, ...]]


def expected_server_files(
    main: dict[str, str], overrides: dict[str, str], label: str
) -> ServerFiles:
    """What smtpd loads for a service: its -o values over main.cf's. Every tree here sets the key
    beside the cert in main.cf, so no default moves with an overridden cert."""

    def value(name: str) -> str:
        return overrides.get(f"{label}/{name}", main[name]) if label else main[name]

    chain = tuple(re.split(r"[\s,]+", value("smtpd_tls_chain_files").strip()))
    if chain != ("",):
        return ("chain", None, None, chain)
    return ("main", value("smtpd_tls_cert_file"), value("smtpd_tls_key_file"), ())


@pytest.mark.parametrize("case", POSTFIX)
def test_postfix_endpoints_agree_with_postconf(postconf: str, tmp_path: Path, case: str) -> None:
    """The global server pair (or chain files), each service's own files and the client
    certificate are the files `postconf -x` / `-Px` resolve."""
    folder = copy_case(case, tmp_path)
    main = postconf_lines(postconf, folder, "-x", *POSTFIX_PARAMS)
    overrides = postconf_lines(postconf, folder, "-Px")
    result = postfix.read(str(folder), ConfigFiles())
    servers = [e for e in result.endpoints if e.role == "server" and not e.scope.startswith("sni ")]
    server = {
        e.scope.removeprefix("master.cf "): (e.slot, e.cert_file, e.key_file, e.chain_files)
        for e in servers
    }
    assert len(server) == len(servers)  # one endpoint per scope: no ECDSA pair in these trees
    file_params = ("smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_chain_files")
    labels = {key.rsplit("/", 1)[0] for key in overrides if key.endswith(file_params)}
    want = {label: expected_server_files(main, overrides, label) for label in labels}
    if main["smtpd_tls_cert_file"] or main["smtpd_tls_chain_files"]:
        want["global"] = expected_server_files(main, overrides, "")
    assert server == want
    client = [(e.cert_file, e.key_file) for e in result.endpoints if e.scope == "smtp client"]
    pair = (main["smtp_tls_cert_file"], main["smtp_tls_key_file"])
    assert client == ([pair] if pair[0] else [])


def test_postfix_without_tls_lines_has_no_endpoint(tmp_path: Path) -> None:
    """Debian 12 installed without ssl-cert: every TLS parameter at its built-in default, so
    Postfix serves no certificate and mailtls finds nothing to audit."""
    result = postfix.read(
        str(copy_case("postfix-no-tls-builtin-defaults", tmp_path)), ConfigFiles()
    )
    assert (result.endpoints, result.findings) == ((), ())


def test_postfix_per_service_files_and_disabled_reinjection(tmp_path: Path) -> None:
    """-o cert overrides give a service its own endpoint (`$service_name` is the entry's name);
    TLS off on 10025 leaves its files unloaded (disabled), and its port is no listener."""
    folder = copy_case("postfix-master-overrides", tmp_path)
    result = postfix.read(str(folder), ConfigFiles())
    assert {e.scope: e.enabled for e in result.endpoints} == {
        "global": True,
        "master.cf submission/inet": True,
        "master.cf 465/inet": True,
        "master.cf 2587/inet": True,
        "master.cf 127.0.0.1:10025/inet": False,
        "master.cf 10587/inet": True,
    }
    (own_name,) = [e for e in result.endpoints if e.scope == "master.cf 10587/inet"]
    assert own_name.cert_file == "/etc/ssl/certs/10587.pem"  # $service_name
    ports = [(x.label, x.port, x.starttls) for x in read_all([str(folder)], {}).listeners]
    assert ports == [
        ("smtp/inet", 25, "smtp"),
        ("submission/inet", 587, "smtp"),
        ("465/inet", 465, None),
        ("2587/inet", 2587, "smtp"),
        ("10587/inet", 10587, "smtp"),
    ]


def test_postfix_postscreen_hands_port_25_to_tlsproxy(tmp_path: Path) -> None:
    """docker-mailserver: port 25 is postscreen (STARTTLS through tlsproxy with smtpd's files),
    587 STARTTLS, 465 wrapper mode; the one chain_files list serves all three."""
    folder = copy_case("postfix-chain-files-postscreen", tmp_path)
    found = read_all([str(folder)], {})
    assert [(x.label, x.port, x.starttls) for x in found.listeners] == [
        ("smtp/inet", 25, "smtp"),
        ("submission/inet", 587, "smtp"),
        ("submissions/inet", 465, None),
    ]
    (server,) = found.endpoints
    assert set(server.services) == {
        "smtp/inet",
        "smtpd/pass",
        "submission/inet",
        "submissions/inet",
    }


def test_postfix_sni_map_missing(postconf: str, tmp_path: Path) -> None:
    """mailcow's sni.map is written at container start: absent here, and said as an error at
    the path postconf expands `hash:${config_directory}/sni.map` to."""
    folder = copy_case("postfix-sni-map-missing", tmp_path)
    table = postconf_lines(postconf, folder, "-xh", "tls_server_sni_maps")
    result = postfix.read(str(folder), ConfigFiles())
    assert [(f.code, f"hash:{f.path}") for f in result.findings] == [
        ("sni-map-missing", *table.keys())
    ]


def test_postfix_sni_map_not_built(postconf: str, tmp_path: Path) -> None:
    """The map's source is there but `postmap -F` never ran: Postfix cannot open the index (as
    postmap -q shows), mailtls says so, and reads one endpoint per entry of the source, with
    the files `postmap -s texthash:` gives for it."""
    postmap = os.path.join(os.path.dirname(postconf), "postmap")
    folder = copy_case("postfix-sni-map-not-built", tmp_path)
    source = folder / "sni.map"
    result = postfix.read(str(folder), ConfigFiles())
    assert [(f.code, f.path) for f in result.findings] == [("sni-map-not-built", f"{source}.db")]
    lookup = run([postmap, "-q", "mail.example.net", f"hash:{source}"])
    assert lookup.returncode != 0
    assert "No such file" in lookup.stderr
    dump = run([postmap, "-s", f"texthash:{source}"])
    assert dump.returncode == 0, dump.stderr
    want = {
        key: tuple(value.split())
        for key, value in (x.split("\t") for x in dump.stdout.splitlines())
    }
    sni = {e.names[0]: e.chain_files for e in result.endpoints if e.scope.startswith("sni ")}
    assert sni == want


# --- Configurations the daemons reject ----------------------------------------------------


def test_dovecot_jinja_template_is_rejected_at_doveconfs_line(doveconf: str) -> None:
    """Mailu's raw template: doveconf stops at the `{%- if %}` line, and so does mailtls."""
    path = ETC / "dovecot23-jinja-template-rejected/dovecot/dovecot.conf"
    done = run([doveconf, "-c", str(path), "-n"])
    assert done.returncode != 0
    (line,) = re.findall(r" line (\d+): ", done.stderr)
    with pytest.raises(ConfigError, match=rf"dovecot\.conf:{line}: expecting"):
        dovecot.read(str(path), ConfigFiles(), {})


@pytest.mark.parametrize(
    ("case", "postconf_says", "mailtls_says"),
    [
        ("postfix-jinja-template-rejected", r"line (\d+): missing '=' after attribute name",
         r"main\.cf, line {}: missing '=' after attribute name"),
        ("postfix-placeholder-master-rejected", r"invalid process_limit field \"(PH_\w+)\"",
         r"master\.cf:\d+: bad process limit field: '{}'"),
    ],
    ids=["jinja-main-cf", "placeholder-master-cf"],
)  # fmt: skip
def test_postfix_rejects_what_postconf_rejects(
    postconf: str, tmp_path: Path, case: str, postconf_says: str, mailtls_says: str
) -> None:
    """Mailu's Jinja main.cf and iRedMail's unrendered master.cf: postconf exits fatally, and
    mailtls stops with the same place named."""
    folder = copy_case(case, tmp_path)
    done = run([postconf, "-c", str(folder), "-xh", "smtpd_tls_cert_file"])
    assert done.returncode != 0
    (where,) = re.findall(postconf_says, done.stderr)
    with pytest.raises(ConfigError, match=mailtls_says.format(where)):
        postfix.read(str(folder), ConfigFiles())


# --- No fixture rots -----------------------------------------------------------------------


def test_every_etc_fixture_is_used_by_a_test() -> None:
    """Each folder under fixtures/etc/ is named in some test file, so none is left behind."""
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    unused = [case.name for case in sorted(ETC.iterdir()) if case.name not in tests]
    assert unused == []


def test_the_cases_above_cover_every_tree_here() -> None:
    """Every dovecot23-/dovecot24-/dovecot-/postfix- tree has a case in this file (the
    readers-* trees belong to another test file)."""
    mine = {c for c, _ in DOVECOT23} | {c for c, _ in DOVECOT24} | set(POSTFIX) | set(REJECTED)
    here = {p.name for p in ETC.iterdir() if p.name.startswith(("dovecot", "postfix"))}
    assert here == mine
