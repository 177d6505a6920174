"""`mailtls audit --live` against the real Dovecot and Postfix on 127.0.0.1 high ports, serving
a synthetic host of N domains (benchmarks/hostgen.py) by SNI: Dovecot `local_name` blocks on
one imaps listener, Postfix `tls_server_sni_maps` (built by `postmap -F`) on one STARTTLS smtp
listener. Each domain's name is probed on both: 2N + 2 handshakes.

    python benchmarks/live_bench.py [--domains 1000] [--runs 3]

Needs root (Postfix's queue belongs to the postfix user) and Debian's dovecot and postfix.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import contenders, hostgen
from benchmarks.measure import Run, Timing, run
from tests.daemons import POSTFIX_SERVICES, free_ports

# Dovecot's login processes: its default starts one process per connection (~8 ms of CPU
# each here, most of an --live run's cost); the documented high-performance mode keeps a few.
MODES = {
    "high-security": "",
    "high-performance": "  service_count = 0\n  process_min_avail = 2\n",
}


def wait_listening(port: int, log: Path, seconds: float = 30.0) -> None:
    """A bounded poll of the port, never a fixed sleep."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if time.monotonic() > deadline:
            text = log.read_text()[-2000:] if log.exists() else "(no log)"
            raise SystemExit(f"port {port} never listened; log:\n{text}")
        time.sleep(0.05)


def _start(argv: list[str], log: Path) -> None:
    """Output to a file: the daemon keeps inherited descriptors open."""
    with log.open("w") as out:
        code = subprocess.run(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, timeout=120)
    if code.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def dovecot(host: hostgen.Host, port: int, mode: str) -> Iterator[None]:
    """hostgen's dovecot.conf (its local_name blocks) with one imaps listener added, its
    login processes in `mode` (see MODES)."""
    root = host.dovecot_conf.parent
    for folder in ("run", "state"):
        (root / folder).mkdir()
    with host.dovecot_conf.open("a") as conf:
        conf.write(
            f"listen = 127.0.0.1\nbase_dir = {root}/run\nstate_dir = {root}/state\n"
            f"instance_name = mailtls-bench-{port}\nlog_path = {root}/dovecot.log\n"
            "passdb {\n  driver = static\n  args = password=unused\n}\n"
            "userdb {\n  driver = static\n  args = uid=nobody gid=nogroup home=/nonexistent\n}\n"
            "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n"
            f"  inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n{MODES[mode]}}}\n"
        )
    _start(["dovecot", "-c", str(host.dovecot_conf)], root / "start.log")
    try:
        wait_listening(port, root / "dovecot.log")
        yield
    finally:
        subprocess.run(
            ["doveadm", "-c", str(host.dovecot_conf), "stop"], capture_output=True, check=False
        )


@contextlib.contextmanager
def postfix(host: hostgen.Host, port: int) -> Iterator[None]:
    """hostgen's main.cf and SNI map (indexed by `postmap -F`), one smtp listener, run from a
    folder the postfix user can reach."""
    root = Path(host.postfix_dir)
    for folder in ("queue", "data"):
        (root / folder).mkdir()
    shutil.chown(root / "data", "postfix")
    with (root / "main.cf").open("a") as main:
        main.write(
            "compatibility_level = 3.6\nmydestination =\ninet_interfaces = 127.0.0.1\n"
            f"inet_protocols = ipv4\nqueue_directory = {root}/queue\n"
            f"data_directory = {root}/data\nmaillog_file = {root}/postfix.log\n"
            f"maillog_file_prefixes = {root}\n"
        )
    (root / "master.cf").write_text(f"127.0.0.1:{port} inet n - n - - smtpd\n" + POSTFIX_SERVICES)
    (root / "sni.map.db").unlink(missing_ok=True)  # hostgen's stand-in: build the real one
    _start(["postmap", "-c", str(root), "-F", f"hash:{root}/sni.map"], root / "postmap.log")
    _start(["postfix", "-c", str(root), "start"], root / "start.log")
    try:
        wait_listening(port, root / "postfix.log")
        yield
    finally:
        subprocess.run(["postfix", "-c", str(root), "stop"], capture_output=True, check=False)


def live_audit(host: hostgen.Host) -> list[str]:
    return [*contenders.audit(host)[:-2], "--live", *contenders.audit(host)[-2:]]


def summary(output: Path) -> tuple[int, int, Counter[str]]:
    """(chains read from a listener, of which the file's own leaf, findings by code) of one
    run's JSON report: the right certificate per name shows that SNI did its work."""
    document = json.loads(output.read_text())
    served = matching = 0
    for endpoint in document["endpoints"]:
        for chain in endpoint["served"]:
            served += 1
            on_disk = endpoint["chain"][:1]
            matching += bool(on_disk) and chain["certs"][0]["sha256"] == on_disk[0]["sha256"]
    return served, matching, Counter(f["code"] for f in document["findings"])


def bench_mode(domains: int, mode: str, runs: int) -> Timing:
    # Below the system's temp folder, 0755: the postfix user must reach its queue.
    folder = Path(tempfile.mkdtemp(prefix="mailtls-live-bench-"))
    folder.chmod(0o755)
    try:
        host = hostgen.build(folder, domains)
        imaps, smtp = free_ports(2)
        timed: list[Run] = []
        with dovecot(host, imaps, mode), postfix(host, smtp):
            for number in range(runs):
                output = folder / "live.json"
                timed.append(run(live_audit(host), timeout=600, stdout=str(output)))
                served, matching, codes = summary(output)
                print(
                    f"  Dovecot {mode}, run {number + 1}: {timed[-1].seconds:.2f} s,"
                    f" {served} chains served ({matching} the file's own leaf),"
                    f" findings {dict(codes)}",
                    file=sys.stderr,
                    flush=True,
                )
        return Timing(tuple(timed))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    rows = [(mode, bench_mode(options.domains, mode, options.runs)) for mode in MODES]
    print("\n| domains | handshakes | Dovecot login processes | `audit --live` | peak RSS |")
    print("|---|---|---|---|---|")
    for mode, timing in rows:
        print(
            f"| {options.domains:,} | {2 * options.domains + 2:,} (imaps + smtp STARTTLS)"
            f" | {mode} | {timing.shown()} | {timing.peak_mb:.0f} MB |"
        )


if __name__ == "__main__":
    main()
