"""`fix --edit-config` for a `tls_server_sni_maps` source: once the source is written, its
index rebuilt (`postmap -F`), and each edited name looked up the way Postfix reads it
(`postmap -F -q NAME`); a rebuild or lookup that fails puts the source back and rebuilds again,
so the index never disagrees with the source. postmap writes the index; mailtls never does."""

from __future__ import annotations

import re
import subprocess

from mailtls.config.source import open_regular
from mailtls.fix.config_plan import ConfigEdit
from mailtls.fix.config_write import VALIDATE_SECONDS, Validation
from mailtls.fix.reload import find_binary, index_risk
from mailtls.fix.target import MAX_BYTES

# PEM blocks, whatever separates them: postmap -F puts a newline between the files it joins.
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL)


def postmap() -> str:
    return find_binary("postmap") or "postmap"


def _run(argv: tuple[str, ...]) -> tuple[bool, str, bytes]:
    """Run without a shell, bounded in time: (exit 0, what it said on stderr, stdout)."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=VALIDATE_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error), b""
    said = done.stderr.decode(errors="replace").strip()
    return done.returncode == 0, said or f"exit {done.returncode}", done.stdout


def rebuild(edit: ConfigEdit) -> Validation:
    """`postmap -F type:/path` for an indexed map; texthash is read as text: nothing to do."""
    if edit.table.startswith("texthash:"):
        return Validation((), True, "texthash: Postfix reads the source itself")
    argv = (postmap(), "-c", edit.config, "-F", edit.table)
    risk = index_risk(edit.table)
    if risk:
        return Validation(argv, False, risk)
    ok, said, _ = _run(argv)
    return Validation(argv, ok, said if not ok else "rebuilt")


def rebuild_and_look_up(edit: ConfigEdit) -> Validation:
    """The index rebuilt from the new source, then each edited name looked up in it: Postfix
    must now read the key and full chain from the files the new line names."""
    built = rebuild(edit)
    if not built.ok:
        return built
    for name, files in edit.lookups:
        argv = (postmap(), "-c", edit.config, "-F", "-q", name, edit.table)
        ok, said, value = _run(argv)
        if not ok:
            return Validation(argv, False, said)
        expected = _expected(files)
        if isinstance(expected, str):
            return Validation(argv, False, expected)
        if _blocks(value) != expected:
            return Validation(argv, False, f"{name}: the index does not hold {', '.join(files)}")
    names = ", ".join(name for name, _ in edit.lookups)
    return Validation(built.argv or (postmap(),), True, f"postmap -F -q {names}: the full chain")


def _expected(files: tuple[str, ...]) -> list[bytes] | str:
    blocks = []
    for path in files:
        try:
            with open_regular(path) as stream:
                blocks += _blocks(stream.read(MAX_BYTES + 1))
        except OSError as error:
            return f"{path}: {error.strerror}"
    return blocks


def _blocks(data: bytes) -> list[bytes]:
    return [b"".join(m.group().split()) for m in _PEM.finditer(data)]
