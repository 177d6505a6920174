"""Every configuration in ../shared/corpus: mailtls finds what the real doveconf/postconf resolved.

The expected values are read from the corpus' own `_tool-output/` files, written by doveconf
2.3.19.1 / 2.4.1 and postconf 3.7.11 / 3.10.13: mailtls must agree with them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from mailtls.config import dovecot, postfix
from mailtls.config.discover import read_all
from mailtls.config.postfix_syntax import parse_master
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError

# (config file or folder in the corpus, doveconf output file)
DOVECOT_CASES = [
    ("debian-bookworm/etc/dovecot/dovecot.conf", "doveconf23-debian-bookworm.txt"),
    ("docker-mailserver@v15.1.0/target/dovecot/10-ssl.conf", "doveconf23-docker-mailserver@v15.1.0.txt"),
    ("iRedMail/rendered-example-debian/etc/dovecot/dovecot.conf", "doveconf23-iRedMail-rendered.txt"),
    ("mail-in-a-box/rendered-example/etc/dovecot/conf.d/10-ssl.conf", "doveconf23-mail-in-a-box-rendered.txt"),
    ("mailcow-dockerized/data/conf/dovecot/dovecot.conf", "doveconf23-mailcow-dockerized.txt"),
    # 10-ssl.conf pulls this in with an absolute `!include_try /etc/dovecot/conf.d/...`: read it directly.
    ("modoboa-installer/rendered-example-letsencrypt/etc/dovecot/conf.d-2.3/10-ssl-keys.try", "doveconf23-modoboa-rendered.txt"),
    ("debian-trixie/etc/dovecot/dovecot.conf", "doveconf24-debian-trixie.txt"),
    ("docker-mailserver/target/dovecot/10-ssl.conf", "doveconf24-docker-mailserver.txt"),
    ("iRedMail/rendered-example-debian/etc/dovecot/dovecot-2.4-mariadb.conf", "doveconf24-iRedMail-rendered.txt"),
    ("modoboa-installer/rendered-example-letsencrypt/etc/dovecot/conf.d-2.4/10-ssl-keys.try", "doveconf24-modoboa-rendered.txt"),
]  # fmt: skip

POSTFIX_CASES = [
    ("debian-trixie/etc/postfix", "postconf-deb13.txt"),
    ("docker-mailserver/target/postfix", "postconf-docker-mailserver.txt"),
    ("docker-mailserver@v15.1.0/target/postfix", "postconf-docker-mailserver@v15.1.0.txt"),
    ("iRedMail/rendered-example-debian/etc/postfix", "postconf-iredpf.txt"),
    ("mailcow-dockerized/data/conf/postfix", "postconf-mailcow.txt"),
    ("mail-in-a-box/rendered-example/etc/postfix", "postconf-miabpf.txt"),
    ("modoboa-installer/rendered-example-letsencrypt/etc/postfix", "postconf-modopf.txt"),
]


def doveconf_says(text: str) -> tuple[str | None, str | None]:
    """(cert, key) from `doveconf -n -P` output of 2.3 (`ssl_cert = <x`) or 2.4 (`ssl_server {`)."""
    cert = re.search(r"^(?:ssl_cert = <|  cert_file = )(.+)$", text, re.M)
    key = re.search(r"^(?:ssl_key = <|  key_file = )(.+)$", text, re.M)
    return (cert.group(1) if cert else None, key.group(1) if key else None)


def postconf_says(text: str) -> dict[str, str]:
    """`name = value` lines of a postconf output, before its `## -P` part."""
    main_part = text.split("## -P")[0]
    return dict(re.findall(r"^(\w+) = ?(.*)$", main_part, re.M))


# Absolute `!include`s of files the installation makes beside the configuration (mailcow's
# compose file mounts them): absent on this machine, where Dovecot would stop on them.
ABSENT_HERE = {
    "mailcow-dockerized/data/conf/dovecot/dovecot.conf": "/etc/dovecot/dovecot.folders.conf",
}


# iRedMail's rendered example keeps its listeners' PH_*_PORT, on which Dovecot (and so
# mailtls) stops: "Invalid port number". Rendered here with iRedMail's own values.
UNRENDERED = {
    "PH_LMTP_BIND_PORT": "24",
    "PH_DOVECOT_SERVICE_STATS_PORT": "24242",
    "PH_DOVECOT_SERVICE_QUOTA_STATUS_PORT": "12340",
    "PH_MANAGESIEVE_BIND_PORT": "4190",
}


def installed_copy(corpus: Path, config: str, tmp_path: Path) -> Path:
    """The configuration, or a copy of its folder where each absent include is `!include_try`,
    as on a host that has those files, and the placeholders left are rendered."""
    absent = ABSENT_HERE.get(config)
    text = (corpus / config).read_text()
    if absent is None and not any(name in text for name in UNRENDERED):
        return corpus / config
    copy = tmp_path / "copy"
    shutil.copytree((corpus / config).parent, copy)
    conf = copy / Path(config).name
    if absent is not None:
        text = text.replace(f"!include {absent}", f"!include_try {absent}")
    conf.write_text(render(text))
    return conf


def render(text: str) -> str:
    for placeholder, value in UNRENDERED.items():
        text = text.replace(placeholder, value)
    return text


@pytest.mark.parametrize("config", ABSENT_HERE)
def test_an_include_absent_here_stops_dovecot_and_mailtls(corpus: Path, config: str) -> None:
    with pytest.raises(ConfigError, match=f"!include {ABSENT_HERE[config]}: No matches"):
        dovecot.read(str(corpus / config), ConfigFiles(), {})


@pytest.mark.parametrize(("config", "output"), DOVECOT_CASES, ids=[c[1] for c in DOVECOT_CASES])
def test_dovecot_corpus(corpus: Path, config: str, output: str, tmp_path: Path) -> None:
    """The global endpoint's files are the ones doveconf printed."""
    expected_cert, expected_key = doveconf_says((corpus / "_tool-output" / output).read_text())
    result = dovecot.read(str(installed_copy(corpus, config, tmp_path)), ConfigFiles(), {})
    (endpoint,) = [e for e in result.endpoints if e.scope == "global" and e.slot == "main"]
    assert (endpoint.cert_file, endpoint.key_file) == (expected_cert, expected_key)
    assert endpoint.enabled
    version = "2.4" if output.startswith("doveconf24") else "2.3"
    conf = installed_copy(corpus, config, tmp_path / "again")
    assert dovecot.read_config(str(conf), ConfigFiles(), {}).version == version


