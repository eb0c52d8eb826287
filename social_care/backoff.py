"""Capped exponential backoff with jitter, shared by pollers, the outbox and connector start-up."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


def jittered_delay(initial: float, cap: float, attempt: int, rng: Callable[[], float] = random.random) -> float:
    """The delay before retry number `attempt` (1-based): drawn from [c/2, c], c = min(cap, initial * 2**(attempt-1))."""
    ceiling = min(cap, initial * 2 ** min(max(0, attempt - 1), 32))
    return ceiling / 2 + ceiling / 2 * rng()


@dataclass
class Backoff:
    """Stateful backoff for loops that retry the same thing: grows per failure, resets on success."""

    initial: float = 1.0
    cap: float = 60.0
    _attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """The delay before the next attempt; grows with each consecutive failure."""
        self._attempt += 1
        return jittered_delay(self.initial, self.cap, self._attempt)

    def reset(self) -> None:
        """Forget past failures after a success."""
        self._attempt = 0
