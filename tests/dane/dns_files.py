"""The files the loopback DNS servers read: zone text, keys and signatures (ldns), the
bogus zone's spoiled records, nsd.conf and unbound.conf (see dns_servers.py for why nothing
they do leaves 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.conftest import need_binary

SIGNED, PLAIN, BOGUS = "dane.test", "plain.test", "bogus.test"
ZONES = (SIGNED, PLAIN, BOGUS)


def zone_text(zone: str, serial: int, names: Mapping[str, Sequence[str]]) -> str:
    lines = [
        f"$TTL 300\n{zone}. SOA ns.{zone}. hostmaster.{zone}. {serial} 3600 600 86400 300",
        f"{zone}. NS ns.{zone}.",
        f"ns.{zone}. A 127.0.0.1",
    ]
    for name, rdatas in sorted(names.items()):
        for rdata in rdatas:
            kind = "" if rdata[:1].isdigit() else rdata.split()[0].upper()
            value = rdata if kind else f"TLSA {rdata}"
            lines.append(f"{name}. IN {value}")
    return "\n".join(lines) + "\n"


_TLSA_LINE = re.compile(r"^(\S+\s+\d+\s+IN\s+TLSA\s+\d+ \d+ \d+ \S*)([0-9a-f])$", re.M)


def spoil_tlsa(signed: str) -> str:
    """Change the last hex digit of every TLSA record: its RRSIG no longer verifies."""
    spoiled, count = _TLSA_LINE.subn(lambda m: m[1] + ("0" if m[2] != "0" else "1"), signed)
    if count == 0 and "TLSA" in signed:
        raise RuntimeError(f"no TLSA line spoiled in the bogus zone: {signed[:500]}")
    return spoiled


def keygen(folder: Path, zone: str) -> tuple[str, str]:
    """An ECDSA P-256 key for `zone` (its base name for ldns-signzone) and its DS record."""
    done = subprocess.run(
        [need_binary("ldns-keygen"), "-a", "ECDSAP256SHA256", "-k", zone],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    base = done.stdout.strip()
    return base, (folder / f"{base}.ds").read_text()


def sign(folder: Path, zone: str, key: str) -> None:
    today = dt.datetime.now(dt.UTC)
    stamp = "%Y%m%d%H%M%S"
    subprocess.run(
        [
            need_binary("ldns-signzone"),
            "-i",
            (today - dt.timedelta(days=1)).strftime(stamp),
            "-e",
            (today + dt.timedelta(days=7)).strftime(stamp),
            "-o",
            zone,
            f"{zone}.zone",
            key,
        ],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=30,
    )


def nsd_conf(folder: Path, port: int) -> str:
    zones = "".join(f"zone:\n  name: {z}\n  zonefile: {z}.zone.signed\n" for z in ZONES)
    return f"""server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{folder}"
  database: ""
  zonelistfile: "{folder}/zone.list"
  xfrdfile: "{folder}/xfrd.state"
  xfrdir: "{folder}"
  pidfile: "{folder}/nsd.pid"
  logfile: "{folder}/nsd.log"
  server-count: 1
  verbosity: 1
  # Response rate limiting (on by default: 200 a second) would drop Unbound's bulk questions.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
{zones}"""


def unbound_conf(folder: Path, port: int, authoritative: int) -> str:
    stubs = "".join(
        f'stub-zone:\n  name: "{z}"\n  stub-addr: 127.0.0.1@{authoritative}\n'
        for z in (".", *ZONES)
    )
    return f"""server:
  interface: 127.0.0.1@{port}
  port: {port}
  outgoing-interface: 127.0.0.1
  do-ip6: no
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "{folder}"
  pidfile: "{folder}/unbound.pid"
  logfile: "{folder}/unbound.log"
  use-syslog: no
  do-daemonize: no
  num-threads: 1
  so-reuseport: no
  trust-anchor-file: "{folder}/anchors"
  domain-insecure: "{PLAIN}"
  local-zone: "test." nodefault
  module-config: "validator iterator"
  target-fetch-policy: "0 0 0 0 0"
  prefetch: no
  val-log-level: 2
  verbosity: {os.environ.get("MAILTLS_UNBOUND_VERBOSITY", "1")}
remote-control:
  control-enable: yes
  control-interface: "{folder}/unbound.ctl"
  control-use-cert: no
{stubs}"""
