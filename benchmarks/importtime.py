"""What `python -X importtime -m mailtls --help` spends its start-up on: the slowest imports."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Import:
    module: str
    depth: int  # 0: imported by mailtls's own code or the interpreter directly
    self_us: int
    cumulative_us: int


def parse(stderr: str) -> list[Import]:
    """The `import time:` lines (self | cumulative | indented module name)."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        module = name.rstrip()
        depth = (len(module) - len(module.lstrip()) - 1) // 2
        found.append(Import(module.strip(), depth, int(self_us), int(cumulative_us)))
    return found


def measure(python: str = sys.executable) -> list[Import]:
    done = subprocess.run(
        [python, "-X", "importtime", "-m", "mailtls", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return parse(done.stderr)


def table(imports: list[Import], top: int = 10) -> str:
    total = sum(i.cumulative_us for i in imports if i.depth == 0)
    rows = sorted(imports, key=lambda i: i.cumulative_us, reverse=True)[:top]
    lines = [
        f"Imports of `python -X importtime -m mailtls --help` (one run): {total / 1000:.0f} ms"
        " in all; the slowest by cumulative time (depth 0: imported directly):",
        "",
        "| module | depth | cumulative | self |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {i.module} | {i.depth} | {i.cumulative_us / 1000:.1f} ms | {i.self_us / 1000:.1f} ms |"
        for i in rows
    ]
    return "\n".join(lines)
