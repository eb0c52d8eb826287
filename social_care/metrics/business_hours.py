"""An optional business-hours calendar: only open time counts on the response clocks (DST-safe)."""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# Bounds the calendar walk of `add` (a target longer than this many days of calendar is a mistake).
MAX_DAYS = 3700

Opening = tuple[time, time | None]  # None as the end means midnight at the end of the day (24:00)


class BusinessHoursError(ValueError):
    """The `[business_hours]` table is malformed; the message names the offending key."""


@dataclass(frozen=True)
class BusinessHours:
    """Opening ranges per weekday (Monday first) in one time zone, minus holidays."""

    timezone: ZoneInfo
    week: tuple[tuple[Opening, ...], ...]
    holidays: frozenset[date] = frozenset()
    _cache: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> BusinessHours:
        """Parse a `[business_hours]` TOML table (see docs/metrics.md for the format)."""
        if not isinstance(table, Mapping):
            raise BusinessHoursError("business_hours must be a table")
        known = {"timezone", "weekdays", "holidays", *WEEKDAYS}
        unknown = sorted(set(table) - known)
        if unknown:
            raise BusinessHoursError(f"business_hours: unknown key(s) {', '.join(unknown)}")
        name = table.get("timezone")
        if not isinstance(name, str) or not name:
            raise BusinessHoursError("business_hours.timezone is required, e.g. \"Europe/Rome\"")
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise BusinessHoursError(f"business_hours.timezone: unknown time zone {name!r}") from err
        default = _ranges("weekdays", table["weekdays"]) if "weekdays" in table else ()
        week = tuple(
            _ranges(day, table[day]) if day in table else (default if index < 5 else ())
            for index, day in enumerate(WEEKDAYS)
        )
        if not any(week):
            raise BusinessHoursError("business_hours: no opening hours on any day")
        holidays = table.get("holidays", [])
        if not isinstance(holidays, list):
            raise BusinessHoursError("business_hours.holidays must be a list of dates")
        return cls(zone, week, frozenset(_date(value) for value in holidays))

    @property
    def timezone_name(self) -> str:
        return self.timezone.key

    def openings(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The open intervals of a local calendar day as UTC instants (empty on holidays)."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        intervals: list[tuple[datetime, datetime]] = []
        if day not in self.holidays:
            for start, end in self.week[day.weekday()]:
                # Local wall times are attached to the zone, then compared as instants: a day with a DST
                # change simply has one hour more or less inside its ranges.
                opens = datetime.combine(day, start, tzinfo=self.timezone)
                closes = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.timezone)
                          if end is None else datetime.combine(day, end, tzinfo=self.timezone))
                if _instant(closes) > _instant(opens):
                    intervals.append((_instant(opens), _instant(closes)))
        result = tuple(intervals)
        self._cache[day] = result
        return result

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two aware instants (zero when end is not after start)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = start.astimezone(self.timezone).date()
        last = end.astimezone(self.timezone).date()
        while day <= last:
            for opens, closes in self.openings(day):
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of open time has passed since `start` (the due time of a target)."""
        start = start.astimezone(UTC)
        remaining = duration
        if remaining <= timedelta(0):
            return start
        day = start.astimezone(self.timezone).date()
        for _ in range(MAX_DAYS):
            for opens, closes in self.openings(day):
                lo, hi = max(opens, start), closes
                if hi <= lo:
                    continue
                if remaining <= hi - lo:
                    return lo + remaining
                remaining -= hi - lo
            day += timedelta(days=1)
        raise BusinessHoursError(f"business_hours: {duration} of open time is not reached within {MAX_DAYS} days")

    def is_open(self, at: datetime) -> bool:
        """Whether the instant falls inside an opening range."""
        day = at.astimezone(self.timezone).date()
        return any(o <= at < c for d in (day - timedelta(days=1), day)
                   for o, c in self.openings(d))


def _instant(value: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare and subtract by wall time in Python; UTC gives instants.
    return value.astimezone(UTC)


def _ranges(key: str, value: Any) -> tuple[Opening, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BusinessHoursError(f'business_hours.{key} must be a list of "HH:MM-HH:MM" strings')
    ranges: list[Opening] = []
    for text in value:
        match = _RANGE.match(text)
        if match is None:
            raise BusinessHoursError(f'business_hours.{key}: {text!r} is not "HH:MM-HH:MM"')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise BusinessHoursError(f"business_hours.{key}: {text!r} is not a valid time range")
        start = time(h1, m1)
        end = None if h2 == 24 else time(h2, m2)
        if end is not None and end <= start:
            raise BusinessHoursError(f"business_hours.{key}: {text!r} ends before it starts (use 24:00 for midnight)")
        ranges.append((start, end))
    ordered = sorted(ranges, key=lambda r: r[0])
    for (_s1, e1), (s2, _e2) in itertools.pairwise(ordered):
        if e1 is None or e1 > s2:
            raise BusinessHoursError(f"business_hours.{key}: ranges overlap")
    return tuple(ordered)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        raise BusinessHoursError(f"business_hours.holidays: {value!r} is a date-time; give a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise BusinessHoursError(f"business_hours.holidays: {value!r} is not a date (YYYY-MM-DD)")
