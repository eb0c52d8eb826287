"""Spike alert: negative or public-complaint messages in the last hour against the same hour of past days."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, type_coerce
from sqlalchemy.types import NullType

from social_care.metrics.cycles import clock_start
from social_care.metrics.load import driver_instant, driver_json
from social_care.metrics.records import LoggedEvent
from social_care.store.db import Database
from social_care.store.models import Event, Message

SIGNALS = ("negative", "public_complaint")
WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class SpikeCheck:
    """One signal's count in [window_start, window_end) against its baseline; `alert` when it spikes."""

    signal: str
    window_start: datetime
    window_end: datetime
    current: int
    baseline: tuple[int, ...]  # the same window 1, 2, ... days earlier
    mean: float
    stdev: float
    threshold: float
    min_count: int
    alert: bool


def detect(signal: str, current: int, baseline: Sequence[int], *, window_end: datetime, sigmas: float = 3.0,
           min_count: int = 5) -> SpikeCheck:
    """Alert when current > mean + sigmas * stdev (population) of the baseline, and current >= min_count."""
    mean = statistics.fmean(baseline) if baseline else 0.0
    stdev = statistics.pstdev(baseline) if len(baseline) > 1 else 0.0
    threshold = mean + sigmas * stdev
    return SpikeCheck(signal, window_end - WINDOW, window_end, current, tuple(baseline), mean, stdev, threshold,
                      min_count, current > threshold and current >= min_count)


def count_windows(instants: Sequence[datetime], now: datetime, days: int) -> tuple[int, tuple[int, ...]]:
    """Counts in [now - 1 h, now) and in the same window 1..days days earlier."""
    def count(end: datetime) -> int:
        return sum(1 for at in instants if end - WINDOW <= at < end)

    return count(now), tuple(count(now - timedelta(days=d)) for d in range(1, days + 1))


async def spike_checks(db: Database, *, now: datetime, days: int = 7, sigmas: float = 3.0,
                       min_count: int = 5) -> tuple[SpikeCheck, ...]:
    """The negative and public-complaint checks at `now`, from customer messages that reached us in time."""
    start = now - timedelta(days=days) - WINDOW
    async with db.read() as session:
        rows = (await (await session.connection()).execute(
            select(Event.id, type_coerce(Event.at, NullType()), type_coerce(Event.data, NullType()),
                   Message.sentiment_label,
                   Message.triage["public_complaint"].as_boolean())
            .join(Message, Message.id == Event.message_id)
            .where(Event.kind.concat("") == "received", Event.at >= start, Event.at < now,
                   Message.automated.is_(False))
        )).all()
    negative: list[datetime] = []
    complaints: list[datetime] = []
    for event_id, at, data, label, public_complaint in rows:
        # The same clock instant as the trends: when the customer wrote, clamped to when it reached us.
        written = clock_start(LoggedEvent(event_id, "received", driver_instant(at), data=driver_json(data)))
        if label == "negative":
            negative.append(written)
        if public_complaint:
            complaints.append(written)
    checks = []
    for signal, instants in zip(SIGNALS, (negative, complaints)):
        current, baseline = count_windows(instants, now, days)
        checks.append(detect(signal, current, baseline, window_end=now, sigmas=sigmas, min_count=min_count))
    return tuple(checks)

