"""One entry point for the dashboard and the CLI: load the log for a range and compute the report."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from social_care.metrics.business_hours import BusinessHours
from social_care.metrics.cycles import ConversationFacts, conversation_facts
from social_care.metrics.facts_cache import FactsCache, LogVersion
from social_care.metrics.figures import INTERVALS, Clock, Scope, build_report
from social_care.metrics.gc_pause import cyclic_gc_paused
from social_care.metrics.load import RawPage, conversation_ids, iter_pages, load_directory, log_versions
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
    facts_cache: FactsCache | None = None,
) -> MetricsReport:
    """Every figure for cycles, waits and messages starting in [since, until), and the backlog at `now`.

    With a `facts_cache`, conversations whose log has not changed since an earlier report are not replayed.
    """
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
    with cyclic_gc_paused():
        facts = await _all_facts(db, await conversation_ids(db, since=since, until=until), now, facts_cache)
        return await asyncio.to_thread(build_report, facts, scope)


async def _all_facts(db: Database, ids: list[int], now: datetime, cache: FactsCache | None) -> list[ConversationFacts]:
    """Every conversation's facts: cached ones whose log has not changed, the others replayed."""
    facts: dict[int, ConversationFacts] = {}
    versions: dict[int, LogVersion] = {}
    stale = ids
    if cache is not None:
        versions = await log_versions(db, ids)
        stale = []
        for cid in ids:
            found = cache.get(cid, versions.get(cid), now)
            if found is None:
                stale.append(cid)
            else:
                facts[cid] = found
    async for page in iter_pages(db, stale):
        # Building the records and replaying them is CPU work; off the event loop, so a dashboard in the
        # service does not stall webhooks.
        for replayed, settled_at in await asyncio.to_thread(_replay, page, now):
            facts[replayed.conversation_id] = replayed
            if cache is not None:
                cache.put(versions.get(replayed.conversation_id), settled_at, replayed, now)
    return [facts[cid] for cid in ids if cid in facts]


def _replay(page: RawPage, now: datetime) -> list[tuple[ConversationFacts, datetime | None]]:
    """The page's facts, each with its log's latest event (None for an empty log)."""
    return [(conversation_facts(log, now=now), max((e.at for e in log.events), default=None))
            for log in page.logs()]
