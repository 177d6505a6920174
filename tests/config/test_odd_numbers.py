"""Numbers Python takes and the daemons do not: superscript digits, huge counts, far dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtls.config import dovecot, postfix
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from tests.config.test_postfix_oracle import write
from tests.conftest import run
from tests.test_cli import mailtls


def dovecot_conf(tmp_path: Path, port: str) -> Path:
    conf = tmp_path / "dovecot.conf"
    conf.write_text(
        "protocols = imap\nssl_cert = </etc/ssl/mail.pem\nssl_key = </etc/ssl/mail.key\n"
        f"service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n}}\n"
    )
    return conf


@pytest.mark.parametrize("port", ["1⁴3", "١٤٣", "70000", "abc"])
def test_dovecot_port_doveconf_refuses_is_a_config_error(
    doveconf: str, tmp_path: Path, port: str
) -> None:
    conf = dovecot_conf(tmp_path, port)
    done = run([doveconf, "-c", str(conf), "-h", "service/imap-login/inet_listener/imap/port"])
    assert "Invalid port number" in done.stderr
    with pytest.raises(ConfigError, match="Invalid port number"):
        dovecot.read(str(conf), ConfigFiles(), {})


def test_dovecot_plain_port_is_read(tmp_path: Path) -> None:
    result = dovecot.read(str(dovecot_conf(tmp_path, "10143")), ConfigFiles(), {})
    assert [listener.port for listener in result.listeners] == [10143, 993]


def test_master_cf_superscript_port_is_a_config_error(tmp_path: Path) -> None:
    """`2²5 inet ... smtpd`: int() reads 225, Postfix's master finds no such service."""
    main = "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = /etc/ssl/mail.pem\n"
    root = write(tmp_path, main, "127.0.0.1:2²5 inet n - y - - smtpd\n")
    with pytest.raises(
        ConfigError, match=r"master\.cf:1: service 127\.0\.0\.1:2²5: not a port number"
    ):
        postfix.read(str(root), ConfigFiles())


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--warn-days", "99999999999"), "--warn-days 99999999999: give 0 to 36500 days"),
        (("--warn-days", "-1"), "--warn-days -1: give 0 to 36500 days"),
        (("--at", "9999-12-31T23:59:59-12:00"), "outside the years 1 to 9999 in UTC"),
        (("--at", "0001-01-01T00:00:00+14:00"), "outside the years 1 to 9999 in UTC"),
    ],
)
def test_out_of_range_options_are_one_line_usage_errors(
    tmp_path: Path, option: tuple[str, str], said: str
) -> None:
    conf = dovecot_conf(tmp_path, "143")
    done = mailtls("audit", str(conf), *option)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and said in done.stderr
