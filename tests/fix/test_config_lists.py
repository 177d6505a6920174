"""`fix --edit-config` in Postfix file lists: only the path naming the lineage's cert.pem changes
in a chain_files value, an SNI map entry or an inline table; separators, comments, CRLF stay."""

from __future__ import annotations

import pytest

from mailtls.fix.config_lists import replace_tokens, repoint_list

LIVE = "/etc/letsencrypt/live/x"
CERT, FULL, KEY = f"{LIVE}/cert.pem", f"{LIVE}/fullchain.pem", f"{LIVE}/privkey.pem"


def edited(text: bytes, line: int, kind: str, expected: int = 1) -> bytes | str:
    data = text.replace(b"CERT", CERT.encode()).replace(b"KEY", KEY.encode())
    tokens = repoint_list(data, line, CERT, "/etc/postfix", kind, expected)
    return tokens if isinstance(tokens, str) else replace_tokens(data, tokens, FULL)


def want(text: bytes) -> bytes:
    return text.replace(b"CERT", FULL.encode()).replace(b"KEY", KEY.encode())


@pytest.mark.parametrize(
    "text",
    [
        b"smtpd_tls_chain_files = KEY, CERT\n",
        b"smtpd_tls_chain_files=KEY,CERT\r\n",  # CRLF kept
        b"smtpd_tls_chain_files =\n    KEY,\n# a comment: CERT stays\n    CERT\n",
        b"smtpd_tls_chain_files = KEY CERT",  # no newline at the end
        b"smtpd_tls_chain_files = KEY, ../../etc/letsencrypt/live/x/cert.pem\n",  # relative
    ],
)
def test_main_cf_chain_files(text: bytes) -> None:
    done = edited(text, 1, "chain")
    expect = want(text).replace(b"# a comment: " + FULL.encode(), b"# a comment: " + CERT.encode())
    expect = expect.replace(b"../../etc/letsencrypt/live/x/cert.pem", FULL.encode())
    assert done == expect


def test_master_cf_overrides_end_where_postfix_ends_them() -> None:
    """`-o name=a,b` ends at white space, `-o { name = a b }` at its brace; the entry's
    first line is the one Postfix names."""
    text = (
        b"submission inet n - y - - smtpd\n  -o smtpd_tls_chain_files=KEY,CERT -o x=CERT\n"
        b"smtps inet n - y - - smtpd\n  -o { smtpd_tls_chain_files = KEY CERT } -o y=CERT\n"
    )
    first = edited(text, 1, "chain")
    assert isinstance(first, bytes)
    assert first.count(FULL.encode()) == 1 and b"x=" + CERT.encode() in first
    assert b"-o smtpd_tls_chain_files=" + KEY.encode() + b"," + FULL.encode() in first
    third = edited(text, 3, "chain")
    assert isinstance(third, bytes)
    assert b"{ smtpd_tls_chain_files = " + KEY.encode() + b" " + FULL.encode() + b" }" in third
    assert third.count(FULL.encode()) == 1


def test_sni_map_entry_keeps_its_name_and_separators() -> None:
    """Only the entry on the line named changes; the next entry naming the same file is its
    own endpoint, with its own line."""
    text = b"# sni\nmail.example.org KEY,\tCERT\r\nother.example.org KEY CERT\r\n"
    lines = text.splitlines(keepends=True)
    done = edited(text, 2, "map")
    assert done == want(lines[0] + lines[1]) + want(lines[2]).replace(FULL.encode(), CERT.encode())


def test_inline_table_in_main_cf() -> None:
    text = (
        b"tls_server_sni_maps = inline:{\n    { a.example = KEY CERT },\n"
        b"    { b.example = KEY CERT } }\n"
    )
    assert edited(text, 1, "inline", expected=2) == want(text)


@pytest.mark.parametrize(
    ("text", "kind", "expected", "why"),
    [
        (b"smtpd_tls_chain_files = KEY, ${le}/cert.pem\n", "chain", 1, "variable"),
        (b"smtpd_tls_cert_file = CERT\n", "chain", 1, "does not write"),
        (
            b"x inet n - y - - smtpd -o smtpd_tls_chain_files=CERT -o smtp_tls_chain_files=CERT\n",
            "chain",
            1,
            "more than one setting",
        ),
        (
            b"tls_server_sni_maps = inline:{ {a = KEY CERT}, {b = KEY CERT} }\n",
            "inline",
            1,
            "edit it by hand",
        ),
        (b"mail.example.org KEY CERT\n", "map", 1, "not in the file"),
    ],
)
def test_refusals(text: bytes, kind: str, expected: int, why: str) -> None:
    line = 2 if why == "not in the file" else 1
    done = edited(text, line, kind, expected)
    assert isinstance(done, str)
    assert why in done
