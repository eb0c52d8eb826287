"""One entry point for the dashboard and the CLI: load the log for a range and compute the report."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from social_care.metrics.business_hours import BusinessHours
from social_care.metrics.cycles import ConversationFacts, conversation_facts
from social_care.metrics.figures import INTERVALS, Clock, Scope, build_report
from social_care.metrics.load import RawPage, conversation_ids, iter_pages, load_directory
from social_care.metrics.report import MetricsReport
from social_care.store.db import Database
from social_care.store.types import utcnow

if TYPE_CHECKING:
    from triage import TriageRules


class MetricsError(ValueError):
    """The question is malformed (naive dates, an empty range, an unknown interval or time zone)."""


def report_zone(timezone: str | None, business_hours: BusinessHours | None) -> ZoneInfo:
    """The zone days and hours are cut in: the given one, else the calendar's, else UTC."""
    if timezone:
        try:
            return ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise MetricsError(f"unknown time zone {timezone!r}") from err
    return business_hours.timezone if business_hours is not None else ZoneInfo("UTC")


async def compute(
    db: Database,
    *,
    since: datetime,
    until: datetime,
    rules: TriageRules,
    business_hours: BusinessHours | None = None,
    now: datetime | None = None,
    interval: str = "day",
    timezone: str | None = None,
) -> MetricsReport:
    """Every figure for cycles, waits and messages starting in [since, until), and the backlog at `now`."""
    now = now or utcnow()
    for name, value in (("since", since), ("until", until), ("now", now)):
        if value.tzinfo is None:
            raise MetricsError(f"{name} must be timezone-aware")
    if until <= since:
        raise MetricsError("the range is empty: until must be after since")
    if interval not in INTERVALS:
        raise MetricsError(f"interval must be one of {', '.join(INTERVALS)}")
    scope = Scope(since=since, until=until, now=now, rules=rules, directory=await load_directory(db),
                  clock=Clock(business_hours), timezone=report_zone(timezone, business_hours), interval=interval)
    facts: list[ConversationFacts] = []
    async for page in iter_pages(db, await conversation_ids(db, since=since, until=until)):
        # Building the records and replaying them is CPU work; off the event loop, so a dashboard in the
        # service does not stall webhooks.
        facts.extend(await asyncio.to_thread(_replay, page, now))
    return await asyncio.to_thread(build_report, facts, scope)


def _replay(page: RawPage, now: datetime) -> list[ConversationFacts]:
    return [conversation_facts(log, now=now) for log in page.logs()]
