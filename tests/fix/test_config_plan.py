"""`fix --edit-config`'s plan: one value changed on one line, every other byte kept; or why not."""

from __future__ import annotations

import pytest

from mailtls.fix.config_plan import Repoint, plan_file, repoint_line
from mailtls.fix.plan import lineage
from mailtls.models import Endpoint, Location

LIVE = "/etc/letsencrypt/live/mail.example.org"
CERT, FULL = f"{LIVE}/cert.pem", f"{LIVE}/fullchain.pem"


@pytest.mark.parametrize(
    "line",
    [
        b"ssl_cert = <CERT\n",  # Dovecot 2.3
        b"  ssl_cert=<  CERT   \n",
        b'ssl_cert = <"CERT"\n',
        b"ssl_alt_cert = <CERT\n",
        b"ssl_server_cert_file = CERT\n",  # Dovecot 2.4
        b"\tssl_server_cert_file = CERT # the leaf alone, for now\n",
        b"smtpd_tls_cert_file = CERT\r\n",  # main.cf, CRLF kept
        b"smtpd_tls_cert_file=CERT",  # no newline at the end
        b"  -o smtpd_tls_cert_file=CERT\n",  # master.cf
        b"  -o { smtpd_tls_cert_file = CERT }\n",
        b"smtps inet n - y - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_cert_file=CERT\n",
    ],
)
def test_each_form_changes_only_the_value(line: bytes) -> None:
    """Only the path changes: quotes, spacing, comments, line ends stay as they were."""
    before = b"# header\n" + line.replace(b"CERT", CERT.encode()) + b"\n# after\n"
    done = repoint_line(before, 2, CERT, FULL, "/etc/dovecot")
    assert not isinstance(done, str), done
    new, edit = done
    assert new == before.replace(CERT.encode(), FULL.encode())
    assert (edit.line, edit.old.strip('"'), edit.new) == (2, CERT, FULL)


def test_a_relative_value_is_read_from_the_configuration_folder() -> None:
    done = repoint_line(b"smtpd_tls_cert_file = le/cert.pem\n", 1, "/etc/postfix/le/cert.pem",
                        "/etc/postfix/le/fullchain.pem", "/etc/postfix")  # fmt: skip
    assert not isinstance(done, str)
    assert done[0] == b"smtpd_tls_cert_file = /etc/postfix/le/fullchain.pem\n"


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        (b"smtpd_tls_cert_file = ${le}/cert.pem\n", 1, "variable or an include"),
        (b"ssl_cert = <%{env:LE}/cert.pem\n", 1, "variable or an include"),
        (b"!include ssl.conf\n", 1, "variable or an include"),
        (b"smtpd_tls_cert_file =\n    CERT\n", 1, "continues on the next line"),
        (b"smtpd_tls_key_file = CERT\n", 1, "does not write"),  # not a certificate setting
        (b"# smtpd_tls_cert_file = CERT\n", 1, "does not write"),  # a comment
        (b"-o smtpd_tls_cert_file=CERT -o smtp_tls_cert_file=CERT\n", 1, "more than once"),
        (b"smtpd_tls_cert_file = CERT\n", 3, "not in the file"),
    ],
)
def test_refusals(text: bytes, line: int, why: str) -> None:
    """What cannot be rewritten simply is refused, with the reason."""
    done = repoint_line(text.replace(b"CERT", CERT.encode()), line, CERT, FULL, "/etc/postfix")
    assert isinstance(done, str)
    assert why in done


def test_a_full_chain_path_that_would_need_quoting_is_refused() -> None:
    done = repoint_line(b"ssl_cert = <CERT\n".replace(b"CERT", CERT.encode()), 1, CERT,
                        "/etc/letsencrypt/live/a b/fullchain.pem", "/etc/dovecot")  # fmt: skip
    assert isinstance(done, str)
    assert "quoting" in done


def test_a_master_cf_entry_spans_its_continuation_lines() -> None:
    """Postfix names the entry's first line; the `-o` line below it is the one changed."""
    entry = (
        b"submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n"
        b"  -o smtpd_tls_cert_file=CERT\nsmtps inet n - y - - smtpd\n"
        b"  -o smtpd_tls_cert_file=CERT\n"
    ).replace(b"CERT", CERT.encode())
    done = repoint_line(entry, 1, CERT, FULL, "/etc/postfix", continued=True)
    assert not isinstance(done, str), done
    assert done[1].line == 3
    assert done[0] == entry.replace(CERT.encode(), FULL.encode(), 1)
    assert isinstance(repoint_line(entry, 1, CERT, FULL, "/etc/postfix"), str)


def test_lineages_found_by_their_layout() -> None:
    """certbot under any --config-dir named letsencrypt; archive/ leads to live/; a folder
    named archive elsewhere in an acme.sh path is left as it is."""
    assert lineage("/srv/img/etc/letsencrypt/archive/m/cert3.pem") == (
        "certbot",
        "/srv/img/etc/letsencrypt/live/m/fullchain.pem",
    )
    assert lineage("/archive/u/.acme.sh/m/m.cer") == (
        "acme.sh",
        "/archive/u/.acme.sh/m/fullchain.cer",
    )


def test_two_lineages_on_one_master_cf_entry_are_both_repointed() -> None:
    """Endpoints of two repoints share the entry's line: each lineage's value changes (before,
    the second was skipped as "already done" and still claimed)."""
    other = "/etc/letsencrypt/live/other"
    entry = (
        f"smtps inet n - y - - smtpd\n  -o smtpd_tls_cert_file={CERT}\n"
        f"  -o smtp_tls_cert_file={other}/cert.pem\n"
    ).encode()
    where = Location("/etc/postfix/master.cf", 1)

    def pair(cert: str, full: str, family: str) -> tuple[Repoint, Endpoint]:
        name = f"postfix:master.cf smtps/inet {family}"
        endpoint = Endpoint(name, "postfix", "server", "smtps", where, cert, None,
                            config="/etc/postfix/main.cf")  # fmt: skip
        return Repoint(cert, full, "certbot", (name,)), endpoint

    done = plan_file(
        where.path,
        entry,
        [pair(CERT, FULL, "smtpd"), pair(f"{other}/cert.pem", f"{other}/fullchain.pem", "smtp")],
    )
    assert not isinstance(done, str), done
    assert done.new == entry.replace(b"/cert.pem", b"/fullchain.pem")
    assert [e.line for e in done.lines] == [2, 3]
