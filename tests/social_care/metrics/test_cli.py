"""`social-care metrics`: bad input exits 2 with one clear line; an unreadable store exits 1."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from social_care.metrics import cli
from social_care.store.migrate import upgrade


def settings(url: str = "sqlite+aiosqlite:///:memory:", **extra: object) -> SimpleNamespace:
    return SimpleNamespace(database_url=url, triage={}, **extra)


@pytest.mark.parametrize(("argv", "message"), [
    ([], "--since"),
    (["--since", "2026-13-01"], "not a valid date"),
    (["--since", "yesterday"], "not an ISO date"),
    (["--since", "2026-11-20", "--until", "2026-11-19"], "--until must be after --since"),
    (["--since", "2026-11-20", "--by", "mood"], "invalid choice: 'mood'"),
    (["--since", "2026-11-20", "--interval", "week"], "invalid choice: 'week'"),
    (["--since", "2026-11-20", "--format", "xml"], "invalid choice: 'xml'"),
    (["--since", "2026-11-20", "--timezone", "Mars/Olympus"], "unknown time zone"),
    (["--since", "2026-11-20", "--output", "/tmp/x"], "--output needs --format csv"),
    (["--since", "2026-11-20", "--now", "noon"], "not an ISO date"),
    (["--since", "2026-11-20", "--table", "everything"], "invalid choice: 'everything'"),
])
def test_bad_input_exits_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv, settings=settings()) == 2
    err = capsys.readouterr().err
    assert err.startswith("social-care metrics: error: ") and message in err
    assert err.count("\n") == 1


def test_bad_configuration_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--since", "2026-11-20"], settings=settings(business_hours={"weekdays": ["09:00-18:00"]})) == 2
    assert "business_hours.timezone is required" in capsys.readouterr().err
    bad_rules = SimpleNamespace(database_url="sqlite+aiosqlite:///:memory:", triage={"sla": {"P9": 5}})
    assert cli.main(["--since", "2026-11-20"], settings=bad_rules) == 2
    assert "triage.sla" in capsys.readouterr().err


def test_a_store_without_the_schema_exits_1(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--since", "2026-11-20"], settings=settings(sqlite_url)) == 1
    assert "cannot read the store" in capsys.readouterr().err


async def test_an_empty_store_gives_empty_tables(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.to_thread(upgrade, sqlite_url)
    argv = ["--since", "2026-11-20", "--until", "2026-11-20T12:00", "--format", "json", "--timezone", "Europe/Rome"]
    assert await asyncio.to_thread(cli.main, argv, settings=settings(sqlite_url)) == 0
    printed = json.loads(capsys.readouterr().out)
    # Dates are local midnights in the chosen zone; a date-time without offset is read in it too.
    assert (printed["since"], printed["until"]) == ("2026-11-19T23:00:00+00:00", "2026-11-20T11:00:00+00:00")
    assert all(rows == [] for rows in printed["tables"].values())
    assert await asyncio.to_thread(cli.main, ["--since", "2026-11-20"], settings=settings(sqlite_url)) == 0
    assert "response times (0 rows)" in capsys.readouterr().out


def test_dates_and_date_times() -> None:
    rome = ZoneInfo("Europe/Rome")
    assert cli.parse_instant("2026-11-20", rome) == datetime(2026, 11, 19, 23, tzinfo=UTC)
    # An inclusive end date covers its whole day.
    assert cli.parse_instant("2026-11-20", rome, end_of_day=True) == datetime(2026, 11, 20, 23, tzinfo=UTC)
    assert cli.parse_instant("2026-11-20T10:00", rome) == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert cli.parse_instant("2026-11-20T10:00Z", rome) == datetime(2026, 11, 20, 10, tzinfo=UTC)
