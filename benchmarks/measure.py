"""Time one child process as a whole: wall time, exit code and its peak memory (GNU time)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# GNU time runs the command from its own small process, so %M is the command's own peak.
TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float  # maximum resident set of the command and the children it waited for
    exit_code: int | None  # None: killed at the timeout
    timeout: float

    @property
    def finished(self) -> bool:
        return self.exit_code is not None


def run(argv: Sequence[str], *, timeout: float, stdout: str | None = None) -> Run:
    """Run `argv` to its end (or kill its process group at `timeout` seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        peak_file = os.path.join(folder, "peak")
        wrapped = [TIME, "-f", "%M", "-o", peak_file, *argv] if TIME else list(argv)
        with open(stdout or os.devnull, "wb") as out:
            started = time.perf_counter()
            child = subprocess.Popen(
                wrapped, stdout=out, stderr=subprocess.DEVNULL, start_new_session=True
            )
            killed = threading.Event()
            timer = threading.Timer(timeout, _kill, (child.pid, killed))
            timer.start()
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - started
            timer.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # what the command left behind
        child.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        code = None if killed.is_set() else child.returncode
        return Run(seconds, _peak_kb(peak_file, usage.ru_maxrss) / 1024, code, timeout)


def _peak_kb(peak_file: str, fallback: int) -> int:
    """GNU time's %M: the command's own peak. Without it, wait4's figure, which also counts
    the pages this (bigger) process had when it forked the child: an upper bound."""
    try:
        with open(peak_file) as lines:
            return int(lines.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return fallback


def _kill(pid: int, killed: threading.Event) -> None:
    """Kill what GNU time runs, so that time still reports its peak memory; kill `pid` itself
    when there is no GNU time in between."""
    killed.set()
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for victim in [int(c) for c in children] if TIME and children else [pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


@dataclass(frozen=True)
class Timing:
    runs: tuple[Run, ...]
    scale: float = 1.0  # a sample of 1/scale of the work was timed: times are multiplied

    @property
    def finished(self) -> bool:
        return bool(self.runs) and all(r.finished for r in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs) * self.scale

    @property
    def peak_mb(self) -> float:
        return max(r.peak_mb for r in self.runs)

    def shown(self) -> str:
        if not self.runs:
            return "not run"
        if not self.finished:
            return f"did not finish in {self.runs[-1].timeout:.0f} s"
        text = f"{self.median:.2f} s" if self.median >= 0.995 else f"{self.median * 1000:.0f} ms"
        notes = []
        if self.scale != 1.0:
            notes.append(f"sample x{self.scale:.1f}")
        if len(self.runs) != 3:
            notes.append(f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''}")
        return text + (f" ({', '.join(notes)})" if notes else "")
