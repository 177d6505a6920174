"""The collector pause: what an audit makes while paused is not walked again when it ends."""

from __future__ import annotations

import gc
from pathlib import Path

from mailtls.config.discover import read_all
from mailtls.gcpause import collector_paused


def test_objects_made_while_paused_are_not_young_after() -> None:
    """100,000 tracked objects made under the pause are in the oldest generation after it:
    the collections that follow do not walk them (a young generation of 100,000 would be
    walked by the very next one)."""
    gc.collect()  # counts at zero: what follows does not depend on earlier tests
    with collector_paused():
        assert not gc.isenabled()
        kept = [[index] for index in range(100_000)]
    assert gc.isenabled()
    last = kept[-1]
    assert any(obj is last for obj in gc.get_objects(generation=2))
    assert not any(obj is last for obj in gc.get_objects(generation=0))


def test_cycles_made_while_paused_are_still_collected() -> None:
    """A reference cycle made under the pause is freed by a full collection after it."""
    with collector_paused():
        cycle: list[object] = []
        cycle.append(cycle)
        marker = id(cycle)
        del cycle
    gc.collect()
    assert all(id(obj) != marker for obj in gc.get_objects(generation=2))


def test_reading_a_big_configuration_runs_no_collection(tmp_path: Path) -> None:
    """3,000 Dovecot local_name blocks read: no collection runs while they are read (with
    the collector on, the objects they make set off dozens)."""
    blocks = "".join(
        f"local_name mail.t{i}.example {{\n  ssl_cert = </ssl/{i}.pem\n  ssl_key = </ssl/{i}.key\n}}\n"
        for i in range(3000)
    )
    conf = tmp_path / "dovecot.conf"
    conf.write_text("ssl = yes\n" + blocks)
    started: list[int] = []

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(collected)
    try:
        result = read_all([str(conf)], {})
    finally:
        gc.callbacks.remove(collected)
    assert len(result.endpoints) >= 3000
    assert started == []
