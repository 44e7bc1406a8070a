"""Pausing Python's cyclic garbage collector around a short burst of allocation.

A lookup of a common name at 9 M pupils builds a few thousand objects (the pupil rows,
their ceilings, the scored candidates) that all live until the lookup ends and then go
by reference counting: none of them is cyclic garbage. The collector, triggered every few
hundred allocations, walks them again and again while they are alive, for nothing (0.7 ms
of such a lookup's 12 at 9 M pupils: docs/performance.md). Paused for the lookup, it walks
only what is left when the lookup is over, which is almost nothing.

The pause is process-wide, so it is counted: threads may pause at once, and the collector
runs again when the last of them resumes, unless it was off before the first paused it.
A pause holds only as long as its ``with`` block: a lookup, not a batch.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0  # pauses now open, in every thread
_was_enabled = False  # whether the collector ran before the first of them


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (reference counting still frees
    everything that is not in a cycle); on again when the last open pause ends."""
    global _paused, _was_enabled
    with _lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
