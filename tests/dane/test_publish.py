"""`mailtls dane records`: the records to publish for what Postfix serves on port 25, in
zone-file syntax, with the data computed by openssl from the same files."""

from __future__ import annotations

from pathlib import Path

from tests.dane.oracle import PKI, openssl_data, openssl_key_data
from tests.test_cli import DEMO, mailtls

MASTER = """smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_cert_file={sub}
  -o smtpd_tls_key_file={sub}
"""


def bundle(path: Path, *names: str) -> Path:
    path.write_bytes(b"".join((PKI / n).read_bytes() for n in names))
    return path


def postfix(tmp_path: Path, myhostname: str = "mx.example.org") -> Path:
    """RSA and ECDSA certificates with their issuers, an SNI entry, and a submission
    service with a certificate of its own (port 587: not printed)."""
    rsa = bundle(tmp_path / "rsa.pem", "leaf-rsa.pem", "issuing-r2.pem")
    ecdsa = bundle(tmp_path / "ecdsa.pem", "leaf-2025.pem", "issuing-r1.pem")
    other = bundle(tmp_path / "other.pem", "leaf-2026.key", "leaf-2026-fullchain.pem")
    sub = bundle(tmp_path / "sub.pem", "leaf-private.key", "leaf-private.pem")
    (tmp_path / "sni").write_text(f"other.example.net {other}\n.example.com {other}\n")
    (tmp_path / "main.cf").write_text(
        f"myhostname = {myhostname}\nsmtpd_tls_security_level = may\n"
        f"smtpd_tls_cert_file = {rsa}\nsmtpd_tls_key_file = {PKI / 'keys' / 'leaf-rsa.key'}\n"
        f"smtpd_tls_eccert_file = {ecdsa}\nsmtpd_tls_eckey_file = {PKI / 'leaf-2025.key'}\n"
        f"tls_server_sni_maps = hash:{tmp_path / 'sni'}\n"
    )
    (tmp_path / "master.cf").write_text(MASTER.format(sub=sub))
    return tmp_path


def rr(owner: str, usage: int, cert: str) -> str:
    return f"{owner} IN TLSA {usage} 1 1 {openssl_data(PKI / cert, 1, 1).hex()}"


MX = "_25._tcp.mx.example.org."
OTHER = "_25._tcp.other.example.net."


def test_records_for_each_endpoint_and_name(tmp_path: Path) -> None:
    """Both keys of the default certificates under myhostname, the SNI entry under its own
    name; the `.example.com` entry (subdomains) is said on stderr; submission is left out."""
    root = postfix(tmp_path)
    done = mailtls("dane", "records", str(root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"; postfix:global: {root / 'rsa.pem'}",
        rr(MX, 3, "leaf-rsa.pem"),
        rr(MX, 2, "issuing-r2.pem"),
        f"; postfix:global:ecdsa: {root / 'ecdsa.pem'}",
        rr(MX, 3, "leaf-2025.pem"),
        rr(MX, 2, "issuing-r1.pem"),
        f"; postfix:sni other.example.net: {root / 'other.pem'}",
        rr(OTHER, 3, "leaf-2026.pem"),
        rr(OTHER, 2, "issuing-r2.pem"),
    ]
    assert "postfix:sni .example.com names only a domain's subdomains" in done.stderr
    assert "private" not in done.stdout + done.stderr


def test_name_picks_what_postfix_serves_for_it(tmp_path: Path) -> None:
    """An SNI name gets its entry's records; any other name the default certificates'."""
    root = postfix(tmp_path)
    done = mailtls("dane", "records", str(root), "--name", "other.example.net")
    assert done.stdout.splitlines()[1:] == [
        rr(OTHER, 3, "leaf-2026.pem"),
        rr(OTHER, 2, "issuing-r2.pem"),
    ]
    done = mailtls(
        "dane", "records", str(root), "--name", "a.example.com", "--name", "mx2.example.org"
    )
    lines = [line for line in done.stdout.splitlines() if not line.startswith(";")]
    assert lines == [
        rr("_25._tcp.a.example.com.", 3, "leaf-2026.pem"),
        rr("_25._tcp.a.example.com.", 2, "issuing-r2.pem"),
        rr("_25._tcp.mx2.example.org.", 3, "leaf-rsa.pem"),
        rr("_25._tcp.mx2.example.org.", 2, "issuing-r2.pem"),
        rr("_25._tcp.mx2.example.org.", 3, "leaf-2025.pem"),
        rr("_25._tcp.mx2.example.org.", 2, "issuing-r1.pem"),
    ]


def test_next_key_is_added_for_every_name(tmp_path: Path) -> None:
    """A rollover: the next key's `3 1 1` beside the current records, to publish first."""
    key = PKI / "keys" / "leaf-rsa.key"
    path = bundle(tmp_path / "chain.pem", "leaf-2025.pem", "issuing-r1.pem")
    done = mailtls("dane", "records", str(path), "--name", "mail.example.org", "--next", str(key))
    owner = "_25._tcp.mail.example.org."
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"; file:{path}",
        rr(owner, 3, "leaf-2025.pem"),
        rr(owner, 2, "issuing-r1.pem"),
        f"; next: {key} (publish before deploying it)",
        f"{owner} IN TLSA 3 1 1 {openssl_key_data(key).hex()}",
    ]


