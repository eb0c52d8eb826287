"""The rate-limit budget, with an injected clock: pacing, 429s with and without reset, backoff, snapshot."""
from __future__ import annotations

import random

import pytest

from connectors.x.budget import Backoff, RateBudget

NOW = 1_715_590_800.0  # 2024-05-13T09:00:00Z


def headers(limit: int, remaining: int, reset: float | None) -> dict[str, str]:
    found = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining)}
    if reset is not None:
        found["x-rate-limit-reset"] = str(int(reset))
    return found


def budget(**kwargs: float) -> RateBudget:
    return RateBudget("mentions", rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def test_without_headers_the_poll_interval_is_the_configured_minimum() -> None:
    b = budget(min_interval=60)

    assert b.next_delay(NOW) == 60
    assert b.blocked_for(NOW) == 0


def test_remaining_calls_are_spread_over_the_time_left_in_the_window() -> None:
    b = budget(min_interval=60)
    # Basic tier: 10 calls per 15 minutes. 9 left and 900 s to go: one call every 100 s.
    b.observe(headers(10, 9, NOW + 900), NOW)

    assert b.next_delay(NOW) == pytest.approx(100)
    assert b.current_interval == pytest.approx(100)
    # A generous window never makes us poll faster than the floor.
    b.observe(headers(450, 449, NOW + 900), NOW)
    assert b.next_delay(NOW) == 60


def test_the_budget_is_never_exhausted_before_the_reset_when_following_next_delay() -> None:
    b = budget(min_interval=1)
    now, remaining, reset = NOW, 10, NOW + 900
    calls_before_reset = 0
    while now < reset:
        remaining -= 1
        calls_before_reset += 1
        b.observe(headers(10, remaining, reset), now)
        now += b.next_delay(now)
    assert calls_before_reset <= 10
    assert remaining >= 0


def test_an_exhausted_window_waits_for_the_reset_plus_one_second() -> None:
    b = budget(min_interval=60)
    b.observe(headers(10, 0, NOW + 300), NOW)

    assert b.blocked_for(NOW) == pytest.approx(301)
    assert b.next_delay(NOW) == pytest.approx(301)
    assert b.blocked_for(NOW + 302) == 0


def test_a_429_with_reset_60_seconds_ahead_blocks_until_the_reset() -> None:
    b = budget(min_interval=60)

    wait = b.on_rate_limited(headers(10, 0, NOW + 60), NOW)

    assert wait == pytest.approx(61)
    for later in (0, 30, 59.9, 60.5):
        assert b.blocked_for(NOW + later) > 0, later
    assert b.blocked_for(NOW + 61) == 0
    assert b.last_429_at == NOW
    snap = b.snapshot()
    assert snap["reset_at"] == "2024-05-13T09:01:00Z"
    assert snap["last_429_at"] == "2024-05-13T09:00:00Z"
    assert snap["blocked_until"] == "2024-05-13T09:01:01Z"
    assert snap["remaining"] == 0


def test_a_429_without_reset_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    b = budget(min_interval=60, backoff_initial=15, backoff_cap=900)
    no_reset = {"x-rate-limit-limit": "10", "x-rate-limit-remaining": "0"}

    waits = [b.on_rate_limited(no_reset, NOW) for _ in range(10)]

    ceilings = [min(900, 15 * 2**n) for n in range(10)]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert min(waits) >= 7.5  # never a tight loop
    assert max(waits) <= 900


def test_a_429_whose_reset_is_already_past_backs_off_instead_of_retrying_at_once() -> None:
    b = budget(backoff_initial=15)

    wait = b.on_rate_limited(headers(10, 0, NOW - 5), NOW)

    assert 7.5 <= wait <= 15


def test_a_stale_reset_from_an_earlier_answer_is_not_used_for_a_429_without_one() -> None:
    b = budget(backoff_initial=15)
    b.observe(headers(10, 5, NOW + 600), NOW)

    wait = b.on_rate_limited({"x-rate-limit-remaining": "0"}, NOW)

    assert wait <= 15


def test_a_far_reset_is_capped() -> None:
    b = budget(max_reset_wait=1000)

    assert b.on_rate_limited(headers(10, 0, NOW + 10**7), NOW) == 1000


def test_a_spent_24_hour_cap_blocks_until_its_reset() -> None:
    b = RateBudget("create_tweet", min_interval=1)
    daily = {**headers(100, 50, NOW + 900), "x-user-limit-24hour-limit": "17",
             "x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(int(NOW + 7200))}

    assert b.on_rate_limited(daily, NOW) == pytest.approx(7201)
    b2 = RateBudget("create_tweet", min_interval=1)
    b2.observe(daily, NOW)
    assert b2.blocked_for(NOW) == pytest.approx(7201)
    assert b2.snapshot()["daily_remaining"] == 0


def test_failures_back_off_and_a_success_clears_them() -> None:
    b = budget(backoff_initial=2, backoff_cap=8)

    waits = [b.on_failure(NOW) for _ in range(5)]
    assert [round(w, 3) <= c for w, c in zip(waits, (2, 4, 8, 8, 8), strict=True)] == [True] * 5
    assert b.blocked_for(NOW) == pytest.approx(waits[-1])
    assert b.snapshot()["consecutive_failures"] == 5

    b.observe(headers(10, 9, NOW + 900), NOW)
    assert b.blocked_for(NOW) == 0
    assert b.failures == 0


def test_headers_are_read_case_insensitively_and_garbage_is_ignored() -> None:
    b = budget()
    b.observe({"X-Rate-Limit-Limit": "15", "X-Rate-Limit-Remaining": "soon", "X-Rate-Limit-Reset": str(int(NOW))},
              NOW)

    assert (b.limit, b.remaining, b.reset_at) == (15, None, NOW)


def test_snapshot_is_plain_json() -> None:
    b = budget(min_interval=60)
    b.observe(headers(10, 9, NOW + 900), NOW)
    b.next_delay(NOW)

    assert b.snapshot() == {
        "endpoint": "mentions", "limit": 10, "remaining": 9, "reset_at": "2024-05-13T09:15:00Z",
        "current_interval_s": 100.0, "last_429_at": None, "blocked_until": None, "daily_remaining": None,
        "daily_reset_at": None, "consecutive_failures": 0, "calls": 1,
    }


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RateBudget("mentions", min_interval=0)
    with pytest.raises(ValueError):
        RateBudget("mentions", backoff_initial=10, backoff_cap=5)


def test_backoff_grows_and_resets() -> None:
    backoff = Backoff(initial=1, cap=4, rng=random.Random(1))

    delays = [backoff.next_delay() for _ in range(4)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4 and 2 <= delays[3] <= 4
    backoff.reset()
    assert backoff.next_delay() <= 1
