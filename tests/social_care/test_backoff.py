"""Backoff grows, stays capped and jittered, and starts over after a success."""
from __future__ import annotations

from social_care.backoff import Backoff, jittered_delay


def test_delays_double_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    assert [jittered_delay(1.0, 8.0, n, rng=lambda: 1.0) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert [jittered_delay(1.0, 8.0, n, rng=lambda: 0.0) for n in range(1, 5)] == [0.5, 1, 2, 4]
    assert jittered_delay(1.0, 60.0, 10_000, rng=lambda: 1.0) == 60.0  # no overflow on long outages


def test_backoff_resets_after_success() -> None:
    backoff = Backoff(initial=2.0, cap=100.0)
    first = [backoff.next_delay() for _ in range(4)]
    assert 1.0 <= first[0] <= 2.0 and 8.0 <= first[3] <= 16.0
    backoff.reset()
    assert backoff.next_delay() <= 2.0
