"""`mailtls hook --dane`: the published TLSA records checked against the renewed files
before anything is fixed or reloaded. The answers come from an in-memory look-up given
through HookOptions: these tests ask no DNS server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

from mailtls.audit import AuditOptions
from mailtls.dane.answer import Answer, Status
from mailtls.dane.audit import DaneCheck
from mailtls.dane.records import TlsaRecord, for_cert
from mailtls.fix.run import FixOptions
from mailtls.hook.run import HookOptions, HookResult, run_hook
from tests.dane.oracle import openssl_data
from tests.hook.test_hook_daemons import PKI, pki

NAME = "mail.example.org"
OWNER = f"_25._tcp.{NAME}"
AT = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)


def old_key_record() -> TlsaRecord:
    """The record of the key before the renewal (leaf-rsa), as the zone still has it."""
    return for_cert(x509.load_pem_x509_certificate(pki("leaf-rsa.pem")), 3)


def new_key_line() -> str:
    return f"{OWNER}. IN TLSA 3 1 1 {openssl_data(PKI / 'leaf-2026.pem', 1, 1).hex()}"


class Zone:
    """The look-up: answers by owner name, and the names asked."""

    def __init__(self, answer: Answer | None) -> None:
        self.answer, self.asked = answer, list[str]()

    def __call__(self, owner: str) -> Answer:
        self.asked.append(owner)
        if self.answer is None or owner.rstrip(".") != OWNER:
            return Answer(owner, Status.NXDOMAIN, secure=True)
        return self.answer


def renewal(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Postfix serving the renewed leaf alone (the admin copied cert.pem), and certbot's
    environment naming the lineage that has the full chain."""
    ssl = tmp_path / "ssl"
    ssl.mkdir(parents=True)
    (ssl / "cert.pem").write_bytes(pki("leaf-2026.pem"))
    (ssl / "key.pem").write_bytes(pki("leaf-2026.key"))
    (ssl / "key.pem").chmod(0o600)
    (tmp_path / "postfix").mkdir()
    (tmp_path / "postfix" / "main.cf").write_text(
        f"myhostname = {NAME}\nsmtpd_tls_security_level = may\n"
        f"smtpd_tls_cert_file = {ssl}/cert.pem\nsmtpd_tls_key_file = {ssl}/key.pem\n"
    )
    live = tmp_path / "live" / NAME
    live.mkdir(parents=True)
    for name, parts in {
        "cert.pem": ("leaf-2026.pem",),
        "chain.pem": ("issuing-r2.pem",),
        "fullchain.pem": ("leaf-2026.pem", "issuing-r2.pem"),
        "privkey.pem": ("leaf-2026.key",),
    }.items():
        (live / name).write_bytes(pki(*parts))
    return ssl / "cert.pem", {"RENEWED_LINEAGE": str(live), "RENEWED_DOMAINS": NAME}


def hook(
    tmp_path: Path, zone: Zone, strict: bool = False, dane: bool = True
) -> tuple[HookResult, list[str]]:
    _, env = renewal(tmp_path)
    audit = AuditOptions(at=AT, ca_files=(str(PKI / "root.pem"),), system_trust=False)
    fix = FixOptions(
        audit=audit, offline=True, lock_file=str(tmp_path / "lock"), postfix_command="true"
    )
    check = DaneCheck(zone) if dane else None
    options = HookOptions(fix, wait=0, dane=check, dane_strict=strict)
    lines: list[str] = []
    result = run_hook([str(tmp_path / "postfix")], env, options, lines.append)
    assert result is not None
    return result, lines


def fixed(tmp_path: Path) -> bool:
    return (tmp_path / "ssl" / "cert.pem").read_bytes() == pki("leaf-2026.pem", "issuing-r2.pem")


def test_records_of_the_renewed_key_let_the_hook_go_on(tmp_path: Path) -> None:
    zone = Zone(Answer(OWNER, Status.OK, (old_key_record(), for_cert(
        x509.load_pem_x509_certificate(pki("leaf-2026.pem")), 3)), secure=True))  # fmt: skip
    result, lines = hook(tmp_path, zone)
    assert result.code == 0, result
    assert fixed(tmp_path)
    assert zone.asked == [OWNER]
    assert "DANE: the published TLSA records match the renewed chain (1 name(s))" in lines
    assert not any(line.startswith("WARNING") for line in lines)


