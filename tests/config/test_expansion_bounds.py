"""Postfix macro expansion on hostile main.cf files: bounded as Postfix bounds it, and quick."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mailtls.config import dovecot, postfix
from mailtls.config.postfix_expand import expand
from mailtls.config.source import ConfigFiles
from mailtls.errors import ConfigError
from tests.config.test_postfix_oracle import write
from tests.conftest import run

BOUND_SECONDS = 3.0


def doubling(levels: int) -> str:
    """`aN = $aN-1 $aN-1`: 2**levels copies of x from a few hundred bytes."""
    lines = ["a0 = x"] + [f"a{n} = $a{n - 1} $a{n - 1}" for n in range(1, levels + 1)]
    return "\n".join(lines) + f"\nsmtpd_tls_cert_file = /etc/$a{levels}\n"


def chained(length: int) -> str:
    """`aN = $aN-1`: one call nested `length` deep."""
    lines = ["a0 = x"] + [f"a{n} = $a{n - 1}" for n in range(1, length + 1)]
    return "\n".join(lines) + f"\nsmtpd_tls_cert_file = /etc/$a{length}\n"


def mailtls_value(root: Path) -> str:
    start = time.monotonic()
    try:
        return postfix.read(str(root), ConfigFiles()).endpoints[0].cert_file or ""
    finally:
        assert time.monotonic() - start < BOUND_SECONDS


def test_22_doubling_levels_agree_with_postconf(postconf: str, tmp_path: Path) -> None:
    """782 bytes, 8 MB expanded: postconf -x prints it; mailtls reads the same, in time."""
    root = write(tmp_path, doubling(22), "")
    done = run([postconf, "-c", str(root), "-xh", "smtpd_tls_cert_file"])
    assert done.returncode == 0
    assert mailtls_value(root) == done.stdout.rstrip("\n")


def postconf_reads(postconf: str, root: Path) -> tuple[str, str]:
    """The certificate path as postconf expands it, or "" and its first warning. The key
    file defaults to `$smtpd_tls_cert_file`: one call deeper, so it is asked for too."""
    for name in ("smtpd_tls_key_file", "smtpd_tls_cert_file"):
        done = run([postconf, "-c", str(root), "-xh", name])
        if done.returncode != 0:
            return "", done.stderr.splitlines()[0]
    return done.stdout.rstrip("\n"), ""


@pytest.mark.parametrize("length", [98, 99, 100, 129])
def test_nesting_limit_is_postconfs(postconf: str, tmp_path: Path, length: int) -> None:
    """Postfix stops a call more than 100 deep; mailtls stops at the same one and names it."""
    root = write(tmp_path, chained(length), "")
    path, warning = postconf_reads(postconf, root)
    if not warning:
        assert mailtls_value(root) == path
        return
    assert "unreasonable macro call nesting" in warning
    named = warning.split("nesting: ")[1]  # "a28", quotes included
    with pytest.raises(ConfigError, match=f"unreasonable macro call nesting: {named}"):
        mailtls_value(root)


def test_expansion_past_16_mib_is_a_config_error() -> None:
    """30 doubling levels would be 2 GB (Postfix would try): mailtls stops at 16 MiB."""
    params = {"a0": "x", **{f"a{n}": f"$a{n - 1} $a{n - 1}" for n in range(1, 31)}}
    start = time.monotonic()
    with pytest.raises(ConfigError, match="expands to more than 16 MiB"):
        expand("$a30", params.get)
    assert time.monotonic() - start < BOUND_SECONDS


@pytest.mark.parametrize(
    "value",
    ["b " * 4_000_000 + "$a", "$a " + "b " * 4_000_000, "${a?" * 100_000 + "}" * 100_000],
    ids=["calls-itself-last", "calls-itself-first", "nested-conditionals"],
)
def test_16_mb_value_calling_itself_stops_quickly(value: str) -> None:
    """`a = b b ... $a` (8 MB): the nesting limit, in linear time, not 100 scans of 8 MB."""
    start = time.monotonic()
    with pytest.raises(ConfigError, match="unreasonable macro call nesting"):
        expand(value, {"a": value}.get)
    assert time.monotonic() - start < BOUND_SECONDS


@pytest.mark.parametrize("value", ["b b b $a", "$a b b b", "${a}b"])
def test_self_reference_agrees_with_postconf(postconf: str, tmp_path: Path, value: str) -> None:
    """Postfix's first complaint names the piece 101 calls deep; so does mailtls'."""
    root = write(tmp_path, f"a = {value}\nsmtpd_tls_cert_file = $a\n", "")
    _, warning = postconf_reads(postconf, root)
    named = warning.split("nesting: ")[1]
    with pytest.raises(ConfigError, match=f"nesting: {named}"):
        mailtls_value(root)


def dovecot_doubling(levels: int) -> str:
    return "ssl_cert = x\n" + "ssl_cert = $ssl_cert $ssl_cert\n" * levels


def test_dovecot_22_doubling_levels_agree_with_doveconf(doveconf: str, tmp_path: Path) -> None:
    """8 MB from 22 lines: doveconf prints it, mailtls reads the same."""
    (tmp_path / "dovecot.conf").write_text(dovecot_doubling(22))
    done = run([doveconf, "-c", str(tmp_path / "dovecot.conf"), "-h", "ssl_cert"])
    assert done.returncode == 0
    start = time.monotonic()
    config = dovecot.read_config(str(tmp_path / "dovecot.conf"), ConfigFiles(), {})
    assert time.monotonic() - start < BOUND_SECONDS
    assert config.scopes[()]["ssl_cert"].value == done.stdout.rstrip("\n")


def test_dovecot_40_doubling_levels_is_a_config_error(tmp_path: Path) -> None:
    """A terabyte (it was a MemoryError): a config error at the line that passes 16 MiB."""
    (tmp_path / "dovecot.conf").write_text(dovecot_doubling(40))
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"dovecot.conf:24: the value expands to more than 16"):
        dovecot.read_config(str(tmp_path / "dovecot.conf"), ConfigFiles(), {})
    assert time.monotonic() - start < BOUND_SECONDS
