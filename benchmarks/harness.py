"""Time mailtls against the admin's `openssl verify` loop and a plain Python loop on
synthetic multi-tenant hosts, side by side, as whole processes; print Markdown tables.

    python -m benchmarks.harness [SIZES...] [--runs 3] [--timeout 600] [--shell-sample 1000]

Each size gets a fresh host on tmpfs (see benchmarks/hostgen.py); each round runs mailtls,
the shell loop and the floor once, so load from elsewhere hits all three alike.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import contenders, hostgen, importtime, machine
from benchmarks.measure import Run, Timing, run


@dataclass(frozen=True)
class SizeResult:
    domains: int
    endpoints: int
    generated_s: float
    audit: Timing
    shell: Timing
    floor: Timing
    findings: str  # what the first audit said, to show it did the work


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bench_size(domains: int, options: argparse.Namespace) -> SizeResult:
    folder = Path(contenders.scratch_dir())
    try:
        started = time.perf_counter()
        host = hostgen.build(_fresh(folder / "host"), domains)
        generated = time.perf_counter() - started
        note(f"{domains} domains: host written in {generated:.1f} s under {folder}")
        shell_list, pairs, scale = contenders.write_lists(host, folder, options.shell_sample)
        audits: list[Run] = []
        shells: list[Run] = []
        floors: list[Run] = []
        findings = ""
        for round_number in range(options.runs):
            done = []
            if _audit_again(audits, options.slow):
                output = folder / "audit.json"
                audit = run(contenders.audit(host), timeout=options.timeout, stdout=str(output))
                audits.append(audit)
                done.append(f"mailtls {audit.seconds:.2f} s")
                if round_number == 0:
                    findings = _check_audit(audits[0], output, host)
            shells.append(run(contenders.shell_loop(shell_list, host.ca_file), timeout=3600))
            floors.append(run(contenders.floor(pairs, host.ca_file), timeout=3600))
            done += [f"shell {shells[-1].seconds:.2f} s", f"floor {floors[-1].seconds:.2f} s"]
            note(f"  round {round_number + 1}: {', '.join(done)}")
        endpoints = 2 * domains + 2
        return SizeResult(
            domains,
            endpoints,
            generated,
            Timing(tuple(audits)),
            Timing(tuple(shells), scale),
            Timing(tuple(floors)),
            findings,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fresh(path: Path) -> Path:
    path.mkdir()
    return path


def _audit_again(audits: list[Run], slow: float) -> bool:
    """A run that did not finish, or took longer than `slow` seconds, is not repeated."""
    return not audits or all(r.finished and r.seconds <= slow for r in audits)


def _check_audit(first: Run, output: Path, host: hostgen.Host) -> str:
    """The audit must have read every endpoint and found the leaf-only files; else the
    timing means nothing."""
    if not first.finished:
        return "did not finish"
    if first.exit_code != 1:
        raise SystemExit(f"mailtls audit exited {first.exit_code}, not 1: see {output}")
    report = json.loads(output.read_text())
    want = 2 * len(host.domains) + 2
    if len(report["endpoints"]) != want:
        raise SystemExit(f"mailtls read {len(report['endpoints'])} endpoints, not {want}")
    codes: dict[str, int] = {}
    for item in report["findings"]:
        codes[item["code"]] = codes.get(item["code"], 0) + 1
    return ", ".join(f"{count} {code}" for code, count in sorted(codes.items())) or "none"


def bench_startup(runs: int, timeout: float) -> list[tuple[str, Timing]]:
    folder = Path(contenders.scratch_dir())
    try:
        host = hostgen.build(_fresh(folder / "host"), 0)
        commands = [
            ("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
            ("mailtls --help", [*contenders.mailtls(), "--help"]),
            ("audit, one-domain host (2 endpoints), bench root", contenders.audit(host)),
            (
                "audit, one-domain host, system trust store too",
                contenders.audit(host, system_trust=True),
            ),
        ]
        results: dict[str, list[Run]] = {label: [] for label, _ in commands}
        for _ in range(runs):
            for label, argv in commands:
                results[label].append(run(argv, timeout=timeout))
        return [(label, Timing(tuple(found))) for label, found in results.items()]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def size_table(results: list[SizeResult]) -> str:
    lines = [
        "| domains | endpoints | mailtls audit | openssl verify loop | Python floor"
        " | mailtls vs loop | mailtls vs floor | peak RSS mailtls / floor / loop |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.domains:,} | {r.endpoints:,} | {r.audit.shown()} | {r.shell.shown()}"
            f" | {r.floor.shown()} | {_versus_loop(r)} | {_versus_floor(r)}"
            f" | {_peak(r.audit)} / {_peak(r.floor)} / {_peak(r.shell)} |"
        )
    lines.append("")
    lines += [
        f"- {r.domains:,} domains: host written in {r.generated_s:.1f} s; the audit found: "
        f"{r.findings}"
        for r in results
    ]
    return "\n".join(lines)


def _versus_loop(r: SizeResult) -> str:
    if not r.audit.runs:
        return ""
    if not r.audit.finished:
        return f"over {r.audit.runs[-1].timeout / r.shell.median:.1f}x slower"
    ratio = r.shell.median / r.audit.median
    return f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"


def _versus_floor(r: SizeResult) -> str:
    if not r.audit.finished:
        return f"over {r.audit.runs[-1].timeout / r.floor.median:.0f}x" if r.audit.runs else ""
    return f"{r.audit.median / r.floor.median:.1f}x the floor"


def _peak(timing: Timing) -> str:
    return f"{timing.peak_mb:.0f} MB" if timing.runs else "-"


def startup_table(rows: list[tuple[str, Timing]]) -> str:
    lines = ["| start-up | wall (median) | peak RSS |", "|---|---|---|"]
    lines += [f"| {label} | {t.shown()} | {_peak(t)} |" for label, t in rows]
    return "\n".join(lines)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness")
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 10000])
    parser.add_argument("--runs", type=int, default=3, help="rounds per size (median)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per audit run")
    parser.add_argument("--slow", type=float, default=60, help="an audit slower: run once")
    parser.add_argument(
        "--shell-sample",
        type=int,
        default=1000,
        help="past 2.5 times this many endpoints, time the loop on this many and scale up",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    options = arguments(argv)
    before = machine.load()
    note(machine.describe())
    results = [bench_size(size, options) for size in options.sizes]
    startup = bench_startup(5, options.timeout)
    print(
        machine.describe() + f"\nLoad average (1 min) before / after: {before} / {machine.load()}"
    )
    print()
    print(size_table(results))
    print()
    print(startup_table(startup))
    print()
    print(importtime.table(importtime.measure()))


if __name__ == "__main__":
    main(sys.argv[1:])