@pytest.mark.parametrize(("config", "output"), POSTFIX_CASES, ids=[c[1] for c in POSTFIX_CASES])
def test_postfix_corpus(corpus: Path, config: str, output: str) -> None:
    """Cert, key and chain files match `postconf -xh`; master.cf TLS overrides match `-P`."""
    said = postconf_says((corpus / "_tool-output" / output).read_text())
    result = postfix.read(str(corpus / config), ConfigFiles())
    server = [e for e in result.endpoints if e.scope == "global"]
    chain = said.get("smtpd_tls_chain_files", "").split()
    if chain:
        assert [e.chain_files for e in server] == [tuple(chain)]
    else:
        assert [(e.cert_file, e.key_file) for e in server] == [
            (said["smtpd_tls_cert_file"], said["smtpd_tls_key_file"])
        ]
    client = [e for e in result.endpoints if e.scope == "smtp client"]
    if said.get("smtp_tls_cert_file"):
        assert [(e.cert_file, e.key_file) for e in client] == [
            (said["smtp_tls_cert_file"], said["smtp_tls_key_file"])
        ]
    else:
        assert client == []


@pytest.mark.parametrize(("config", "output"), POSTFIX_CASES, ids=[c[1] for c in POSTFIX_CASES])
def test_postfix_corpus_master_overrides(
    corpus: Path, tmp_path: Path, config: str, output: str
) -> None:
    """Every `postconf -P` line with `tls` in it is an override mailtls read from master.cf."""
    text = (corpus / "_tool-output" / output).read_text()
    expected = set(re.findall(r"^([^\s/]+/\w+/\w*tls\w*) = (.*)$", text, re.M))
    master = corpus / config / "master.cf"
    if output == "postconf-iredpf.txt":  # rendered as the INDEX says: PH_AMAVISD_MAX_SERVERS->2
        rendered = (corpus / "iRedMail/samples/postfix/master.cf").read_text()
        master = tmp_path / "master.cf"
        master.write_text(rendered.replace("PH_AMAVISD_MAX_SERVERS", "2"))
    if not master.exists():
        assert expected == set()
        return
    services = parse_master(master.read_text(), str(master), [])
    got = {
        (f"{s.label}/{name}", param.value)
        for s in services
        for name, param in s.overrides.items()
        if "tls" in name
    }
    assert got == expected