def test_next_certificate_brings_its_issuer(tmp_path: Path) -> None:
    """The next chain has another intermediate: its `2 1 1` is printed too."""
    path = bundle(tmp_path / "chain.pem", "leaf-2025.pem", "issuing-r1.pem")
    renewed = bundle(tmp_path / "renewed.pem", "leaf-2026.pem", "issuing-r2.pem")
    done = mailtls(
        "dane", "records", str(path), "--name", "mail.example.org", "--next", str(renewed)
    )
    assert done.stdout.splitlines()[-2:] == [
        rr("_25._tcp.mail.example.org.", 3, "leaf-2026.pem"),
        rr("_25._tcp.mail.example.org.", 2, "issuing-r2.pem"),
    ]


def test_leaf_alone_gets_no_dane_ta_record(tmp_path: Path) -> None:
    path = bundle(tmp_path / "leaf.pem", "leaf-2025.pem")
    done = mailtls("dane", "records", str(path), "--name", "mail.example.org")
    assert done.returncode == 0
    assert done.stdout.splitlines()[1:] == [rr("_25._tcp.mail.example.org.", 3, "leaf-2025.pem")]
    assert "its issuing CA is not in the files, so no 2 1 1 record" in done.stderr


def test_what_cannot_be_printed_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = bundle(tmp_path / "chain.pem", "leaf-2025.pem", "issuing-r1.pem")
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    cases = [
        (["dane", "records", str(path)], "is a certificate file: say which host with --name"),
        (["dane", "records", str(path), "--name", "bad name"], "not a host name"),
        (
            ["dane", "records", str(path), "--name", "a.org", "--next", str(tmp_path / "no")],
            "no such file",
        ),
        (["dane", "records", str(path), "--name", "a.org", "--next", str(garbage)], "no key or"),
        (["dane", "records", str(DEMO / "dovecot")], "no Postfix endpoint here receives mail"),
        (["dane", "records", str(postfix(tmp_path, "bad\x1bname"))], "has no myhostname"),
    ]
    for args, message in cases[:-1]:
        done = mailtls(*args)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    # A myhostname that is no host name: the SNI entry is still printed, the rest said.
    done = mailtls(*cases[-1][0])
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "a TLSA owner: 'bad\\x1bname'" in done.stderr
    assert OTHER in done.stdout and "mx.example.org" not in done.stdout


def test_encrypted_next_key_says_what_to_give(tmp_path: Path) -> None:
    key = tmp_path / "next.key"
    key.write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    path = bundle(tmp_path / "chain.pem", "leaf-2025.pem")
    done = mailtls("dane", "records", str(path), "--name", "a.org", "--next", str(key))
    assert done.returncode == 2
    assert "the key is encrypted: give its public key" in done.stderr
