"""Pausing CPython's cyclic garbage collector while a report builds millions of acyclic records."""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_resume = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collections inside the block (nested and concurrent blocks share one pause).

    A year's report allocates a few million tuples that live until it is done; each full collection
    walks all of them again, which costs a third of the report's time. The records hold no cycles, and
    reference counting still frees everything else at once, so the only cost is that cyclic garbage made
    elsewhere meanwhile waits for the pause to end.
    """
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
