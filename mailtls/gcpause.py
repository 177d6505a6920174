"""Python's cycle collector paused while a run builds its report."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """An audit makes millions of objects and no reference cycles worth finding: the cycle
    collector, run over them again and again, cost a quarter of a 20,000-endpoint audit and
    most of writing its report."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
