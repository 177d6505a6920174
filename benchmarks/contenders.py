"""What is timed on a generated host: mailtls, the admin's `openssl verify` loop, the Python
floor; each as the command line a person would run, plus the list files they read."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.hostgen import AT, Host

HERE = Path(__file__).resolve().parent


def mailtls() -> list[str]:
    """The installed `mailtls` script beside this interpreter (what an admin runs)."""
    script = Path(sys.executable).parent / "mailtls"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mailtls"]


def audit(host: Host, *, system_trust: bool = False) -> list[str]:
    """`mailtls audit --format json`, every check on (key match included), both daemons."""
    trust = [] if system_trust else ["--ca-file", str(host.ca_file), "--no-system-trust"]
    return [
        *mailtls(),
        "audit",
        "--format",
        "json",
        "--at",
        AT,
        *trust,
        str(host.dovecot_conf),
        str(host.postfix_dir),
    ]


def endpoint_cert_files(host: Host) -> list[str]:
    """One certificate file per endpoint, as both configurations name them (each domain's
    file twice: its Dovecot block and its Postfix SNI line; the host's own twice)."""
    files = [str(host.default.cert_file)] * 2
    for domain in host.domains:
        files += [str(domain.cert_file)] * 2
    return files


def sample(items: Sequence[str], size: int) -> list[str]:
    """`size` items spread evenly over `items` (keeps the 80/20 and RSA/ECDSA mix)."""
    if len(items) <= size:
        return list(items)
    step = len(items) / size
    return [items[int(i * step)] for i in range(size)]


def shell_loop(list_file: Path, ca_file: Path) -> list[str]:
    """The loop admins write, one `openssl verify` per endpoint."""
    openssl = shutil.which("openssl") or "openssl"
    script = (
        f'for f in $(cat "{list_file}"); do'
        f' {openssl} verify -untrusted "$f" -CAfile "{ca_file}" "$f"; done'
    )
    return ["/bin/sh", "-c", script]


def write_lists(host: Host, folder: Path, shell_sample: int) -> tuple[Path, Path, float]:
    """(the shell loop's file list, the floor's pairs list, the scale of the shell sample)."""
    every = endpoint_cert_files(host)
    chosen = sample(every, shell_sample) if len(every) > 2.5 * shell_sample else every
    shell_list = folder / "endpoints.txt"
    shell_list.write_text("".join(f"{path}\n" for path in chosen))
    pairs = folder / "pairs.tsv"
    pairs.write_text("".join(f"{d.cert_file}\t{d.key_file}\n" for d in host.all_domains()))
    return shell_list, pairs, len(every) / len(chosen)


def floor(pairs: Path, ca_file: Path) -> list[str]:
    return [sys.executable, str(HERE / "floor.py"), str(pairs), str(ca_file)]


def scratch_dir() -> str:
    """A fresh folder on tmpfs when there is one: the benchmark times parsing, not the disk."""
    shm = "/dev/shm"
    where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="mailtls-bench-", dir=where)
