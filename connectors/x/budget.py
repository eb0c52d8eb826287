"""A per-endpoint rate-limit budget fed by X's `x-rate-limit-*` headers (pure; the caller passes the time).

X answers every v2 call with `x-rate-limit-limit`, `x-rate-limit-remaining` and `x-rate-limit-reset`
(unix seconds when the window, usually 15 minutes, starts again), and some endpoints add 24-hour caps
as `x-user-limit-24hour-*` / `x-app-limit-24hour-*`
(https://docs.x.com/x-api/fundamentals/rate-limits). The budget spreads the remaining calls of a
window over the time left in it, never polls faster than a configured floor, waits for the reset
after a 429, and backs off exponentially with jitter when a 429 comes without a usable reset.
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

WINDOW_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")
DAILY_PREFIXES = ("x-user-limit-24hour", "x-app-limit-24hour")
RESET_MARGIN = 1.0  # X's reset is whole seconds; one more avoids landing just before it


@dataclass
class RateBudget:
    """The state of one endpoint's rate limit and the pacing derived from it."""

    endpoint: str
    min_interval: float = 60.0
    backoff_initial: float = 15.0
    backoff_cap: float = 900.0
    # A reset further away than this is a skewed clock or a bogus header; do not sleep for hours.
    max_reset_wait: float = 24 * 3600.0 + 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    limit: int | None = field(default=None, init=False)
    remaining: int | None = field(default=None, init=False)
    reset_at: float | None = field(default=None, init=False)
    daily_remaining: int | None = field(default=None, init=False)
    daily_reset_at: float | None = field(default=None, init=False)
    last_429_at: float | None = field(default=None, init=False)
    blocked_until: float | None = field(default=None, init=False)
    failures: int = field(default=0, init=False)
    current_interval: float = field(default=0.0, init=False)
    calls: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.min_interval <= 0 or self.backoff_initial <= 0 or self.backoff_cap < self.backoff_initial:
            raise ValueError("intervals must be positive and backoff_cap >= backoff_initial")
        self.current_interval = self.min_interval

    def observe(self, headers: Mapping[str, Any], now: float) -> None:
        """Record the headers of a successful response; clears any backoff."""
        self.calls += 1
        self.failures = 0
        self.blocked_until = None
        self._read(headers)
        daily = self._daily_block(now)
        if daily is not None:
            self.blocked_until = daily

    def on_rate_limited(self, headers: Mapping[str, Any], now: float) -> float:
        """Record a 429 and return how long to wait: until the reset (+1 s), or a backoff without one."""
        self.calls += 1
        self.failures += 1
        self.last_429_at = now
        window_reset, daily_reset = self._read(headers)
        # Only this answer's own reset counts: a stale one from an earlier call says nothing.
        reset = daily_reset if daily_reset is not None else window_reset
        if reset is not None and reset + RESET_MARGIN > now:
            wait = min(reset + RESET_MARGIN - now, self.max_reset_wait)
        else:
            # No reset header, or one already past (clock skew): never retry in a tight loop.
            wait = self._backoff()
        self.blocked_until = now + wait
        return wait

    def on_failure(self, now: float) -> float:
        """Record a 5xx, timeout or dropped connection and return the backoff before the next try."""
        self.calls += 1
        self.failures += 1
        wait = self._backoff()
        self.blocked_until = now + wait
        return wait

    def blocked_for(self, now: float) -> float:
        """Seconds before any request may be made (a 429, an exhausted window, a backoff); 0 when free."""
        waits = [0.0]
        if self.blocked_until is not None:
            waits.append(self.blocked_until - now)
        if self.remaining == 0 and self.reset_at is not None:
            waits.append(min(self.reset_at + RESET_MARGIN - now, self.max_reset_wait))
        return max(waits)

    def next_delay(self, now: float) -> float:
        """The pause before the next poll: remaining calls spread until the reset, at least min_interval."""
        interval = self.min_interval
        if self.remaining and self.reset_at is not None and self.reset_at > now:
            interval = max(interval, (self.reset_at - now) / self.remaining)
        self.current_interval = interval
        return max(interval, self.blocked_for(now))

    def snapshot(self) -> dict[str, Any]:
        """The budget as JSON for the API and the console."""
        return {
            "endpoint": self.endpoint,
            "limit": self.limit,
            "remaining": self.remaining,
            "reset_at": _iso(self.reset_at),
            "current_interval_s": round(self.current_interval, 3),
            "last_429_at": _iso(self.last_429_at),
            "blocked_until": _iso(self.blocked_until),
            "daily_remaining": self.daily_remaining,
            "daily_reset_at": _iso(self.daily_reset_at),
            "consecutive_failures": self.failures,
            "calls": self.calls,
        }

    def _read(self, headers: Mapping[str, Any]) -> tuple[float | None, float | None]:
        """Store what the headers say; return this response's window reset and exhausted daily reset."""
        limit, remaining, reset = (int_header(headers, name) for name in WINDOW_HEADERS)
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            self.remaining = remaining
        if reset is not None:
            self.reset_at = float(reset)
        dailies: list[tuple[int, float | None]] = []
        for prefix in DAILY_PREFIXES:
            left = int_header(headers, f"{prefix}-remaining")
            if left is not None:
                at = int_header(headers, f"{prefix}-reset")
                dailies.append((left, float(at) if at is not None else None))
        if dailies:
            # With both a user and an app cap, the tighter one decides.
            self.daily_remaining, self.daily_reset_at = min(dailies, key=lambda d: d[0])
        daily_reset = self.daily_reset_at if dailies and self.daily_remaining == 0 else None
        return (float(reset) if reset is not None else None), daily_reset

    def _daily_reset(self) -> float | None:
        return self.daily_reset_at if self.daily_remaining == 0 else None

    def _daily_block(self, now: float) -> float | None:
        reset = self._daily_reset()
        if reset is None or reset + RESET_MARGIN <= now:
            return None
        return now + min(reset + RESET_MARGIN - now, self.max_reset_wait)

    def _backoff(self) -> float:
        return jittered_backoff(self.failures, self.backoff_initial, self.backoff_cap, self.rng)


def jittered_backoff(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with "equal jitter": drawn from [c/2, c], c = min(cap, initial * 2**(attempt-1))."""
    ceiling = min(cap, initial * 2 ** min(max(attempt, 1) - 1, 32))
    return rng.uniform(ceiling / 2, ceiling)


@dataclass
class Backoff:
    """Backoff for failures that are not the platform's (e.g. the store), with the same shape."""

    initial: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """The delay before the next try; grows with each consecutive failure."""
        self.attempt += 1
        return jittered_backoff(self.attempt, self.initial, self.cap, self.rng)

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.attempt = 0


def int_header(headers: Mapping[str, Any], name: str) -> int | None:
    """An integer header, looked up case-insensitively; None when absent or not a number."""
    value = headers.get(name)
    if value is None:
        # Plain dicts are case-sensitive; aiohttp's CIMultiDictProxy is not.
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == name), None)
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")
