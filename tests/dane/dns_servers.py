"""Real DNS servers on loopback for the DANE tests: NSD serving test zones signed at test time
with ldns-keygen/ldns-signzone, and Unbound validating them with their trust anchors.

The session fixture `dns_servers` is there in every test folder (tests/conftest.py loads this
module as a pytest plugin); it starts in about 0.5 s, once per session:

    from tests.dane.dns_servers import DnsServers

    def test_x(dns_servers: DnsServers) -> None:
        dns_servers.publish({"_25._tcp.mx1.dane.test": ["3 1 1 <hex>", "2 1 1 <hex>"]})
        mailtls audit --dane --resolver <dns_servers.resolver> ...      # "127.0.0.1:PORT"
        # or in-process: resolver_lookup(dns_servers.resolver)("_25._tcp.mx1.dane.test")

Zones (NSD on 127.0.0.1:`authoritative_port`, Unbound on 127.0.0.1:`resolver_port`):
  dane.test.   signed (NSEC), its DS is Unbound's trust anchor: answers have AD
  plain.test.  unsigned, `domain-insecure`: answers without AD
  bogus.test.  signed and anchored, but every TLSA record's data is changed after signing:
               Unbound answers SERVFAIL for TLSA there (other names validate)
Each zone starts with `_25._tcp.mx.ZONE` = `3 1 1` of fixtures/pki/leaf-2025.pem's key and
`2 1 1` of issuing-r1.pem's (`default_tlsa()`); dane.test also has `_25._tcp.alias` (CNAME to
`_25._tcp.mx`) and `_25._tcp.nodata` (a TXT record, no TLSA).

`publish({owner: [rdata, ...]})` replaces every record at those owners (with or without the
final dot; an empty list removes the owner), re-signs, reloads NSD and flushes Unbound's cache
of the zone; it returns once NSD serves the new serial. An rdata is `"U S M HEX"` (TLSA, e.g.
`records.for_cert(cert, 3).text()`) or `"TYPE RDATA"` (`"CNAME _25._tcp.mx.dane.test."`).
The servers live for the whole session: use owner names of your own so tests do not see each
other's records. `silent` is a resolver that reads and never answers (`"127.0.0.1:PORT"`),
for timeouts; `ScriptedResolver(reply)` answers with the bytes you make.

Nothing leaves loopback: Unbound listens and sends from 127.0.0.1 only (`interface`,
`outgoing-interface`, `do-ip6: no`), and every zone it may ask about is a stub on NSD, the root
included (`stub-zone: "."`: Unbound reads stubs before hints, so its built-in root hints are
never used); NSD refuses names outside its zones, so no name resolves through the internet.
The daemons run from a temporary folder, are stopped and the folder removed at the end of the
session, and get SIGTERM if the test process dies first.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest

from mailtls.dane import records
from mailtls.pki.load import load_file
from tests.conftest import FIXTURES, need_binary

SIGNED, PLAIN, BOGUS = "dane.test", "plain.test", "bogus.test"
ZONES = (SIGNED, PLAIN, BOGUS)
READY_SECONDS = 15.0


def default_tlsa() -> list[str]:
    """`3 1 1` of leaf-2025's key and `2 1 1` of its issuer, issuing-r1."""
    leaf = load_file(str(FIXTURES / "pki" / "leaf-2025.pem")).certs[0]
    issuer = load_file(str(FIXTURES / "pki" / "issuing-r1.pem")).certs[0]
    return [
        records.for_cert(leaf, records.DANE_EE).text(),
        records.for_cert(issuer, records.DANE_TA).text(),
    ]


Reply = Callable[[bytes], Sequence[bytes]]  # a question's bytes -> the datagrams sent back


class ScriptedResolver:
    """A UDP socket on 127.0.0.1 that reads every question and sends back what `reply` makes
    of its bytes (nothing: a silent resolver, the timeout case; crafted bytes: hostile ones)."""

    def __init__(self, reply: Reply = lambda _: (), host: str = "127.0.0.1") -> None:
        self.reply = reply
        self.host = host
        self.sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
        )
        self.sock.bind((host, 0))
        self.port = int(self.sock.getsockname()[1])
        self.received = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                question, client = self.sock.recvfrom(4096)
                if not question:
                    return
                self.received += 1
                for datagram in self.reply(question):
                    self.sock.sendto(datagram, client)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom() on Linux
        self.sock.close()