def test_debian12_postinst_main_cf(corpus: Path, tmp_path: Path) -> None:
    """Debian 12's postinst writes main.cf.debian + main.cf.tls; postconf-deb12.txt is that."""
    share = corpus / "debian-bookworm/usr/share/postfix"
    main = (share / "main.cf.debian").read_text() + (share / "main.cf.tls").read_text()
    (tmp_path / "main.cf").write_text(main)
    shutil.copy(share / "master.cf.dist", tmp_path / "master.cf")
    said = postconf_says((corpus / "_tool-output/postconf-deb12.txt").read_text())
    (endpoint,) = postfix.read(str(tmp_path), ConfigFiles()).endpoints
    assert (endpoint.cert_file, endpoint.key_file) == (
        said["smtpd_tls_cert_file"],
        said["smtpd_tls_key_file"],
    )


def test_debian12_as_installed_has_no_server_certificate(corpus: Path) -> None:
    """Installed without ssl-cert, Debian 12's main.cf has no TLS lines: no endpoint at all."""
    result = postfix.read(str(corpus / "debian-bookworm/etc/postfix"), ConfigFiles())
    assert result.endpoints == ()


def test_mailcow_sni_map_is_reported_missing(corpus: Path) -> None:
    """mailcow names hash:/opt/postfix/conf/sni.map, written at container start: not here."""
    result = postfix.read(str(corpus / "mailcow-dockerized/data/conf/postfix"), ConfigFiles())
    assert [(f.code, f.path) for f in result.findings] == [
        ("sni-map-missing", "/opt/postfix/conf/sni.map")
    ]


def test_mailu_dovecot_template_is_rejected(corpus: Path) -> None:
    """Mailu's dovecot.conf is a Jinja template: Dovecot (and mailtls) reject the raw file."""
    with pytest.raises(ConfigError, match=r"dovecot\.conf:8: expecting"):
        dovecot.read(str(corpus / "Mailu/core/dovecot/conf/dovecot.conf"), ConfigFiles(), {})


def test_mailu_postfix_template_is_rejected(corpus: Path) -> None:
    """Mailu's main.cf holds `{% if %}` lines: postconf stops there, so does mailtls."""
    with pytest.raises(ConfigError, match="missing '=' after attribute name"):
        postfix.read(str(corpus / "Mailu/core/postfix/conf"), ConfigFiles())


def test_iredmail_unrendered_master_cf_is_rejected(corpus: Path) -> None:
    """INDEX: postconf exits fatally on the unrendered master.cf (PH_AMAVISD_MAX_SERVERS)."""
    with pytest.raises(ConfigError, match="bad process limit field"):
        postfix.read(str(corpus / "iRedMail/samples/postfix"), ConfigFiles())


