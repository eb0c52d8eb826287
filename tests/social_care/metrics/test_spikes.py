"""Spike alert: the last hour against the same hour of the past days, mean + 3 population SDs, a minimum count."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from social_care.metrics.spikes import count_windows, detect, spike_checks
from tests.social_care.metrics.scenario import Scenario, at

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_mean_plus_three_standard_deviations() -> None:
    # Baseline [2, 4, 4, 4, 5, 5, 7, 9]: mean 40 / 8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32,
    # population variance 32 / 8 = 4, SD 2; threshold 5 + 3 * 2 = 11.
    baseline = [2, 4, 4, 4, 5, 5, 7, 9]
    calm = detect("negative", 11, baseline, window_end=NOW)
    assert (calm.mean, calm.stdev, calm.threshold, calm.alert) == (5.0, 2.0, 11.0, False)
    assert detect("negative", 12, baseline, window_end=NOW).alert
    # A quiet baseline needs the minimum count: 3 > 0 but fewer than 5.
    assert not detect("negative", 3, [0] * 7, window_end=NOW).alert
    assert detect("negative", 5, [0] * 7, window_end=NOW).alert


def test_windows_are_the_last_hour_and_the_same_hour_of_past_days() -> None:
    instants = [NOW - timedelta(minutes=1), NOW - timedelta(minutes=60), NOW,  # the last is outside [now-1h, now)
                NOW - timedelta(days=1, minutes=30), NOW - timedelta(days=3, minutes=61)]
    assert count_windows(instants, NOW, 3) == (2, (1, 0, 0))


async def test_the_scenario_on_friday_afternoon_and_sunday_night(scenario: Scenario) -> None:
    # Fri 16:00-17:00: m4 (16:00) and m6 (16:30) are negative; nothing at that hour on the 7 days before.
    negative, complaints = await spike_checks(scenario.db, now=at(20, 17), min_count=2)
    assert (negative.current, negative.baseline, negative.alert) == (2, (0,) * 7, True)
    assert (complaints.current, complaints.alert) == (0, False)
    # Sun 23:00-24:00: m8 (23:30) is a negative public complaint; one message is under the minimum count.
    negative, complaints = await spike_checks(scenario.db, now=at(23, 0))
    assert (negative.current, complaints.current, negative.alert, complaints.alert) == (1, 1, False, False)