class DnsServers:
    """NSD and Unbound started in `folder`; see the module docstring."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.serial = 1
        self.zones: dict[str, dict[str, list[str]]] = {zone: _initial(zone) for zone in ZONES}
        self.keys = {zone: _keygen(folder, zone) for zone in (SIGNED, BOGUS)}
        self.authoritative_port = _free_port()
        self.resolver_port = _free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.silent_server = ScriptedResolver()

    @property
    def resolver(self) -> str:
        return f"127.0.0.1:{self.resolver_port}"

    @property
    def silent(self) -> str:
        return self.silent_server.address

    def start(self) -> None:
        for zone in ZONES:
            self._write_zone(zone)
        _write(self.folder / "nsd.conf", _nsd_conf(self.folder, self.authoritative_port))
        self._spawn([need_binary("nsd"), "-d", "-c", str(self.folder / "nsd.conf")], "nsd")
        self._wait_serial(self.authoritative_port)
        anchors = "".join(self.keys[zone][1] for zone in (SIGNED, BOGUS))
        _write(self.folder / "anchors", anchors)
        conf = _unbound_conf(self.folder, self.resolver_port, self.authoritative_port)
        _write(self.folder / "unbound.conf", conf)
        self._spawn(
            [need_binary("unbound"), "-d", "-c", str(self.folder / "unbound.conf")], "unbound"
        )
        self._wait_serial(self.resolver_port, secure=True)

    def publish(self, rrsets: Mapping[str, Sequence[str]]) -> None:
        """Replace the records at these owners (names under dane.test, plain.test or
        bogus.test); returns once NSD serves them and Unbound has forgotten the old ones."""
        changed = set()
        for owner, rdatas in rrsets.items():
            name = owner.rstrip(".").lower()
            zone = next((z for z in ZONES if name == z or name.endswith("." + z)), None)
            if zone is None:
                raise ValueError(f"{owner} is in none of {ZONES}")
            self.zones[zone][name] = list(rdatas)
            changed.add(zone)
        self.serial += 1
        for zone in changed:
            self._write_zone(zone)
        self.processes["nsd"].send_signal(signal.SIGHUP)  # NSD reloads the zone files
        self._wait_serial(self.authoritative_port, zones=changed)
        for zone in changed:
            self._unbound_control("flush_zone", zone)
        self._unbound_control("flush_bogus")
        self._unbound_control("flush_negative")

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.silent_server.close()

    def _write_zone(self, zone: str) -> None:
        text = _zone_text(zone, self.serial, self.zones[zone])
        path = self.folder / f"{zone}.zone"
        _write(path, text)
        if zone in self.keys:
            _sign(self.folder, zone, self.keys[zone][0])
            if zone == BOGUS:
                signed = path.with_suffix(".zone.signed")
                signed.write_text(_spoil_tlsa(signed.read_text()))
        elif zone == PLAIN:
            _write(path.with_suffix(".zone.signed"), text)  # NSD reads *.signed for all

    def _spawn(self, command: list[str], name: str) -> None:
        log = (self.folder / f"{name}.out").open("wb")
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, preexec_fn=_orphan_dies
        )
        log.close()

    def _unbound_control(self, *args: str) -> None:
        command = [need_binary("unbound-control"), "-c", str(self.folder / "unbound.conf")]
        subprocess.run([*command, *args], check=True, capture_output=True, timeout=10)

    def _wait_serial(self, port: int, secure: bool = False, zones: set[str] | None = None) -> None:
        """Ask for each zone's SOA until the current serial comes back (with AD where the zone
        is signed and `secure`): readiness by querying, bounded by READY_SECONDS."""
        end = time.monotonic() + READY_SECONDS
        for zone in sorted(zones or set(ZONES)):
            while not self._serves(port, zone, secure and zone != PLAIN):
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited: {self._logs()}")
                if time.monotonic() > end:
                    raise RuntimeError(f"no serial {self.serial} for {zone}: {self._logs()}")
                time.sleep(0.02)  # poll interval between real queries, not a readiness guess

    def _serves(self, port: int, zone: str, secure: bool) -> bool:
        query = dns.message.make_query(zone, dns.rdatatype.SOA, want_dnssec=True)
        query.flags |= dns.flags.AD
        try:
            # TCP: a server not listening yet refuses at once, where UDP would wait it out.
            response = dns.query.tcp(query, "127.0.0.1", timeout=2.0, port=port)
        except (OSError, dns.exception.DNSException):
            return False
        soa = [rr for rrset in response.answer for rr in rrset if rrset.rdtype == dns.rdatatype.SOA]
        fresh = bool(soa) and soa[0].serial == self.serial
        return fresh and (not secure or bool(response.flags & dns.flags.AD))

    def _logs(self) -> str:
        logs = [*self.folder.glob("*.out"), self.folder / "unbound.log", self.folder / "nsd.log"]
        return " | ".join(_tail(path) for path in logs)


def _orphan_dies() -> None:
    """In the daemon, before exec: SIGTERM when the test process dies, however it dies (a
    killed pytest must not leave servers on loopback). Linux prctl(PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _initial(zone: str) -> dict[str, list[str]]:
    names = {f"_25._tcp.mx.{zone}": default_tlsa()}
    if zone == SIGNED:
        names[f"_25._tcp.alias.{zone}"] = [f"CNAME _25._tcp.mx.{zone}."]
        names[f"_25._tcp.nodata.{zone}"] = ['TXT "no TLSA here"']
    return names


def _zone_text(zone: str, serial: int, names: Mapping[str, Sequence[str]]) -> str:
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


def _spoil_tlsa(signed: str) -> str:
    """Change the last hex digit of every TLSA record: its RRSIG no longer verifies."""
    spoiled, count = _TLSA_LINE.subn(lambda m: m[1] + ("0" if m[2] != "0" else "1"), signed)
    if count == 0 and "TLSA" in signed:
        raise RuntimeError(f"no TLSA line spoiled in the bogus zone: {signed[:500]}")
    return spoiled


def _keygen(folder: Path, zone: str) -> tuple[str, str]:
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


def _sign(folder: Path, zone: str, key: str) -> None:
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


def _nsd_conf(folder: Path, port: int) -> str:
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


def _unbound_conf(folder: Path, port: int, authoritative: int) -> str:
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


def _free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP when asked (the daemons bind both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on 127.0.0.1 for both TCP and UDP")


def _write(path: Path, text: str) -> None:
    path.write_text(text)


@pytest.fixture(scope="session")
def dns_servers() -> Iterator[DnsServers]:
    """NSD and Unbound on loopback for the whole session (skipped where they are not
    installed, a failure in CI); stopped and their folder removed at the end."""
    for binary in ("nsd", "unbound", "unbound-control", "ldns-keygen", "ldns-signzone"):
        need_binary(binary)
    with tempfile.TemporaryDirectory(prefix="mailtls-dns-") as folder:
        servers = DnsServers(Path(folder))
        try:
            servers.start()
            yield servers
        finally:
            servers.stop()
