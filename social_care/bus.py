"""In-process notifications: wake workers at once and tell live views that something changed."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]


class Bus:
    """Topic-based publish/subscribe inside one process; listeners must not block."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._wakeups: dict[str, list[asyncio.Event]] = {}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(topic, data)` on every publish; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def wakeup(self, topic: str) -> asyncio.Event:
        """An event set whenever `topic` is published; the waiter clears it."""
        event = asyncio.Event()
        self._wakeups.setdefault(topic, []).append(event)
        return event

    def publish(self, topic: str, **data: Any) -> None:
        for event in self._wakeups.get(topic, ()):
            event.set()
        for listener in list(self._listeners):
            try:
                listener(topic, data)
            except Exception:
                logger.exception("bus listener failed on %s", topic)
