"""The committed certificate fixtures are what fixtures/build.py makes, byte for byte: fixed
dates, keys derived from names (or committed), deterministic signatures."""

from __future__ import annotations

from fixtures.build import build


def test_every_committed_fixture_is_what_the_builder_writes() -> None:
    stale = [str(path) for path, data in build().items() if path.read_bytes() != data]
    assert stale == []
