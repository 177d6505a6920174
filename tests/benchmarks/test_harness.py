"""The benchmark's measuring parts: child processes timed to their end or killed at the
timeout, shell samples that keep the mix, and the import-time summary."""

from __future__ import annotations

from benchmarks import contenders, importtime
from benchmarks.measure import Timing, run


def test_a_child_is_timed_to_its_end_with_its_exit_code_and_peak_memory() -> None:
    done = run(["/bin/sh", "-c", "exit 3"], timeout=30)
    assert done.exit_code == 3 and done.finished
    assert 0 < done.peak_mb < 50


def test_a_child_past_its_timeout_is_killed_and_shown_as_not_finished() -> None:
    """`sleep 30` is the slow child here, not a wait for readiness."""
    slow = run(["sleep", "30"], timeout=0.3)
    assert not slow.finished
    assert slow.seconds < 10
    assert Timing((slow,)).shown() == "did not finish in 0 s"


def test_the_shell_sample_spreads_over_the_whole_list() -> None:
    items = [f"f{i}" for i in range(10_000)]
    chosen = contenders.sample(items, 1000)
    assert len(chosen) == 1000 and chosen[0] == "f0" and chosen[-1] == "f9990"
    assert contenders.sample(items[:5], 1000) == items[:5]


def test_importtime_lines_are_read_with_their_depth() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |     rich.text\n"
        "import time:       500 |       2600 |   typer\n"
        "import time:        30 |       3000 | mailtls.cli\n"
    )
    found = importtime.parse(stderr)
    assert [(i.module, i.depth, i.cumulative_us) for i in found] == [
        ("rich.text", 2, 100),
        ("typer", 1, 2600),
        ("mailtls.cli", 0, 3000),
    ]
    assert "| mailtls.cli | 0 | 3.0 ms | 0.0 ms |" in importtime.table(found, top=1)
