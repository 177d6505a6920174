"""`mailtls audit --dane` and `hook --dane` end to end, against the real loopback DNS servers
of tests/dane/dns_servers.py (NSD serving signed zones, Unbound validating them): a key
rollover caught before DANE senders defer mail. Certificates for the test zones' names are
made here (fixtures/build.py), the records computed by openssl from their files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures.build import FOREVER, issue, key_pem, leaf, pem
from tests.dane.dns_servers import DnsServers
from tests.dane.oracle import openssl_data, openssl_key_data
from tests.test_cli import mailtls

MAILTLS = str(Path(sys.executable).parent / "mailtls")


class Rollover:
    """A host renewed with a new key and a new intermediate: `old.pem` what was served,
    `new.pem` (with `new.key`) what is on disk now, `next.key` the key after that."""

    def __init__(self, folder: Path, host: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.host, self.owner = folder, host, f"_25._tcp.{host}."
        root = issue("dane-root", "DANE Test Root", None, FOREVER, ca=True)
        cas = [issue(f"dane-ca-{n}", f"DANE Test CA {n}", root, FOREVER, ca=True) for n in (1, 2)]
        old = leaf(f"dane-old-{host}", cas[0], FOREVER, dns_names=(host,))
        new = leaf(f"dane-new-{host}", cas[1], FOREVER, dns_names=(host,))
        upcoming = leaf(f"dane-next-{host}", cas[1], FOREVER, dns_names=(host,))
        files = {
            "root.pem": pem(root.cert),
            "old.pem": pem(old.cert, cas[0].cert),
            "old-ca.pem": pem(cas[0].cert),
            "new.pem": pem(new.cert, cas[1].cert),
            "new-leaf.pem": pem(new.cert),
            "new-ca.pem": pem(cas[1].cert),
            "new.key": key_pem(new.key),
            "next.key": key_pem(upcoming.key),
        }
        for name, data in files.items():
            (folder / name).write_bytes(data)
        (folder / "new.key").chmod(0o600)

    def rdata(self, usage: int, name: str) -> str:
        """`3 1 1` or `2 1 1` of the file's first certificate, by openssl."""
        return f"{usage} 1 1 {openssl_data(self.folder / name, 1, 1).hex()}"

    def pinned(self) -> tuple[str, ...]:
        return ("--at", "2026-11-29", "--ca-file", str(self.folder / "root.pem"),
                "--no-system-trust")  # fmt: skip

    def postfix(self, chain: str = "new.pem") -> Path:
        """Postfix receiving mail as the host, `chain` on disk."""
        conf = self.folder / "postfix"
        conf.mkdir(exist_ok=True)
        (conf / "fullchain.pem").write_bytes((self.folder / chain).read_bytes())
        (conf / "main.cf").write_text(
            f"myhostname = {self.host}\nsmtpd_tls_security_level = may\n"
            f"smtpd_tls_cert_file = {conf}/fullchain.pem\n"
            f"smtpd_tls_key_file = {self.folder}/new.key\n"
        )
        return conf

    def publish(self, dns: DnsServers, *rdatas: str) -> None:
        dns.publish({self.owner: list(rdatas)})


