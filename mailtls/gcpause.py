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
            # What the pause made is young to the collector, and its next collection would
            # walk all of it (0.25 s after a 20,000-endpoint audit). Moved to the oldest
            # generation instead (freeze then unfreeze: two list splices), as if it had
            # survived; cycles in it are still found by the next full collection.
            gc.freeze()
            gc.unfreeze()
            gc.enable()