TEMPLATE_VALUES = {"%tls_cert_file": "/etc/letsencrypt/live/mail.example.com/fullchain.pem",
                   "%tls_key_file": "/etc/letsencrypt/live/mail.example.com/privkey.pem"}  # fmt: skip


@pytest.mark.parametrize("version", ["2.3", "2.4"])
def test_modoboa_template_rendered_as_installer_does(
    corpus: Path, tmp_path: Path, version: str
) -> None:
    """modoboa's `%name` templates, rendered with the INDEX's letsencrypt values."""
    base = corpus / "modoboa-installer/modoboa_installer/scripts/files/dovecot" / version
    text = (base / "conf.d/10-ssl-keys.try.tpl").read_text()
    for placeholder, value in TEMPLATE_VALUES.items():
        text = text.replace(placeholder, value)
    (tmp_path / "10-ssl-keys.try").write_text(text)
    (endpoint,) = dovecot.read(str(tmp_path / "10-ssl-keys.try"), ConfigFiles(), {}).endpoints
    assert (endpoint.cert_file, endpoint.key_file) == tuple(TEMPLATE_VALUES.values())


@pytest.mark.parametrize(
    "template",
    [
        "iRedMail/samples/dovecot/dovecot.conf",
        "iRedMail/samples/dovecot/dovecot-2.4-mariadb.conf",
        "iRedMail/samples/dovecot/dovecot-2.4-openldap.conf",
        "iRedMail/samples/dovecot/dovecot-2.4-pgsql.conf",
    ],
)
def test_iredmail_templates_rendered_with_debian_values(
    corpus: Path, tmp_path: Path, template: str
) -> None:
    """iRedMail's PH_* templates, rendered with the Debian values the INDEX gives."""
    values = {"PH_SSL_CERT": "/etc/ssl/certs/iRedMail.crt", "PH_SSL_KEY": "/etc/ssl/private/iRedMail.key"}  # fmt: skip
    text = (corpus / template).read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    # The remaining PH_* names (include folders, sockets) are not TLS settings.
    target = tmp_path / os.path.basename(template)
    target.write_text(render(text))
    result = dovecot.read(str(target), ConfigFiles(), {})
    (endpoint,) = [e for e in result.endpoints if e.scope == "global"]
    assert (endpoint.cert_file, endpoint.key_file) == tuple(values.values())