def test_records_of_the_old_key_only_warn_fix_and_exit_1(tmp_path: Path) -> None:
    """The renewal made a new key; the zone still has the old one's record."""
    zone = Zone(Answer(OWNER, Status.OK, (old_key_record(),), secure=True))
    result, lines = hook(tmp_path, zone)
    assert result.code == 1
    assert fixed(tmp_path)  # fixed and reloaded all the same
    warnings = [line for line in lines if line.startswith("WARNING")]
    assert warnings[0].startswith(
        f"WARNING: {OWNER}.: the renewed chain in {tmp_path}/ssl/cert.pem"
    )
    assert f"WARNING:   {new_key_line()}" in warnings
    assert "publish the new TLSA records" in result.summary
    assert f"publish: {new_key_line()}" in result.problems
    assert lines.index(warnings[0]) < next(i for i, s in enumerate(lines) if "rewrote" in s)


def test_strict_refuses_to_fix_or_reload(tmp_path: Path) -> None:
    zone = Zone(Answer(OWNER, Status.OK, (old_key_record(),), secure=True))
    result, lines = hook(tmp_path, zone, strict=True)
    assert result.code == 1
    assert not fixed(tmp_path)
    assert result.summary.startswith("mailtls hook: NOT fixed or reloaded (--dane-strict)")
    assert "a daemon restart would load the new files anyway" in result.summary
    assert f"publish: {new_key_line()}" in result.problems
    assert not any("rewrote" in line or "reload" in line.lower() for line in lines)


def test_a_failed_lookup_warns_and_blocks_only_under_strict(tmp_path: Path) -> None:
    zone = Zone(Answer(OWNER, Status.SERVFAIL, detail="127.0.0.1:53 answered SERVFAIL"))
    result, lines = hook(tmp_path / "a", zone)
    assert result.code == 0, result
    assert fixed(tmp_path / "a")
    (warning,) = [line for line in lines if line.startswith("WARNING")]
    assert "the TLSA lookup failed: servfail (127.0.0.1:53 answered SERVFAIL)" in warning
    strict, _ = hook(tmp_path / "b", zone, strict=True)
    assert strict.code == 1
    assert not fixed(tmp_path / "b")
    assert any("servfail" in problem for problem in strict.problems)


def test_unsigned_records_are_said_but_change_nothing(tmp_path: Path) -> None:
    zone = Zone(Answer(OWNER, Status.OK, (old_key_record(),), secure=False))
    result, lines = hook(tmp_path, zone, strict=True)
    assert (result.code, fixed(tmp_path)) == (0, True)
    assert any("not DNSSEC-validated" in line for line in lines)


def test_without_dane_nothing_is_looked_up(tmp_path: Path) -> None:
    zone = Zone(Answer(OWNER, Status.OK, (old_key_record(),), secure=True))
    result, _ = hook(tmp_path, zone, dane=False)
    assert (result.code, zone.asked) == (0, [])


def test_a_2_1_1_of_the_lineage_intermediate_matches_the_leaf_only_file(tmp_path: Path) -> None:
    """The file holds the leaf alone before the fix; the lineage's chain.pem is what the fix
    adds, so a 2 1 1 of that CA matches (no false alarm that --dane-strict would act on)."""
    issuer = x509.load_pem_x509_certificate(pki("issuing-r2.pem"))
    zone = Zone(Answer(OWNER, Status.OK, (for_cert(issuer, 2),), secure=True))
    result, lines = hook(tmp_path, zone, strict=True)
    assert (result.code, fixed(tmp_path)) == (0, True), result
    assert not any(line.startswith("WARNING") for line in lines)


def test_no_records_published_is_said_as_such_not_as_a_match(tmp_path: Path) -> None:
    """Found by review: an NXDOMAIN was logged as "the published TLSA records match"."""
    zone = Zone(Answer(OWNER, Status.NXDOMAIN, secure=True))
    result, lines = hook(tmp_path, zone)
    assert result.code == 0, result
    assert "DANE: no TLSA records published for 1 name(s)" in lines
    assert not any("records match" in line for line in lines)