def audit(dns: DnsServers, host: Rollover, *more: str) -> tuple[int, list[dict[str, str]]]:
    done = mailtls(
        "audit", str(host.postfix()), *host.pinned(), "--dane", "--resolver", dns.resolver,
        "--format", "json", *more,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    found = json.loads(done.stdout)["findings"]
    assert all(f["code"].startswith("tlsa-") for f in found), found
    return done.returncode, found


def test_records_of_the_old_key_are_a_mismatch(dns_servers: DnsServers, tmp_path: Path) -> None:
    """The zone still has the 3 1 1 of the old key and the 2 1 1 of the old intermediate."""
    host = Rollover(tmp_path, "roll-old.dane.test")
    host.publish(dns_servers, host.rdata(3, "old.pem"), host.rdata(2, "old-ca.pem"))
    code, (finding,) = audit(dns_servers, host)
    assert (code, finding["code"], finding["severity"]) == (1, "tlsa-mismatch", "error")
    published = (
        f"(2 1 1 {host.rdata(2, 'old-ca.pem')[6:22]}, 3 1 1 {host.rdata(3, 'old.pem')[6:22]})"
    )
    assert finding["message"].startswith(
        f"{host.owner}: none of the signed TLSA records {published}"
    )
    assert f"{host.owner} IN TLSA {host.rdata(3, 'new.pem')}" in finding["message"]
    assert f"{host.owner} IN TLSA {host.rdata(2, 'new-ca.pem')}" in finding["message"]


def test_old_and_new_records_published_first_are_clean(
    dns_servers: DnsServers, tmp_path: Path
) -> None:
    host = Rollover(tmp_path, "roll-both.dane.test")
    host.publish(dns_servers, host.rdata(3, "old.pem"), host.rdata(3, "new.pem"))
    assert audit(dns_servers, host) == (0, [])
    # the new intermediate's 2 1 1 alone is as good
    host.publish(dns_servers, host.rdata(2, "new-ca.pem"))
    assert audit(dns_servers, host) == (0, [])


def test_records_of_the_next_key_only(dns_servers: DnsServers, tmp_path: Path) -> None:
    """The next key's record published and the current one's removed, before the rollover."""
    host = Rollover(tmp_path, "roll-early.dane.test")
    next_key = tmp_path / "next.key"
    host.publish(dns_servers, f"3 1 1 {openssl_key_data(next_key).hex()}")
    code, (finding,) = audit(dns_servers, host, "--next", str(next_key))
    assert (code, finding["code"]) == (1, "tlsa-only-next")
    _, (plain,) = audit(dns_servers, host)
    assert plain["code"] == "tlsa-mismatch"  # without --next, nothing tells them apart


def test_unsigned_zone(dns_servers: DnsServers, tmp_path: Path) -> None:
    host = Rollover(tmp_path, "roll.plain.test")
    host.publish(dns_servers, host.rdata(3, "new.pem"))
    code, (finding,) = audit(dns_servers, host)
    assert (code, finding["code"], finding["severity"]) == (0, "tlsa-unsigned", "warning")
    assert "they match the chain" in finding["message"]


def test_bogus_zone_is_a_lookup_failure(dns_servers: DnsServers, tmp_path: Path) -> None:
    host = Rollover(tmp_path, "roll.bogus.test")
    host.publish(dns_servers, host.rdata(3, "new.pem"))
    code, (finding,) = audit(dns_servers, host)
    assert (code, finding["code"]) == (1, "tlsa-lookup-failed")
    assert "servfail" in finding["message"]


def test_a_resolver_that_never_answers_is_a_lookup_failure(
    dns_servers: DnsServers, tmp_path: Path
) -> None:
    """A UDP resolver on loopback that reads every question and answers none: one timeout."""
    host = Rollover(tmp_path, "roll-timeout.dane.test")
    args = (*host.pinned(), "--dane", "--resolver", dns_servers.silent, "--format", "json")
    done = mailtls("audit", str(host.postfix()), *args)
    assert done.returncode == 1, done.stderr
    (finding,) = json.loads(done.stdout)["findings"]
    assert finding["code"] == "tlsa-lookup-failed"
    assert "failed: timeout" in finding["message"]


def test_no_records_is_silent(dns_servers: DnsServers, tmp_path: Path) -> None:
    assert audit(dns_servers, Rollover(tmp_path, "nothing-here.dane.test")) == (0, [])


def test_text_report_catches_the_rollover(dns_servers: DnsServers, tmp_path: Path) -> None:
    host = Rollover(tmp_path, "mx-text.dane.test")
    host.publish(dns_servers, host.rdata(3, "old.pem"), host.rdata(2, "old-ca.pem"))
    args = ("audit", str(host.postfix()), *host.pinned(), "--dane", "--resolver")
    done = mailtls(*args, dns_servers.resolver)
    assert done.returncode == 1, done.stderr
    assert f"error tlsa-mismatch {host.owner}: none of the signed TLSA" in done.stdout


def hook(dns: DnsServers, host: Rollover, *more: str) -> subprocess.CompletedProcess[str]:
    """certbot's deploy hook after a renewal with a new key: the admin copied cert.pem (the
    leaf alone) where Postfix reads it; the lineage has the chain."""
    live = host.folder / "live" / host.host
    live.mkdir(parents=True, exist_ok=True)
    for name, source in {"cert.pem": "new-leaf.pem", "chain.pem": "new-ca.pem",
                         "fullchain.pem": "new.pem", "privkey.pem": "new.key"}.items():  # fmt: skip
        (live / name).write_bytes((host.folder / source).read_bytes())
    config = host.postfix("new-leaf.pem")
    clean = {k: v for k, v in os.environ.items() if k not in ("RENEWED_LINEAGE", "CERT_PATH")}
    env = clean | {"RENEWED_LINEAGE": str(live), "RENEWED_DOMAINS": host.host}
    return subprocess.run(
        [MAILTLS, "hook", str(config), *host.pinned(), "--offline", "--postfix-reload", "true",
         "--wait", "0", "--resolver", dns.resolver, *more],
        env=env | {"MAILTLS_LOCK_FILE": str(host.folder / "lock")},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def served_file(host: Rollover) -> bytes:
    return (host.folder / "postfix" / "fullchain.pem").read_bytes()


def test_hook_warns_fixes_and_exits_1(dns_servers: DnsServers, tmp_path: Path) -> None:
    host = Rollover(tmp_path, "hook-warn.dane.test")
    host.publish(dns_servers, host.rdata(3, "old.pem"), host.rdata(2, "old-ca.pem"))
    done = hook(dns_servers, host, "--dane")
    assert done.returncode == 1, done.stdout + done.stderr
    owner = host.owner
    assert f"mailtls hook: WARNING: {owner}: the renewed chain in" in done.stderr
    assert f"mailtls hook: WARNING:   {owner} IN TLSA {host.rdata(3, 'new.pem')}" in done.stderr
    assert served_file(host) == (tmp_path / "new.pem").read_bytes()  # fixed all the same
    assert f"publish: {owner} IN TLSA {host.rdata(2, 'new-ca.pem')}" in done.stdout


def test_hook_strict_refuses_until_the_records_match(
    dns_servers: DnsServers, tmp_path: Path
) -> None:
    host = Rollover(tmp_path, "hook-strict.dane.test")
    host.publish(dns_servers, host.rdata(3, "old.pem"))
    done = hook(dns_servers, host, "--dane-strict")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("mailtls hook: NOT fixed or reloaded (--dane-strict)")
    assert served_file(host) == (tmp_path / "new-leaf.pem").read_bytes()
    host.publish(dns_servers, host.rdata(3, "old.pem"), host.rdata(3, "new.pem"))
    again = hook(dns_servers, host, "--dane-strict")
    assert again.returncode == 0, again.stdout + again.stderr
    assert served_file(host) == (tmp_path / "new.pem").read_bytes()
