"""`mailtls fix`: the story end to end, every kind of broken file, and the refusals."""

from __future__ import annotations

import datetime as dt
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fixtures.build import FOREVER, issue, key_pem, leaf, pem, utc
from mailtls.audit import AuditOptions
from mailtls.config.discover import read_all
from mailtls.fix.aia import AiaFetcher
from mailtls.fix.apply import WriteError
from mailtls.fix.backups import backups_of
from mailtls.fix.run import FixOptions, FixResult, exit_code, fix
from mailtls.net import Deadline
from mailtls.report import fix_text
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
TRUST = (str(PKI / "root.pem"), str(PKI / "legacy-root.pem"))


def pki(*names: str) -> bytes:
    return b"".join((PKI / name).read_bytes() for name in names)


def dovecot_server(
    tmp_path: Path, cert: bytes, key: bytes | None = None, *, key_in_cert: bool = False
) -> Path:
    """A Dovecot config serving `cert`; the key in its own 0600 file unless `key_in_cert`."""
    ssl = tmp_path / "ssl"
    ssl.mkdir(exist_ok=True)
    (ssl / "cert.pem").write_bytes(cert)
    key_file = ssl / ("cert.pem" if key_in_cert else "key.pem")
    if key is not None and not key_in_cert:
        key_file.write_bytes(key)
    key_file.chmod(0o600)
    conf = tmp_path / "dovecot.conf"
    conf.write_text(f"ssl_cert = <{ssl}/cert.pem\nssl_key = <{key_file}\n")
    return conf


def run_fix(
    conf: Path,
    *,
    intermediates: tuple[str, ...] = (),
    offline: bool = True,
    fetcher: AiaFetcher | None = None,
    dry_run: bool = False,
) -> FixResult:
    """Fix the server at `conf`, the clock pinned, only the fixture roots trusted."""
    settings = AuditOptions(at=AT, ca_files=TRUST, system_trust=False, intermediates=intermediates)
    options = FixOptions(
        audit=settings, offline=offline, dry_run=dry_run, lock_file=str(conf.parent / "lock")
    )
    return fix(read_all([str(conf)], {}), options, fetcher)


def subjects(path: Path) -> list[str]:
    certs = x509.load_pem_x509_certificates(path.read_bytes())
    return [c.subject.rfc4514_string().split(",")[0] for c in certs]