# Files the cases above do not open directly, and why that is enough.
COVERED_ELSEWHERE = {
    "Mailu/core/dovecot/conf/dovecot.conf": "test_mailu_dovecot_template_is_rejected",
    "Mailu/core/nginx/conf/tls.conf": "nginx terminates Mailu's TLS: not a Dovecot or Postfix file",
    "Mailu/core/postfix/conf/main.cf": "test_mailu_postfix_template_is_rejected",
    "Mailu/core/postfix/conf/master.cf": "test_mailu_postfix_template_is_rejected",
    "debian-bookworm/etc/dovecot/conf.d/10-ssl.conf": "included by debian-bookworm dovecot.conf",
    "debian-bookworm/etc/postfix/main.cf": "test_debian12_as_installed_has_no_server_certificate",
    "debian-bookworm/etc/postfix/master.cf": "test_debian12_as_installed_has_no_server_certificate",
    "debian-bookworm/usr/share/dovecot/conf.d/10-ssl.conf": "identical to etc/ (INDEX)",
    "debian-bookworm/usr/share/dovecot/dovecot.conf": "identical to etc/ (INDEX)",
    "debian-bookworm/usr/share/postfix/main.cf.debian": "test_debian12_postinst_main_cf",
    "debian-bookworm/usr/share/postfix/main.cf.tls": "test_debian12_postinst_main_cf",
    "debian-bookworm/usr/share/postfix/master.cf.dist": "test_debian12_postinst_main_cf",
    "debian-trixie/etc/dovecot/conf.d/10-ssl.conf": "included by debian-trixie dovecot.conf",
    "debian-trixie/usr/share/dovecot/conf.d/10-ssl.conf": "identical to etc/ (INDEX)",
    "debian-trixie/usr/share/dovecot/dovecot.conf": "identical to etc/ (INDEX)",
    "debian-trixie/usr/share/postfix/main.cf.debian": "postinst input of etc/postfix/main.cf",
    "debian-trixie/usr/share/postfix/main.cf.tls": "postinst input of etc/postfix/main.cf",
    "iRedMail/samples/dovecot/dovecot.conf": "test_iredmail_templates_rendered_with_debian_values",
    "iRedMail/samples/dovecot/dovecot-2.4-mariadb.conf": "test_iredmail_templates_rendered...",
    "iRedMail/samples/dovecot/dovecot-2.4-openldap.conf": "test_iredmail_templates_rendered...",
    "iRedMail/samples/dovecot/dovecot-2.4-pgsql.conf": "test_iredmail_templates_rendered...",
    "iRedMail/samples/postfix/main.cf": "test_iredmail_unrendered_master_cf_is_rejected",
    "iRedMail/samples/postfix/master.cf": "test_iredmail_unrendered_master_cf_is_rejected and"
    " test_postfix_corpus_master_overrides[postconf-iredpf.txt] (rendered)",
    "modoboa-installer/rendered-example-letsencrypt/etc/dovecot/conf.d-2.3/10-ssl.conf": "test_modoboa_ssl_conf_reaches_keys_only_through_an_absolute_include",
    "modoboa-installer/rendered-example-letsencrypt/etc/dovecot/conf.d-2.4/10-ssl.conf": "test_modoboa_ssl_conf_reaches_keys_only_through_an_absolute_include",
}
MODOBOA_TEMPLATES = "modoboa-installer/modoboa_installer/scripts/files/"


def test_every_corpus_config_is_covered(corpus: Path) -> None:
    """A new file in the corpus must get a case here, or say above why it needs none."""
    cases = {c for c, _ in DOVECOT_CASES} | {c for c, _ in POSTFIX_CASES}
    uncovered = []
    for path in sorted(corpus.rglob("*")):
        rel = str(path.relative_to(corpus))
        if path.is_dir() or rel.startswith("_tool-output/") or rel == "INDEX.md":
            continue
        if rel in cases or os.path.dirname(rel) in cases or rel in COVERED_ELSEWHERE:
            continue
        if rel.startswith(MODOBOA_TEMPLATES):
            continue  # rendered by test_modoboa_template_rendered_as_installer_does and in the
            # corpus' own rendered-example-letsencrypt, which the cases above read.
        uncovered.append(rel)
    assert uncovered == []


@pytest.mark.parametrize("version", ["2.3", "2.4"])
def test_modoboa_ssl_conf_reaches_keys_only_through_an_absolute_include(
    corpus: Path, version: str
) -> None:
    """`!include_try /etc/dovecot/conf.d/10-ssl-keys.try` is absent on this machine: TLS is on,
    no certificate is set, and mailtls says so instead of inventing one."""
    conf = corpus / f"modoboa-installer/rendered-example-letsencrypt/etc/dovecot/conf.d-{version}"
    result = dovecot.read(str(conf / "10-ssl.conf"), ConfigFiles(), {})
    (endpoint,) = result.endpoints
    assert endpoint.cert_file is None
    assert [f.code for f in result.findings] == ["no-certificate"]


def test_docker_mailserver_port_25_is_postscreen_handing_starttls_to_tlsproxy(corpus: Path) -> None:
    listeners = read_all([str(corpus / "docker-mailserver/target/postfix")], {}).listeners
    assert [(x.label, x.host, x.port, x.starttls) for x in listeners] == [
        ("smtp/inet", "127.0.0.1", 25, "smtp"),
        ("submission/inet", "127.0.0.1", 587, "smtp"),
        ("submissions/inet", "127.0.0.1", 465, None),
    ]
