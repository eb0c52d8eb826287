"""The scripted week (see scenario.py) on SQLite and PostgreSQL: every figure computed by hand, then the CLI.

Quantiles are nearest-rank: the value at rank ceil(q * n) of the sorted values (docs/metrics.md).
"""
from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from social_care.metrics import BusinessHours, MetricsReport, compute, export
from social_care.metrics import cli as metrics_cli
from tests.social_care.metrics.scenario import (
    BUSINESS_HOURS,
    NOW,
    RULES,
    RULES_NO_MARKETING,
    Scenario,
    at,
)

# The CLI's --since 2026-11-16 --until 2026-11-23 in Rome: Mon 16 00:00 (+01:00) to Tue 24 00:00 (+01:00).
SINCE = datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
HOUR = 3600


async def report_of(scenario: Scenario, **options: Any) -> MetricsReport:
    options.setdefault("rules", RULES)
    return await compute(scenario.db, since=SINCE, until=UNTIL, now=NOW, timezone="Europe/Rome", **options)


def durations(report: MetricsReport, metric: str,
              dimension: str = "all") -> dict[str, tuple[int, float | None, float | None]]:
    return {r.group: (r.count, r.median_seconds, r.p90_seconds)
            for r in report.response_times if r.metric == metric and r.dimension == dimension}


def compliance(report: MetricsReport, metric: str) -> float | None:
    row = report.sla_row(metric)
    assert row is not None
    return row.compliance


def sla(report: MetricsReport, metric: str, dimension: str = "all") -> dict[str, tuple[int, int, int, int, int]]:
    return {r.group: (r.met, r.breached, r.pending, r.closed, r.off_clock)
            for r in report.sla if r.metric == metric and r.dimension == dimension}