@pytest.fixture
def aia_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that serves R2 as DER at /r2.der, and logs each request."""
    served = x509.load_pem_x509_certificate((PKI / "issuing-r2.pem").read_bytes())
    body = served.public_bytes(serialization.Encoding.DER)
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            status = 200 if self.path == "/r2.der" else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/pkix-cert")
            self.end_headers()
            if status == 200:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # bound before start
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_the_story_intermediate_only_over_aia(
    tmp_path: Path, aia_server: tuple[str, list[str]]
) -> None:
    """Leaf-only file; R2 nowhere on disk, only at the leaf's AIA URL: fix, audit clean,
    backup byte-identical; a second run fetches nothing and changes nothing."""
    base, requests = aia_server
    root = issue("root", "Example Root CA X1", None, (utc(2020, 1, 1), utc(2045, 1, 1)), ca=True)
    r2 = issue(
        "issuing-r2", "Example Issuing CA R2", root, (utc(2025, 6, 1), utc(2040, 6, 1)), ca=True
    )
    story = leaf("leaf-aia", r2, FOREVER, aia=f"{base}/r2.der")
    conf = dovecot_server(tmp_path, pem(story.cert), key_pem(story.key))
    original = (tmp_path / "ssl" / "cert.pem").read_bytes()
    result = run_fix(conf, offline=False, fetcher=AiaFetcher())
    assert [c.added_from for c in result.changes] == [(f"AIA {base}/r2.der",)]
    assert subjects(tmp_path / "ssl" / "cert.pem") == [
        "CN=mail.example.org",
        "CN=Example Issuing CA R2",
    ]
    assert result.after is not None and result.after.findings == ()
    assert exit_code(result, dry_run=False) == 0
    (backup,) = backups_of(str(tmp_path / "ssl" / "cert.pem"), None)
    assert Path(backup).read_bytes() == original
    assert requests == ["/r2.der"]
    again = run_fix(conf, offline=False, fetcher=AiaFetcher())
    assert (again.changes, again.refusals, requests) == ([], [], ["/r2.der"])


def test_aia_failure_is_said_and_nothing_changes(
    tmp_path: Path, aia_server: tuple[str, list[str]]
) -> None:
    base, _ = aia_server
    root = issue("root", "Example Root CA X1", None, (utc(2020, 1, 1), utc(2045, 1, 1)), ca=True)
    r2 = issue(
        "issuing-r2", "Example Issuing CA R2", root, (utc(2025, 6, 1), utc(2040, 6, 1)), ca=True
    )
    story = leaf("leaf-aia", r2, FOREVER, aia=f"{base}/gone.der")
    conf = dovecot_server(tmp_path, pem(story.cert), key_pem(story.key))
    before = (tmp_path / "ssl" / "cert.pem").read_bytes()
    result = run_fix(conf, offline=False, fetcher=AiaFetcher())
    (refusal,) = result.refusals
    assert "HTTP Error 404" in refusal.reason or "Not Found" in refusal.reason
    assert (tmp_path / "ssl" / "cert.pem").read_bytes() == before
    assert exit_code(result, dry_run=False) == 1


# (what the file holds, what it must hold after, where the missing pieces may be found)
CASES = {
    "wrong-order": (
        ["issuing-r2.pem", "leaf-2026.pem"],
        ["CN=mail.example.org", "CN=Example Issuing CA R2"],
        (),
    ),
    "root-included": (
        ["leaf-2026.pem", "issuing-r2.pem", "root.pem"],
        ["CN=mail.example.org", "CN=Example Issuing CA R2"],
        (),
    ),
    "old-intermediate-left-in": (
        ["leaf-2026.pem", "issuing-r1.pem", "issuing-r2.pem"],
        ["CN=mail.example.org", "CN=Example Issuing CA R2"],
        (),
    ),
    "look-alike-instead": (
        ["leaf-2026.pem", "issuing-r2-other-key.pem"],
        ["CN=mail.example.org", "CN=Example Issuing CA R2"],
        ("issuing-r2.pem",),
    ),
    "expired-cross-sign": (
        ["leaf-2026.pem", "issuing-r2.pem", "root-x1-cross.pem"],
        ["CN=mail.example.org", "CN=Example Issuing CA R2"],
        (),
    ),
    "duplicate": (
        ["leaf-2026.pem", "issuing-r2.pem", "issuing-r2.pem"],
        ["CN=mail.example.org", "CN=Example Issuing CA R2"],
        (),
    ),
    "leaf-only-with-intermediates": (
        ["leaf-2026.pem"],
        ["CN=mail.example.org", "CN=Example Issuing CA R2"],
        ("issuing-r1.pem", "issuing-r2-other-key.pem", "issuing-r2.pem"),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_broken_file_is_fixed_and_audits_clean(tmp_path: Path, case: str) -> None:
    served, expected, pool = CASES[case]
    (tmp_path / "pool").mkdir()
    for name in pool:
        (tmp_path / "pool" / name).write_bytes(pki(name))
    conf = dovecot_server(tmp_path, pki(*served), pki("leaf-2026.key"))
    result = run_fix(conf, intermediates=(str(tmp_path / "pool"),))
    assert result.refusals == []
    assert subjects(tmp_path / "ssl" / "cert.pem") == expected
    assert result.after is not None and result.after.findings == ()


def test_combined_key_and_chain_keeps_the_key_first_and_private(tmp_path: Path) -> None:
    conf = dovecot_server(tmp_path, pki("leaf-2026.key", "leaf-2026.pem"), key_in_cert=True)
    result = run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),))
    data = (tmp_path / "ssl" / "cert.pem").read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----") and data.count(b"BEGIN CERTIFICATE") == 2
    assert data.startswith(pki("leaf-2026.key"))
    (written,) = result.written
    assert written.backup is not None
    assert os.stat(written.backup).st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "ssl" / "cert.pem").st_mode & 0o777 == 0o600


def test_symlinked_file_is_written_through(tmp_path: Path) -> None:
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    real = tmp_path / "ssl" / "real.pem"
    (tmp_path / "ssl" / "cert.pem").rename(real)
    (tmp_path / "ssl" / "cert.pem").symlink_to(real)
    result = run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),))
    (change,) = result.changes
    assert (change.path, change.configured) == (str(real), str(tmp_path / "ssl" / "cert.pem"))
    assert (tmp_path / "ssl" / "cert.pem").is_symlink()
    assert subjects(real) == ["CN=mail.example.org", "CN=Example Issuing CA R2"]


def test_renewal_lineage_is_not_rewritten_but_pointed_at(tmp_path: Path) -> None:
    lineage = tmp_path / "dehydrated" / "certs" / "mail.example.org"
    lineage.mkdir(parents=True)
    (lineage / "cert.pem").write_bytes(pki("leaf-2026.pem"))
    (lineage / "fullchain.pem").write_bytes(pki("leaf-2026.pem", "issuing-r2.pem"))
    (lineage / "privkey.pem").write_bytes(pki("leaf-2026.key"))
    (lineage / "privkey.pem").chmod(0o600)
    conf = tmp_path / "dovecot.conf"
    conf.write_text(f"ssl_cert = <{lineage}/cert.pem\nssl_key = <{lineage}/privkey.pem\n")
    result = run_fix(conf)
    assert result.changes == []
    (suggestion,) = result.suggestions
    assert f"point the configuration at {lineage}/fullchain.pem" in suggestion
    assert (lineage / "cert.pem").read_bytes() == pki("leaf-2026.pem")
    assert exit_code(result, dry_run=False) == 1


def test_key_mismatch_is_refused(tmp_path: Path) -> None:
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem"), pki("leaf-rsa.key"))
    before = (tmp_path / "ssl" / "cert.pem").read_bytes()
    result = run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),))
    (refusal,) = result.refusals
    assert "key-mismatch" in refusal.reason
    assert (tmp_path / "ssl" / "cert.pem").read_bytes() == before


def test_no_intermediate_anywhere_changes_nothing(tmp_path: Path) -> None:
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    before = sorted(os.listdir(tmp_path / "ssl"))
    result = run_fix(conf)
    (refusal,) = result.refusals
    assert "no valid certificate for 'CN=Example Issuing CA R2" in refusal.reason
    assert "--offline" in refusal.reason
    assert sorted(os.listdir(tmp_path / "ssl")) == before
    assert exit_code(result, dry_run=False) == 1


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "ssl").iterdir()}
    result = run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),), dry_run=True)
    assert len(result.changes) == 1 and result.written == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "ssl").iterdir()} == before
    assert exit_code(result, dry_run=True) == 1


def test_a_failed_write_is_an_error_and_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.replace fails (a full disk, a read-only mount): exit 2's WriteError, file whole."""
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    before = (tmp_path / "ssl" / "cert.pem").read_bytes()
    real_replace = os.replace

    def failing(src: str, dst: str, **dir_fds: int) -> None:
        if str(dst).endswith("cert.pem"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(WriteError, match="No space left on device"):
        run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),))
    assert (tmp_path / "ssl" / "cert.pem").read_bytes() == before
    assert WriteError.exit_code == 2


