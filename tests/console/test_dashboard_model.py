"""The dashboard's view-model on the scripted week: the same numbers as `social-care metrics --format json`."""
from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from console.dashboard.model import (
    DashboardModel,
    RangeError,
    ReportCache,
    complaints_series,
    inbound_series,
    inbox_link,
    kpis,
    new_conversation_series,
    resolve_range,
    table_csv,
    table_rows,
    trend_groups,
)
from social_care.metrics import BusinessHours, export
from social_care.metrics import cli as metrics_cli
from social_care.metrics.registry import MetricsConfig
from social_care.metrics.report import MetricsReport
from tests.social_care.metrics.conftest import clock, scenario  # noqa: F401 (fixtures)
from tests.social_care.metrics.scenario import (
    BUSINESS_HOURS,
    NOW,
    RULES,
    FakeClock,
    Scenario,
    at,
    resume,
    telegram,
)

ROME = ZoneInfo("Europe/Rome")
SLA = {"P1": 60, "P2": 240, "P3": 1440, "P4": 4320, "marketing": 2880}
THU, FRI, MON = "2026-11-19T00:00:00+01:00", "2026-11-20T00:00:00+01:00", "2026-11-23T00:00:00+01:00"


def model_of(scenario: Scenario) -> DashboardModel:
    return DashboardModel(scenario.db, config=MetricsConfig(RULES, BusinessHours.from_dict(BUSINESS_HOURS)),
                          now=lambda: NOW, cache=ReportCache())