async def test_response_times_sla_and_backlog_on_the_wall_clock(scenario: Scenario) -> None:
    report = await report_of(scenario)
    c = scenario.conversations

    # First responses (platform timestamp of the cycle's first customer message -> human reply delivered):
    #   C1  Thu 09:00:00 -> 09:20:05                    = 1205 s   (the bot's 09:00:45 ack does not count)
    #   C2  Fri 10:00:00 -> 10:30:00                    = 1800 s
    #   C2' Fri 16:00:00 -> 16:45:00                    = 2700 s   (the reopening, not 10:00)
    #   C3  Fri 16:30:00 -> Mon 08:30:00 = 2 d 16 h     = 230400 s
    #   C4  Fri 11:00:00 -> 12:00:00                    = 3600 s   (the 11:10 forward does not count)
    #   C5  unanswered.
    # Sorted [1205, 1800, 2700, 3600, 230400]: median rank ceil(2.5)=3 -> 2700; p90 rank ceil(4.5)=5 -> 230400.
    assert durations(report, "first_response")["all"] == (5, 2700, 230400)
    # giulia [1205 (C1), 2700 (C2')]: ranks 1 and 2; luca [1800, 230400]; sara [3600].
    assert durations(report, "first_response", "agent") == {
        "giulia": (2, 1205, 2700), "luca": (2, 1800, 230400), "sara": (1, 3600, 3600)}
    # telegram [1205, 1800, 2700, 230400]: median rank 2 -> 1800, p90 rank ceil(3.6)=4 -> 230400; x [3600].
    assert durations(report, "first_response", "channel") == {
        "telegram:acme": (4, 1800, 230400), "x:acme": (1, 3600, 3600)}
    # C4 was forwarded before its reply, so it is a marketing cycle; the others are support.
    assert durations(report, "first_response", "queue") == {
        "support": (4, 1800, 230400), "marketing": (1, 3600, 3600)}
    # P1 [2700 (C2')], P2 [1205 (C1), 230400 (C3)], P3 [1800 (C2), 3600 (C4)].
    assert durations(report, "first_response", "priority") == {
        "P1": (1, 2700, 2700), "P2": (2, 1205, 230400), "P3": (2, 1800, 3600)}
    assert durations(report, "first_response", "lang") == {"en": (4, 1800, 230400), "it": (1, 3600, 3600)}

    # Every response: the first ones plus C1's second wait, Thu 09:30:00 -> 10:00:03 = 1803 s (the failed
    # delivery at 09:50:02 and the 09:35 note do not stop it). C2' has a second wait (Mon 10:00), unanswered.
    # Sorted [1205, 1800, 1803, 2700, 3600, 230400]: median rank 3 -> 1803; p90 rank ceil(5.4)=6 -> 230400.
    assert durations(report, "every_response")["all"] == (6, 1803, 230400)
    # giulia [1205, 1803, 2700] -> median rank 2 = 1803, p90 rank ceil(2.7)=3 = 2700.
    assert durations(report, "every_response", "agent")["giulia"] == (3, 1803, 2700)

    # Resolution (cycle start -> resolved): C1 09:00 -> 10:10 = 4200 s; C2 10:00 -> 10:40 = 2400 s;
    # C4 11:00 -> 12:30 = 5400 s. Sorted [2400, 4200, 5400]: median rank 2 -> 4200, p90 rank 3 -> 5400.
    assert durations(report, "resolution")["all"] == (3, 4200, 5400)
    assert durations(report, "resolution", "agent") == {
        "giulia": (1, 4200, 4200), "luca": (1, 2400, 2400), "sara": (1, 5400, 5400)}

    # SLA of first responses, targets P1 60 min, P2 240, P3 1440, marketing 2880:
    #   C1 P2 1205 s <= 14400 met; C2 P3 met; C2' P1 2700 <= 3600 met; C4 marketing 3600 <= 172800 met;
    #   C3 P2 230400 > 14400 breached; C5 P1 unanswered, 12.5 h waited > 1 h: breached.  4 / 6.
    assert sla(report, "first_response")["all"] == (4, 2, 0, 0, 0)
    assert compliance(report, "first_response") == pytest.approx(4 / 6)
    assert sla(report, "first_response", "agent") == {
        "giulia": (2, 0, 0, 0, 0), "luca": (1, 1, 0, 0, 0), "sara": (1, 0, 0, 0, 0), "(none)": (0, 1, 0, 0, 0)}
    # Every response adds C1's second wait (P3, met) and C2's Monday wait (P4, 2 h of 72: pending). 5 / 7.
    assert sla(report, "every_response")["all"] == (5, 2, 1, 0, 0)
    assert compliance(report, "every_response") == pytest.approx(5 / 7)

    # Breaches now: only C5, waiting since Sun 23:30, due 00:30 (P1), overdue at Mon 12:00 by 11.5 h.
    assert [(b.conversation_id, b.channel, b.priority, b.waiting_since, b.due_at, b.overdue_seconds)
            for b in report.breaches_now] == [(c["C5"], "x:acme", "P1", at(22, 23, 30), at(23, 0, 30), 11.5 * HOUR)]

    # Backlog at Mon 12:00: C2 (open, waiting since Mon 10:00), C3 (pending, answered), C5 (open, waiting
    # since Sun 23:30, 12.5 h). C1 and C4 are resolved.
    backlog = {(r.dimension, r.group): (r.open, r.pending, r.waiting, r.oldest_waiting_conversation_id,
                                        r.oldest_waiting_since, r.oldest_waiting_seconds) for r in report.backlog}
    assert backlog == {
        ("all", "all"): (3, 1, 2, c["C5"], at(22, 23, 30), 12.5 * HOUR),
        ("channel", "telegram:acme"): (2, 1, 1, c["C2"], at(23, 10), 2 * HOUR),
        ("channel", "x:acme"): (1, 0, 1, c["C5"], at(22, 23, 30), 12.5 * HOUR),
        ("queue", "support"): (3, 1, 2, c["C5"], at(22, 23, 30), 12.5 * HOUR),
        # A waiting thread has its wait's priority (C5 P1, C2's Monday message P4); an answered one is P4.
        ("priority", "P1"): (1, 0, 1, c["C5"], at(22, 23, 30), 12.5 * HOUR),
        ("priority", "P4"): (2, 1, 1, c["C2"], at(23, 10), 2 * HOUR),
    }

    cycles = [(r.conversation_id, r.cycle, r.started_at, r.first_response_seconds, r.queue, r.priority, r.sla,
               r.waits, r.replies) for r in report.cycles]
    assert cycles == [
        (c["C1"], 1, at(19, 9), 1205, "support", "P2", "met", 2, 2),  # the bot's ack is not a reply
        (c["C2"], 1, at(20, 10), 1800, "support", "P3", "met", 1, 1),
        (c["C4"], 1, at(20, 11), 3600, "marketing", "P3", "met", 1, 1),
        (c["C2"], 2, at(20, 16), 2700, "support", "P1", "met", 2, 1),
        (c["C3"], 1, at(20, 16, 30), 230400, "support", "P2", "breached", 1, 1),
        (c["C5"], 1, at(22, 23, 30), None, "support", "P1", "breached", 1, 0),
    ]


