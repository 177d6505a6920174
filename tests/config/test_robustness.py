"""Property tests: the readers raise nothing but mailtls' own error, and never hang."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtls.config import dovecot, postfix
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError, MailtlsError

CONFIG_TEXT = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "{",
                "}",
                "local_name a {",
                "protocol imap {",
                "!include *.conf",
                "!include_try x/{a,b}",
                "ssl_cert = <",
                "ssl_key = $ssl_cert",
                '"',
                "\\",
                "=",
                "$",
                "${a?{b}:{c}}",
                "-o a=b",
                "smtp inet n - y - - smtpd",
                "  -o { x = y }",
                "dovecot_config_version = 2.4.0",
            ]
        ),
    ),
    max_size=20,
).map("\n".join)
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(text=CONFIG_TEXT, other=CONFIG_TEXT)
def test_dovecot_reader_raises_only_its_own_error(tmp_path: Path, text: str, other: str) -> None:
    """Two files that may include each other (or themselves): a result or a MailtlsError."""
    (tmp_path / "dovecot.conf").write_text(text + "\n!include b.conf\n")
    (tmp_path / "b.conf").write_text(other + "\n!include dovecot.conf\n")
    with contextlib.suppress(MailtlsError):
        dovecot.read(str(tmp_path / "dovecot.conf"), ConfigFiles(), {})


@SETTINGS
@given(main=CONFIG_TEXT, master=CONFIG_TEXT)
def test_postfix_reader_raises_only_its_own_error(tmp_path: Path, main: str, master: str) -> None:
    (tmp_path / "main.cf").write_text(main)
    (tmp_path / "master.cf").write_text(master)
    with contextlib.suppress(MailtlsError):
        postfix.read(str(tmp_path), ConfigFiles())


def test_include_brace_bomb_is_a_bounded_config_error(tmp_path: Path) -> None:
    """`{a,b}` 40 times would name 2**40 files: a one-line error at once (found by atheris)."""
    conf = tmp_path / "dovecot.conf"
    conf.write_text("!include_try x" + "{a,b}" * 40 + "\n")
    started = time.monotonic()
    with pytest.raises(ConfigError, match="more than 1024 names from its braces"):
        dovecot.read(str(conf), ConfigFiles(), {})
    assert time.monotonic() - started < 2