async def cli_json(scenario: Scenario, capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    settings = SimpleNamespace(database_url=scenario.url, triage={"sla": SLA}, business_hours=BUSINESS_HOURS)
    capsys.readouterr()
    assert await asyncio.to_thread(metrics_cli.main, [*argv, "--now", "2026-11-23T12:00:00Z", "--format", "json"],
                                   settings=settings) == 0
    return json.loads(capsys.readouterr().out)


async def test_custom_and_preset_ranges_match_the_cli(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    model = model_of(scenario)
    model.choose("custom", date(2026, 11, 16), date(2026, 11, 23))
    report = await model.load()
    assert report is not None and model.error == ""
    assert export.report_dict(report) == await cli_json(scenario, capsys, "--since", "2026-11-16", "--until", "2026-11-23")

    # The default range: the last 7 Rome days, today included, up to now; the CLI's --since 2026-11-17.
    model.choose("7d")
    report = await model.load()
    assert report is not None and (report.since, report.until, report.interval) == (
        datetime(2026, 11, 16, 23, tzinfo=UTC), NOW, "day")
    assert export.report_dict(report) == await cli_json(scenario, capsys, "--since", "2026-11-17")

    model.choose("24h")
    report = await model.load()
    assert report is not None and report.interval == "hour"
    assert export.report_dict(report) == await cli_json(
        scenario, capsys, "--since", "2026-11-22T12:00:00Z", "--until", "2026-11-23T12:00:00Z", "--interval", "hour")


async def test_what_is_drawn_comes_from_the_hand_computed_figures(scenario: Scenario) -> None:
    model = model_of(scenario)
    model.choose("custom", date(2026, 11, 16), date(2026, 11, 23))
    report = await model.load()
    assert report is not None
    c = scenario.conversations
    k = kpis(report)
    # Business hours on: first responses [1205, 1800, 2700, 3600, 3600] (test_scenario.py).
    assert (k.first_response_median, k.first_response_p90, k.every_response_median, k.resolution_median) == (
        2700, 3600, 1803, 4200)
    assert (k.compliance_first, k.breaches_now, k.open, k.pending, k.waiting) == (5 / 6, 1, 3, 1, 2)
    assert (k.oldest_waiting_conversation_id, k.oldest_waiting_seconds) == (c["C5"], 4 * 3600)
    assert (k.inbound_messages, k.new_conversations, k.public_complaints) == (8, 5, 1)

    trend = model.sentiment()
    assert trend.buckets == (THU, FRI, MON)
    assert trend.messages == (2, 4, 2)
    assert (trend.share_negative[1], trend.share_neutral[1], trend.share_positive[1]) == (0.5, 0.25, 0.25)
    assert trend.mean_compound == (-0.375, -0.125, -0.25)
    assert trend_groups(report) == {"all": ("all",), "channel": ("telegram:acme", "x:acme"),
                                    "queue": ("marketing", "support"), "lang": ("en", "it")}
    model.trend_dimension, model.trend_group = "queue", "marketing"
    assert (model.sentiment().buckets, model.sentiment().share_positive) == ((FRI,), (1.0,))

    assert complaints_series(report).buckets == (MON,)
    assert complaints_series(report).groups == {"all": (1,), "x:acme": (1,)}
    inbound, new = inbound_series(report), new_conversation_series(report)
    assert inbound.buckets == (THU, FRI, MON)
    assert inbound.groups == {"all": (2, 4, 2), "telegram:acme": (2, 3, 1), "x:acme": (0, 1, 1)}
    assert new.groups == {"all": (1, 3, 1), "telegram:acme": (1, 2, 0), "x:acme": (0, 1, 1)}

    by_agent = {r["group"]: (r["count"], r["median_seconds"], r["p90_seconds"])
                for r in table_rows(report, "response_times", metric="first_response", dimension="agent")}
    assert by_agent == {"all": (5, 2700, 3600), "giulia": (2, 1205, 2700), "luca": (2, 1800, 3600),
                        "sara": (1, 3600, 3600)}
    breaches = table_rows(report, "breaches_now")
    assert [(b["conversation_id"], b["due_at"]) for b in breaches] == [(c["C5"], "2026-11-23T09:00:00+00:00")]
    assert inbox_link(breaches[0]["conversation_id"]) == f"/inbox?c={c['C5']}"


async def test_every_table_downloads_as_the_cli_writes_it(scenario: Scenario, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = model_of(scenario)
    model.choose("custom", date(2026, 11, 16), date(2026, 11, 23))
    report = await model.load()
    assert report is not None
    settings = SimpleNamespace(database_url=scenario.url, triage={"sla": SLA}, business_hours=BUSINESS_HOURS)
    argv = ["--since", "2026-11-16", "--until", "2026-11-23", "--now", "2026-11-23T12:00:00Z", "--format", "csv",
            "--output", str(tmp_path)]
    assert await asyncio.to_thread(metrics_cli.main, argv, settings=settings) == 0
    for name in MetricsReport.TABLES:
        written = (tmp_path / f"{name}.csv").read_text(encoding="utf-8")
        assert table_csv(report, name) == written, name
        assert next(csv.reader(io.StringIO(written)))[0] in ("metric", "conversation_id", "dimension", "bucket")


def test_ranges() -> None:
    now = at(23, 12)
    week = resolve_range("7d", now, ROME)
    assert (week.since, week.until, week.interval) == (datetime(2026, 11, 16, 23, tzinfo=UTC), now, "day")
    month = resolve_range("30d", now, ROME)
    assert month.since == datetime(2026, 10, 24, 22, tzinfo=UTC)  # Oct 25 00:00 in Rome is still summer time
    day = resolve_range("24h", now, ROME)
    assert (day.since, day.interval) == (at(22, 12), "hour")
    one = resolve_range("custom", now, ROME, date(2026, 11, 20), date(2026, 11, 20))
    assert (one.since, one.until, one.interval) == (at(19, 23), at(20, 23), "hour")
    for start, end, message in ((None, date(2026, 11, 2), "pick a start"), (date(2026, 11, 3), date(2026, 11, 2), "before"),
                                (date(2025, 1, 1), date(2026, 11, 2), "at most")):
        with pytest.raises(RangeError, match=message):
            resolve_range("custom", now, ROME, start, end)


async def test_a_bad_custom_range_is_an_error_not_a_crash(scenario: Scenario) -> None:
    model = model_of(scenario)
    model.choose("custom", date(2026, 11, 23), date(2026, 11, 16))
    assert await model.load() is None and "before" in model.error


async def test_sessions_share_one_computation(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.dashboard import model as module

    calls = 0
    real = module.compute

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, "compute", counting)
    cache = ReportCache()
    config = MetricsConfig(RULES)
    first, second = (DashboardModel(scenario.db, config=config, now=lambda: NOW, cache=cache) for _ in range(2))
    one, two = await asyncio.gather(first.load(), second.load())
    assert one is two and calls == 1
    await first.load(fresh=True)
    assert calls == 2


async def test_a_fresh_load_shows_new_activity_and_replays_only_that_conversation(
    scenario: Scenario, clock: FakeClock
) -> None:
    cache = ReportCache()
    later = NOW + timedelta(hours=1)
    model = DashboardModel(scenario.db, config=MetricsConfig(RULES), now=lambda: later, cache=cache)
    first = await model.load()
    assert first is not None and cache.facts.hits == 0
    script = await resume(scenario.db, clock)
    c1 = scenario.conversations["C1"]  # resolved on Thursday; the customer writes again
    assert await script.customer(at(23, 12, 30, 2), telegram(1, 3, "Still nothing?", at(23, 12, 30))) == c1
    second = await model.load()
    assert second is first  # shared for SHARE_FOR seconds
    third = await model.load(fresh=True)
    assert third is not None and len(third.cycles) == len(first.cycles) + 1
    assert cache.facts.hits == len(scenario.conversations) - 1