async def test_trends_complaints_and_volume_by_rome_day(scenario: Scenario) -> None:
    report = await report_of(scenario)
    thu, fri, mon = "2026-11-19T00:00:00+01:00", "2026-11-20T00:00:00+01:00", "2026-11-23T00:00:00+01:00"
    trend = {(r.bucket, r.dimension, r.group): (r.messages, r.negative, r.neutral, r.positive, r.mean_compound)
             for r in report.sentiment}
    # Thu: m1 -0.5, m2 -0.25, both negative: mean -0.75 / 2 = -0.375.
    assert trend[(thu, "all", "all")] == (2, 2, 0, 0, -0.375)
    # Fri: m3 0.0 neutral, m7 0.75 positive, m4 -0.75 and m6 -0.5 negative: mean -0.5 / 4 = -0.125.
    assert trend[(fri, "all", "all")] == (4, 2, 1, 1, -0.125)
    # m8 was written Sun 23:30 UTC = Mon 00:30 in Rome, so Monday holds m8 -1.0 and m5 0.5: mean -0.25.
    assert trend[(mon, "all", "all")] == (2, 1, 0, 1, -0.25)
    # By queue on Friday: m7 was handled in marketing (forwarded before its answer); support m3, m4, m6.
    assert trend[(fri, "queue", "marketing")] == (1, 0, 0, 1, 0.75)
    assert trend[(fri, "queue", "support")] == (3, 2, 1, 0, -1.25 / 3)
    assert trend[(fri, "lang", "it")] == (1, 0, 0, 1, 0.75)
    assert trend[(fri, "channel", "telegram:acme")] == (3, 2, 1, 0, -1.25 / 3)
    friday = next(r for r in report.sentiment if (r.bucket, r.dimension) == (fri, "all"))
    assert (friday.share_negative, friday.share_neutral, friday.share_positive) == (0.5, 0.25, 0.25)

    assert [(r.bucket, r.dimension, r.group, r.public_complaints) for r in report.public_complaints] == [
        (mon, "all", "all", 1), (mon, "channel", "x:acme", 1)]

    # Inbound customer messages by the day they were written; conversations by the day they were opened.
    assert [(r.bucket, r.dimension, r.group, r.inbound_messages, r.new_conversations) for r in report.volume] == [
        (thu, "all", "all", 2, 1), (thu, "channel", "telegram:acme", 2, 1),
        (fri, "all", "all", 4, 3), (fri, "channel", "telegram:acme", 3, 2), (fri, "channel", "x:acme", 1, 1),
        (mon, "all", "all", 2, 1), (mon, "channel", "telegram:acme", 1, 0), (mon, "channel", "x:acme", 1, 1),
    ]


async def test_business_hours_count_only_open_time(scenario: Scenario) -> None:
    report = await report_of(scenario, business_hours=BusinessHours.from_dict(BUSINESS_HOURS))
    assert report.business_hours and report.timezone == "Europe/Rome"
    # Open Mon-Fri 09:00-18:00 Rome = 08:00-17:00 UTC. Every answer on Thu/Fri fell inside opening hours,
    # so only C3 changes: Fri 16:30-17:00 (30 min) + Mon 08:00-08:30 (30 min) = 3600 s instead of 230400.
    # First responses sorted [1205, 1800, 2700, 3600, 3600]: median rank 3 -> 2700, p90 rank 5 -> 3600.
    assert durations(report, "first_response")["all"] == (5, 2700, 3600)
    # Every response [1205, 1800, 1803, 2700, 3600, 3600]: median rank 3 -> 1803, p90 rank 6 -> 3600.
    assert durations(report, "every_response")["all"] == (6, 1803, 3600)
    assert durations(report, "resolution")["all"] == (3, 4200, 5400)
    # C3 now meets its P2 target (1 h of open time <= 4 h): 5 met; C5 still breached (Mon 08:00-12:00 = 4 h > 1 h).
    assert sla(report, "first_response")["all"] == (5, 1, 0, 0, 0)
    assert sla(report, "every_response")["all"] == (6, 1, 1, 0, 0)
    c3 = next(r for r in report.cycles if r.conversation_id == scenario.conversations["C3"])
    # Due after 4 h of open time: Fri 16:30-17:00 (0.5 h), then Mon 08:00 + 3.5 h = Mon 11:30 UTC.
    assert (c3.first_response_seconds, c3.due_at, c3.sla) == (3600, at(23, 11, 30), "met")
    # C5's hour of open time starts Monday 08:00 UTC: due 09:00, overdue by 09:00-12:00 = 3 h at noon.
    assert [(b.conversation_id, b.due_at, b.overdue_seconds) for b in report.breaches_now] == [
        (scenario.conversations["C5"], at(23, 9), 3 * HOUR)]
    oldest = report.backlog[0]
    assert (oldest.dimension, oldest.oldest_waiting_seconds) == ("all", 4 * HOUR)


