"""Sessions that ask for the same inbox page at about the same time share one query.

A bus event makes every open inbox refresh at once; with many agents on the default view that is
the same query many times, and each session's safety refresh would repeat it on its own timer.
Results are kept until the next change on the bus, or `ttl` seconds (time alone moves conversations:
snoozes end), and concurrent askers await the one query in flight.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

CHANGE_TOPICS = frozenset({"conversation.changed", "message.received"})


class SharedResults:
    """A tiny cache keyed by the query; `invalidate()` on every store change."""

    def __init__(self, *, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic, max_entries: int = 256) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self.generation = 0
        self._done: dict[Hashable, tuple[int, float, Any]] = {}
        self._inflight: dict[tuple[int, Hashable], asyncio.Future[Any]] = {}
        self.hits = 0
        self.misses = 0

    def invalidate(self) -> None:
        self.generation += 1
        self._done.clear()

    def on_bus(self, topic: str, _data: dict[str, Any]) -> None:
        """Bus listener: a change in the store makes every kept result stale."""
        if topic in CHANGE_TOPICS:
            self.invalidate()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """The result for `key`, loading it once for everyone asking now."""
        kept = self._done.get(key)
        now = self.clock()
        if kept is not None and kept[0] == self.generation and now - kept[1] < self.ttl:
            self.hits += 1
            return kept[2]
        slot = (self.generation, key)
        running = self._inflight.get(slot)
        if running is not None:
            self.hits += 1
            return await asyncio.shield(running)
        self.misses += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[slot] = future
        try:
            result = await load()
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: waiters get it, nobody logs "never retrieved"
            raise
        finally:
            self._inflight.pop(slot, None)
        future.set_result(result)
        if slot[0] == self.generation:
            if len(self._done) >= self.max_entries:
                self._done.clear()
            self._done[key] = (slot[0], now, result)
        return result