def two_file_server(tmp_path: Path) -> Path:
    """Dovecot with a global certificate and a local_name one, both lacking the intermediate."""
    ssl = tmp_path / "ssl"
    ssl.mkdir()
    for name in ("a.pem", "b.pem"):
        (ssl / name).write_bytes(pki("leaf-2026.pem"))
    (ssl / "key.pem").write_bytes(pki("leaf-2026.key"))
    (ssl / "key.pem").chmod(0o600)
    conf = tmp_path / "dovecot.conf"
    conf.write_text(
        f"ssl_cert = <{ssl}/a.pem\nssl_key = <{ssl}/key.pem\n"
        f"local_name imap.example.org {{\n  ssl_cert = <{ssl}/b.pem\n"
        f"  ssl_key = <{ssl}/key.pem\n}}\n"
    )
    return conf


def test_second_file_failing_says_which_changed_and_which_did_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC on the second of two files: the first is rewritten and said so, the second is
    said unchanged, the re-audit still runs, exit 2; each on one line."""
    conf = two_file_server(tmp_path)
    real_replace = os.replace

    def failing(src: str, dst: str, **dir_fds: int) -> None:
        if str(dst) == "b.pem":
            raise OSError(28, "No space left on device")
        real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(os, "replace", failing)
    result = run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),))
    ssl = tmp_path / "ssl"
    assert [w.path for w in result.written] == [str(ssl / "a.pem")]
    assert [f.path for f in result.failed] == [str(ssl / "b.pem")]
    assert (ssl / "b.pem").read_bytes() == pki("leaf-2026.pem")
    assert subjects(ssl / "a.pem") == ["CN=mail.example.org", "CN=Example Issuing CA R2"]
    assert result.after is not None  # audited again
    assert exit_code(result, dry_run=False) == 2
    text = fix_text.render(result, dry_run=False, diff=False)
    assert f"rewrote {ssl}/a.pem" in text
    assert f"NOT written: {ssl}/b.pem: could not write (No space left on device)" in text
    assert f"rewrote {ssl}/b.pem" not in text


def test_a_symlink_into_a_folder_others_can_write_is_not_followed(tmp_path: Path) -> None:
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem"), pki("leaf-2026.key"))
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    real = shared / "real.pem"
    (tmp_path / "ssl" / "cert.pem").rename(real)
    (tmp_path / "ssl" / "cert.pem").symlink_to(real)
    result = run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),))
    (skipped,) = result.skipped
    assert skipped.code == "cert-symlink-unsafe"
    assert f"{shared} is writable by everyone" in skipped.message
    assert real.read_bytes() == pki("leaf-2026.pem")
    assert exit_code(result, dry_run=False) == 1


def aia_story() -> tuple[bytes, bytes, bytes]:
    """A leaf whose R2 is only at its AIA URL: (leaf PEM, key PEM, R2 as DER)."""
    root = issue("root", "Example Root CA X1", None, (utc(2020, 1, 1), utc(2045, 1, 1)), ca=True)
    r2 = issue(
        "issuing-r2", "Example Issuing CA R2", root, (utc(2025, 6, 1), utc(2040, 6, 1)), ca=True
    )
    story = leaf("leaf-aia", r2, FOREVER, aia="http://127.0.0.1:9/r2.der")
    return pem(story.cert), key_pem(story.key), r2.cert.public_bytes(serialization.Encoding.DER)


def test_a_file_renewed_during_the_aia_fetch_is_left_alone(tmp_path: Path) -> None:
    """The renewal lands while the intermediate is fetched: the renewed bytes stay, the run
    says changed-during-fix and exits 1."""
    leaf_pem, key, r2_der = aia_story()
    conf = dovecot_server(tmp_path, leaf_pem, key)
    cert = tmp_path / "ssl" / "cert.pem"
    renewed = leaf_pem + b"# renewed\n"

    def opener(url: str, deadline: Deadline) -> bytes:
        (tmp_path / "ssl" / "new").write_bytes(renewed)
        os.replace(tmp_path / "ssl" / "new", cert)  # what a renewal client does
        return r2_der

    result = run_fix(conf, offline=False, fetcher=AiaFetcher(opener=opener))
    assert cert.read_bytes() == renewed
    assert [f.code for f in result.skipped] == ["changed-during-fix"]
    assert result.written == []
    assert exit_code(result, dry_run=False) == 1
    assert backups_of(str(cert), None) == []
    text = fix_text.render(result, dry_run=False, diff=False).splitlines()
    assert text[0] == (
        f"left alone: {cert} changed since it was read (renewed meanwhile?) [changed-during-fix]"
    )


def test_a_certificate_file_that_also_holds_the_key_is_backed_up_private(
    tmp_path: Path,
) -> None:
    """The key is configured apart, but the certificate file carries it too: its backup is
    0600 however the file was (never a 0640 copy of the key); the file keeps its own mode."""
    conf = dovecot_server(tmp_path, pki("leaf-2026.pem", "leaf-2026.key"), pki("leaf-2026.key"))
    cert = tmp_path / "ssl" / "cert.pem"
    cert.chmod(0o640)
    result = run_fix(conf, intermediates=(str(PKI / "issuing-r2.pem"),))
    (written,) = result.written
    assert written.backup is not None
    assert os.stat(written.backup).st_mode & 0o777 == 0o600
    assert cert.stat().st_mode & 0o777 == 0o640