async def test_marketing_threads_are_off_the_clock_without_a_marketing_target(scenario: Scenario) -> None:
    report = await report_of(scenario, rules=RULES_NO_MARKETING)
    # C4 leaves the SLA denominator: 3 met (C1, C2, C2'), 2 breached (C3, C5): 3 / 5.
    assert sla(report, "first_response")["all"] == (3, 2, 0, 0, 1)
    assert compliance(report, "first_response") == pytest.approx(0.6)
    c4 = next(r for r in report.cycles if r.conversation_id == scenario.conversations["C4"])
    assert (c4.sla, c4.target_seconds, c4.due_at, c4.first_response_seconds) == ("off_clock", None, None, 3600)
    # Its response time is still measured.
    assert durations(report, "first_response")["all"] == (5, 2700, 230400)


async def test_the_cli_prints_the_same_numbers_as_compute(scenario: Scenario, capsys: pytest.CaptureFixture[str]) -> None:
    settings = SimpleNamespace(database_url=scenario.url, triage={"sla": {"P1": 60, "P2": 240, "P3": 1440,
                                                                          "P4": 4320, "marketing": 2880}},
                               business_hours=BUSINESS_HOURS)
    argv = ["--since", "2026-11-16", "--until", "2026-11-23", "--now", "2026-11-23T12:00:00Z"]
    capsys.readouterr()
    assert await asyncio.to_thread(metrics_cli.main, [*argv, "--format", "json"], settings=settings) == 0
    printed = json.loads(capsys.readouterr().out)
    report = await compute(scenario.db, since=SINCE, until=UNTIL, now=NOW, rules=RULES,
                           business_hours=BusinessHours.from_dict(BUSINESS_HOURS))
    assert printed == export.report_dict(report)
    first = next(r for r in printed["tables"]["response_times"]
                 if (r["metric"], r["dimension"], r["group"]) == ("first_response", "all", "all"))
    assert (first["count"], first["median_seconds"], first["p90_seconds"]) == (5, 2700, 3600)  # business hours
    assert printed["tables"]["breaches_now"][0]["due_at"] == "2026-11-23T09:00:00+00:00"

    assert await asyncio.to_thread(metrics_cli.main, [*argv, "--format", "csv", "--by", "agent",
                                                      "--no-business-hours"], settings=settings) == 0
    sections = _csv_sections(capsys.readouterr().out)
    assert set(sections) == set(MetricsReport.TABLES)
    wall = await compute(scenario.db, since=SINCE, until=UNTIL, now=NOW, rules=RULES, timezone="Europe/Rome")
    for name, table in sections.items():
        assert table == list(csv.DictReader(io.StringIO(export.table_csv(wall, name, by="agent")))), name
    first_by_agent = {(r["dimension"], r["group"]): (r["count"], r["median_seconds"], r["p90_seconds"])
                      for r in sections["response_times"] if r["metric"] == "first_response"}
    assert first_by_agent == {("all", "all"): ("5", "2700.0", "230400.0"), ("agent", "giulia"): ("2", "1205.0", "2700.0"),
                              ("agent", "luca"): ("2", "1800.0", "230400.0"), ("agent", "sara"): ("1", "3600.0", "3600.0")}

    assert await asyncio.to_thread(metrics_cli.main, [*argv, "--no-business-hours"], settings=settings) == 0
    printed_table = capsys.readouterr().out
    assert "first_response  all        all            5      0:45:00         64:00:00" in printed_table


def _csv_sections(text: str) -> dict[str, list[dict[str, str]]]:
    sections: dict[str, list[dict[str, str]]] = {}
    for block in text.split("\n# "):
        name, _, body = block.removeprefix("# ").partition("\n")
        sections[name] = list(csv.DictReader(io.StringIO(body)))
    return sections
