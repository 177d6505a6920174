"""Where the daemons listen, as `audit --live` works it out from the configuration."""

from __future__ import annotations

from pathlib import Path

from mailtls.config.discover import read_all


def rows(paths: list[str]) -> list[tuple[str, str, int, str | None]]:
    return [(x.label, x.host, x.port, x.starttls) for x in read_all(paths, {}).listeners]


def test_dovecot_listeners_follow_inet_listener_blocks_and_protocols(tmp_path: Path) -> None:
    (tmp_path / "dovecot.conf").write_text(
        "protocols = imap\nlisten = 192.0.2.10, ::\nssl_cert = </x\n"
        "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n"
        "  inet_listener imaps {\n    port = 10993\n  }\n"
        "  inet_listener extra {\n    port = 20993\n    ssl = yes\n    address = 127.0.0.2\n  }\n}\n"
        "service pop3-login {\n  inet_listener pop3s {\n    port = 995\n  }\n}\n"
    )
    assert rows([str(tmp_path)]) == [
        ("imap-login/imaps", "192.0.2.10", 10993, None),
        ("imap-login/extra", "127.0.0.2", 20993, None),
    ]


def test_postfix_service_without_tls_is_not_a_listener(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text(
        "smtpd_tls_cert_file = /c\nsmtpd_tls_security_level = may\ninet_interfaces = all\n"
    )
    (tmp_path / "master.cf").write_text(
        "smtp inet n - y - - smtpd\n10025 inet n - n - - smtpd\n  -o smtpd_tls_security_level=none\n"
        "[::1]:2465 inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n"
    )
    assert rows([str(tmp_path)]) == [
        ("smtp/inet", "127.0.0.1", 25, "smtp"),
        ("[::1]:2465/inet", "::1", 2465, None),
    ]
