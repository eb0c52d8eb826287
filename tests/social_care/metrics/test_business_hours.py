"""Business hours: only open time counts, across weekends, holidays and both DST changes (Europe/Rome)."""
from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from social_care.metrics.business_hours import BusinessHours, BusinessHoursError

ROME = ZoneInfo("Europe/Rome")
OFFICE = BusinessHours.from_dict({"timezone": "Europe/Rome", "weekdays": ["09:00-13:00", "14:00-18:00"]})
ALWAYS = BusinessHours.from_dict({"timezone": "Europe/Rome", "weekdays": ["00:00-24:00"],
                                  "saturday": ["00:00-24:00"], "sunday": ["00:00-24:00"]})


def rome(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ROME)


def test_a_weekend_does_not_count() -> None:
    # Fri 2026-11-20 17:30 -> Mon 23 09:30: Friday 17:30-18:00 + Monday 09:00-09:30 = 1 h.
    assert OFFICE.elapsed(rome(2026, 11, 20, 17, 30), rome(2026, 11, 23, 9, 30)) == timedelta(hours=1)
    # The lunch break does not count either: 12:00 -> 15:00 = 12-13 + 14-15 = 2 h.
    assert OFFICE.elapsed(rome(2026, 11, 23, 12), rome(2026, 11, 23, 15)) == timedelta(hours=2)
    # Entirely inside the weekend: nothing.
    assert OFFICE.elapsed(rome(2026, 11, 21, 10), rome(2026, 11, 22, 20)) == timedelta(0)
    # The instants may come in any zone.
    assert OFFICE.elapsed(datetime(2026, 11, 20, 16, 30, tzinfo=UTC),
                          datetime(2026, 11, 23, 8, 30, tzinfo=UTC)) == timedelta(hours=1)
    assert OFFICE.elapsed(rome(2026, 11, 23, 10), rome(2026, 11, 23, 9)) == timedelta(0)


def test_the_spring_dst_change() -> None:
    # Rome moves from +01:00 to +02:00 on Sunday 2026-03-29 at 02:00.
    # Fri 27 17:00 (16:00 UTC) -> Mon 30 10:00 (08:00 UTC): Friday 1 h + Monday 1 h, counted in local hours.
    assert OFFICE.elapsed(datetime(2026, 3, 27, 16, tzinfo=UTC), datetime(2026, 3, 30, 8, tzinfo=UTC)) == timedelta(hours=2)
    # Sunday the 29th has 23 hours.
    assert ALWAYS.elapsed(rome(2026, 3, 29, 0), rome(2026, 3, 30, 0)) == timedelta(hours=23)
    # Sat noon -> Mon noon: 24 + 23 = 47 h.
    assert ALWAYS.elapsed(rome(2026, 3, 28, 12), rome(2026, 3, 30, 12)) == timedelta(hours=47)


def test_the_autumn_dst_change() -> None:
    # Rome moves back from +02:00 to +01:00 on Sunday 2026-10-25 at 03:00: that day has 25 hours.
    assert ALWAYS.elapsed(rome(2026, 10, 25, 0), rome(2026, 10, 26, 0)) == timedelta(hours=25)
    night = BusinessHours.from_dict({"timezone": "Europe/Rome", "sunday": ["00:00-06:00"]})
    # 00:00 -> 06:00 local on that Sunday lasts 7 real hours.
    assert night.elapsed(rome(2026, 10, 24, 12), rome(2026, 10, 26, 12)) == timedelta(hours=7)


def test_add_finds_the_due_time_in_open_time() -> None:
    # 4 h from Fri 16:30 Rome: 1.5 h on Friday, then 2.5 h from Mon 09:00 with lunch: 09-11:30.
    assert OFFICE.add(rome(2026, 11, 20, 16, 30), timedelta(hours=4)) == rome(2026, 11, 23, 11, 30)
    # Starting on Saturday night counts from Monday's opening; crossing lunch adds the break.
    assert OFFICE.add(rome(2026, 11, 21, 23), timedelta(hours=5)) == rome(2026, 11, 23, 15)
    # Across the spring change: Fri 27 March 17:00 + 2 h = Mon 30 10:00 local (08:00 UTC, +02:00).
    due = OFFICE.add(rome(2026, 3, 27, 17), timedelta(hours=2))
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert OFFICE.elapsed(rome(2026, 3, 27, 17), due) == timedelta(hours=2)
    assert OFFICE.add(rome(2026, 11, 21, 23), timedelta(0)) == rome(2026, 11, 21, 23)


def test_holidays_are_closed() -> None:
    hours = BusinessHours.from_dict({"timezone": "Europe/Rome", "weekdays": ["09:00-18:00"],
                                     "holidays": ["2026-12-07", date(2026, 12, 8)]})
    # Fri 4 Dec 17:00 -> Wed 9 Dec 10:00, Monday 7 and Tuesday 8 closed: 1 h + 1 h.
    assert hours.elapsed(rome(2026, 12, 4, 17), rome(2026, 12, 9, 10)) == timedelta(hours=2)
    assert not hours.is_open(rome(2026, 12, 8, 11))
    assert hours.is_open(rome(2026, 12, 9, 11))


def test_the_toml_table() -> None:
    table = tomllib.loads("""
[business_hours]
timezone = "Europe/Rome"
weekdays = ["09:00-18:00"]
friday = ["09:00-13:00"]
saturday = ["10:00-12:00"]
holidays = [2026-12-25, "2026-12-26"]
""")["business_hours"]
    hours = BusinessHours.from_dict(table)
    assert hours.timezone_name == "Europe/Rome"
    assert hours.holidays == {date(2026, 12, 25), date(2026, 12, 26)}
    # Thu 9 h, Fri 4 h (its own ranges win over `weekdays`), Sat 2 h, Sun closed.
    assert hours.elapsed(rome(2026, 11, 19, 0), rome(2026, 11, 23, 0)) == timedelta(hours=15)


@pytest.mark.parametrize(("table", "message"), [
    ({"weekdays": ["09:00-18:00"]}, "timezone is required"),
    ({"timezone": "Europe/Nowhere", "weekdays": ["09:00-18:00"]}, "unknown time zone"),
    ({"timezone": "UTC", "weekdays": ["9-18"]}, "HH:MM-HH:MM"),
    ({"timezone": "UTC", "weekdays": ["18:00-09:00"]}, "ends before it starts"),
    ({"timezone": "UTC", "weekdays": ["09:00-13:00", "12:00-18:00"]}, "overlap"),
    ({"timezone": "UTC", "weekdays": ["09:00-25:00"]}, "not a valid time range"),
    ({"timezone": "UTC", "monday": "09:00-18:00"}, "must be a list"),
    ({"timezone": "UTC"}, "no opening hours"),
    ({"timezone": "UTC", "weekdays": ["09:00-18:00"], "holidays": ["25/12/2026"]}, "not a date"),
    ({"timezone": "UTC", "weekdays": ["09:00-18:00"], "lunch": ["13:00-14:00"]}, "unknown key"),
])
def test_a_malformed_table_names_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(BusinessHoursError, match=message):
        BusinessHours.from_dict(table)
