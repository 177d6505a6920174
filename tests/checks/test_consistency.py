"""different-certs: one name, two daemons, two chains, one of them worse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailtls.audit import AuditOptions, audit
from mailtls.checks import consistency
from mailtls.checks.leaf import covers
from mailtls.config.discover import read_all
from mailtls.models import CertInfo, Endpoint, ServedChain, Service
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def server(tmp_path: Path, dovecot_cert: str, postfix_cert: str) -> list[tuple[str, str | None]]:
    ssl = tmp_path / "ssl"
    ssl.mkdir()
    for name in ("leaf-2026.pem", "leaf-2026-fullchain.pem", "leaf-2026.key"):
        (ssl / name).write_bytes((PKI / name).read_bytes())
    (ssl / "leaf-2026.key").chmod(0o600)
    (tmp_path / "dovecot").mkdir()
    (tmp_path / "dovecot" / "dovecot.conf").write_text(
        f"ssl_cert = <{ssl}/{dovecot_cert}\nssl_key = <{ssl}/leaf-2026.key\n"
    )
    (tmp_path / "postfix").mkdir()
    (tmp_path / "postfix" / "main.cf").write_text(
        f"myhostname = mail.example.org\nsmtpd_tls_cert_file = {ssl}/{postfix_cert}\n"
        f"smtpd_tls_key_file = {ssl}/leaf-2026.key\nsmtpd_tls_security_level = may\n"
    )
    config = read_all([str(tmp_path / "dovecot"), str(tmp_path / "postfix")], {})
    options = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)
    report = audit(config, options)
    return [(f.code, f.endpoint) for f in report.findings if f.code == "different-certs"]


def test_postfix_without_the_intermediate_is_the_worse_one(tmp_path: Path) -> None:
    found = server(tmp_path, "leaf-2026-fullchain.pem", "leaf-2026.pem")
    assert found == [("different-certs", "postfix:global")]


def test_dovecot_worse_is_named_too(tmp_path: Path) -> None:
    found = server(tmp_path, "leaf-2026.pem", "leaf-2026-fullchain.pem")
    assert found == [("different-certs", "dovecot:global")]


def test_same_chain_is_silent(tmp_path: Path) -> None:
    assert server(tmp_path, "leaf-2026-fullchain.pem", "leaf-2026-fullchain.pem") == []


def both(
    tmp_path: Path, dovecot_conf: str, main_cf: str, sni_cert: str = "leaf-2026-fullchain.pem"
) -> list[tuple[str, str | None]]:
    """Audit a Dovecot and a Postfix configuration over the fixture leaf (`{ssl}` is its
    folder): the different-certs findings, as (code, endpoint)."""
    ssl = tmp_path / "ssl"
    ssl.mkdir()
    for name in ("leaf-2026.pem", "leaf-2026-fullchain.pem", "leaf-2026.key"):
        (ssl / name).write_bytes((PKI / name).read_bytes())
    (ssl / "leaf-2026.key").chmod(0o600)
    for folder, name, text in (
        ("dovecot", "dovecot.conf", dovecot_conf),
        ("postfix", "main.cf", main_cf),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(text.replace("{ssl}", str(ssl)))
    (tmp_path / "postfix" / "sni").write_text(
        f".example.org {ssl}/leaf-2026.key {ssl}/{sni_cert}\n"
    )
    (tmp_path / "postfix" / "sni.db").write_bytes(b"index")
    config = read_all([str(tmp_path / "dovecot"), str(tmp_path / "postfix")], {})
    options = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)
    return [
        (f.code, f.endpoint) for f in audit(config, options).findings if f.code == "different-certs"
    ]


POSTFIX_FULLCHAIN = (
    "myhostname = mail.example.org\nsmtpd_tls_cert_file = {ssl}/leaf-2026-fullchain.pem\n"
    "smtpd_tls_key_file = {ssl}/leaf-2026.key\nsmtpd_tls_security_level = may\n"
)


def test_a_name_served_from_an_address_block_is_not_compared_with_the_global_one(
    tmp_path: Path,
) -> None:
    """Dovecot answers IMAP on 127.0.0.1 from its `local` block, elsewhere from the global
    one: which of them serves mail.example.org depends on the address, not the name, so
    neither is set against Postfix's certificate for that name."""
    dovecot_conf = (
        "ssl_cert = <{ssl}/leaf-2026.pem\nssl_key = <{ssl}/leaf-2026.key\n"
        "local 127.0.0.1 {\n  protocol imap {\n"
        "    ssl_cert = <{ssl}/leaf-2026-fullchain.pem\n  }\n}\n"
    )
    assert both(tmp_path, dovecot_conf, POSTFIX_FULLCHAIN) == []


def test_the_block_chosen_for_the_name_is_compared(tmp_path: Path) -> None:
    """Dovecot's `local_name mail.example.org` block against Postfix's SNI key `.example.org`,
    which covers it: those two serve the name (Postfix's default certificate is missing)."""
    dovecot_conf = (
        "ssl_cert = <{ssl}/leaf-2026.pem\nssl_key = <{ssl}/leaf-2026.key\n"
        "local_name mail.example.org {\n  ssl_cert = <{ssl}/leaf-2026-fullchain.pem\n}\n"
    )
    main_cf = POSTFIX_FULLCHAIN.replace("fullchain", "fullchain-missing") + (
        "tls_server_sni_maps = hash:$config_directory/sni\n"
    )
    assert both(tmp_path, dovecot_conf, main_cf, sni_cert="leaf-2026.pem") == [
        ("different-certs", "postfix:sni .example.org")
    ]


def _info(serial: str, trusted_until: str) -> CertInfo:
    return CertInfo(
        "CN=x", "CN=ca", serial, "2026-01-01", trusted_until, serial, "RSA", 2048, False, False
    )


def test_names_are_looked_up_not_compared_with_every_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1,000 Dovecot local_name blocks and 1,000 Postfix SNI keys for the same names, every
    other one with a chain that expires sooner: the check makes a few name comparisons per
    name (it used to make one per name and endpoint: a million here)."""
    calls = 0

    def counting(pattern: str, name: str) -> bool:
        nonlocal calls
        calls += 1
        return covers(pattern, name)

    monkeypatch.setattr(consistency, "covers", counting)
    endpoints, chains = [], []
    for i in range(1000):
        name = f"mail.tenant{i}.example"
        scopes: tuple[tuple[Service, str], ...] = (
            ("dovecot", f"local_name {name}"),
            ("postfix", f"sni {name}"),
        )
        for service, scope in scopes:
            endpoint = Endpoint(
                f"{service}:{scope}", service, "server", scope, None, "/c", "/k", names=(name,)
            )
            until = "2027-01-01" if service == "dovecot" and i % 2 else "2028-01-01"
            endpoints.append(endpoint)
            chains.append(ServedChain(endpoint.id, (_info(f"{service}{i}", until),), True))
    found = list(consistency.different_certs(endpoints, chains, []))
    assert len(found) == 500
    assert all(f.endpoint and f.endpoint.startswith("dovecot:") for f in found)
    assert calls <= 2 * len(endpoints)
