"""The dashboard's view-model: a range in, `compute()`'s report out, turned into the series and tables drawn."""
from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from social_care.metrics import export
from social_care.metrics.business_hours import BusinessHours
from social_care.metrics.engine import compute, report_zone
from social_care.metrics.facts_cache import FactsCache
from social_care.metrics.registry import MetricsConfig
from social_care.metrics.report import MetricsReport
from social_care.store.db import Database

PRESETS = ("24h", "7d", "30d", "custom")
DEFAULT_PRESET = "7d"
TREND_DIMENSIONS = ("all", "channel", "queue", "lang")
RESPONSE_DIMENSIONS = ("channel", "queue", "priority", "agent")
LABELS = ("negative", "neutral", "positive")
# Several managers looking at the same range share one computation for this long.
SHARE_FOR = 30.0
MAX_CUSTOM_DAYS = 400


class RangeError(ValueError):
    """A custom range that cannot be computed (missing dates, end before start, too long)."""


@dataclass(frozen=True)
class Range:
    """The instants a report covers and how its trends are bucketed."""

    since: datetime
    until: datetime
    interval: str
    zone: str


def resolve_range(preset: str, now: datetime, zone: ZoneInfo, start: date | None = None,
                  end: date | None = None) -> Range:
    """Last 24 h by hour; 7 or 30 local days (today included) by day; custom dates inclusive, as the CLI reads them."""
    if preset == "24h":
        return Range(now - timedelta(hours=24), now, "hour", zone.key)
    if preset in ("7d", "30d"):
        days = 7 if preset == "7d" else 30
        today = now.astimezone(zone).date()
        return Range(_midnight(today - timedelta(days=days - 1), zone), now, "day", zone.key)
    if preset != "custom":
        raise RangeError(f"unknown range {preset!r}")
    if start is None or end is None:
        raise RangeError("pick a start and an end date")
    if end < start:
        raise RangeError("the end date is before the start date")
    if (end - start).days >= MAX_CUSTOM_DAYS:
        raise RangeError(f"at most {MAX_CUSTOM_DAYS} days")
    # Like `social-care metrics --since START --until END`: local midnights, the end day included whole.
    interval = "hour" if end == start else "day"
    return Range(_midnight(start, zone), _midnight(end + timedelta(days=1), zone), interval, zone.key)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


# --- what is drawn -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentimentSeries:
    """One group's trend: per bucket, the shares of each label and the mean compound."""

    buckets: tuple[str, ...]
    messages: tuple[int, ...]
    share_negative: tuple[float, ...]
    share_neutral: tuple[float, ...]
    share_positive: tuple[float, ...]
    mean_compound: tuple[float | None, ...]


@dataclass(frozen=True)
class CountSeries:
    """Counts per bucket, for the total and each group (channel)."""

    buckets: tuple[str, ...]
    groups: dict[str, tuple[int, ...]]  # "all" first, then channels


@dataclass(frozen=True)
class Kpis:
    """The headline figures for the range and for now."""

    first_response_median: float | None
    first_response_p90: float | None
    every_response_median: float | None
    resolution_median: float | None
    compliance_first: float | None
    compliance_every: float | None
    breaches_now: int
    open: int
    pending: int
    waiting: int
    oldest_waiting_seconds: float | None
    oldest_waiting_conversation_id: int | None
    inbound_messages: int
    new_conversations: int
    public_complaints: int


def trend_groups(report: MetricsReport) -> dict[str, tuple[str, ...]]:
    """The groups the sentiment trend can be narrowed to, per dimension."""
    groups: dict[str, set[str]] = {d: set() for d in TREND_DIMENSIONS}
    for row in report.sentiment:
        if row.dimension in groups:
            groups[row.dimension].add(row.group)
    return {d: tuple(sorted(g)) for d, g in groups.items()}


def sentiment_series(report: MetricsReport, dimension: str = "all", group: str = "all") -> SentimentSeries:
    """The sentiment rows of one group, in bucket order (empty buckets are absent, as in the report)."""
    rows = [r for r in report.sentiment if r.dimension == dimension and r.group == group]
    return SentimentSeries(tuple(r.bucket for r in rows), tuple(r.messages for r in rows),
                           tuple(r.share_negative for r in rows), tuple(r.share_neutral for r in rows),
                           tuple(r.share_positive for r in rows), tuple(r.mean_compound for r in rows))


def _count_series(rows: Sequence[Any], value: Callable[[Any], int]) -> CountSeries:
    buckets = tuple(dict.fromkeys(r.bucket for r in rows))
    index = {b: i for i, b in enumerate(buckets)}
    groups: dict[str, list[int]] = {}
    for row in rows:
        if row.dimension not in ("all", "channel"):
            continue
        series = groups.setdefault(row.group, [0] * len(buckets))
        series[index[row.bucket]] = value(row)
    ordered = {"all": tuple(groups.pop("all", [0] * len(buckets)))}
    ordered.update({g: tuple(groups[g]) for g in sorted(groups)})
    return CountSeries(buckets, ordered)


def complaints_series(report: MetricsReport) -> CountSeries:
    """Public complaints per bucket, in total and per channel (zero where a channel had none)."""
    return _count_series(report.public_complaints, lambda r: r.public_complaints)


def inbound_series(report: MetricsReport) -> CountSeries:
    """Inbound customer messages per bucket, in total and per channel."""
    return _count_series(report.volume, lambda r: r.inbound_messages)


def new_conversation_series(report: MetricsReport) -> CountSeries:
    """New conversations per bucket, in total and per channel."""
    return _count_series(report.volume, lambda r: r.new_conversations)


def kpis(report: MetricsReport) -> Kpis:
    """The headline figures, read from the report's `all` rows."""
    first, every, resolution = (report.duration(m) for m in ("first_response", "every_response", "resolution"))
    sla_first, sla_every = report.sla_row("first_response"), report.sla_row("every_response")
    backlog = next((r for r in report.backlog if r.dimension == "all"), None)
    volume = [r for r in report.volume if r.dimension == "all"]
    return Kpis(
        first.median_seconds if first else None, first.p90_seconds if first else None,
        every.median_seconds if every else None, resolution.median_seconds if resolution else None,
        sla_first.compliance if sla_first else None, sla_every.compliance if sla_every else None,
        len(report.breaches_now),
        backlog.open if backlog else 0, backlog.pending if backlog else 0, backlog.waiting if backlog else 0,
        backlog.oldest_waiting_seconds if backlog else None,
        backlog.oldest_waiting_conversation_id if backlog else None,
        sum(r.inbound_messages for r in volume), sum(r.new_conversations for r in volume),
        sum(r.public_complaints for r in report.public_complaints if r.dimension == "all"),
    )


def table_rows(report: MetricsReport, name: str, *, metric: str | None = None,
               dimension: str | None = None) -> list[dict[str, Any]]:
    """One report table as dicts (the CSV's values), narrowed to one metric and/or dimension (plus `all`)."""
    rows = export.rows(report, name)
    if metric is not None:
        rows = [r for r in rows if r.get("metric") == metric]
    if dimension is not None:
        rows = [r for r in rows if r.get("dimension") in ("all", dimension)]
    return rows


def table_csv(report: MetricsReport, name: str) -> str:
    """A whole table as the CLI writes it (`social-care metrics --format csv --table NAME`)."""
    return export.table_csv(report, name)


def inbox_link(conversation_id: int) -> str:
    """Where a breach row links to: the inbox with that conversation open."""
    return f"/inbox?c={int(conversation_id)}"


# --- the model -----------------------------------------------------------------------------------


@dataclass
class _Shared:
    report: MetricsReport
    at: float


@dataclass
class ReportCache:
    """Reports shared between sessions for SHARE_FOR seconds; one computation per key at a time.

    Conversations' replayed facts are kept longer, in `facts`, for as long as their logs do not change.
    """

    share_for: float = SHARE_FOR
    facts: FactsCache = field(default_factory=FactsCache)
    _done: dict[tuple[Any, ...], _Shared] = field(default_factory=dict)
    _running: dict[tuple[Any, ...], asyncio.Future[MetricsReport]] = field(default_factory=dict)

    async def get(self, key: tuple[Any, ...], make: Callable[[], Any], *, fresh: bool = False) -> MetricsReport:
        """The cached report for `key`, else the one being computed, else a new computation."""
        now = time.monotonic()
        for stale in [k for k, v in self._done.items() if now - v.at > self.share_for]:
            del self._done[stale]
        if not fresh and key in self._done:
            return self._done[key].report
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[MetricsReport] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            report = await make()
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved here, so nobody waiting is not a warning
            raise
        finally:
            self._running.pop(key, None)
        future.set_result(report)
        self._done[key] = _Shared(report, time.monotonic())
        return report


# By the store object itself, not its id(): a later store could reuse a disposed one's id and its facts.
_CACHES: weakref.WeakKeyDictionary[Database, ReportCache] = weakref.WeakKeyDictionary()


def shared_cache(db: Database) -> ReportCache:
    """The process's report cache for one store."""
    cache = _CACHES.get(db)
    if cache is None:
        cache = _CACHES[db] = ReportCache()
    return cache


class DashboardModel:
    """One manager's dashboard: the chosen range and filters, and the last report computed for them."""

    def __init__(self, db: Database, *, config: MetricsConfig | None = None,
                 now: Callable[[], datetime] | None = None, cache: ReportCache | None = None) -> None:
        from social_care.store.types import utcnow
        from triage import TriageRules

        self.db = db
        self.config = config or MetricsConfig(TriageRules.from_dict({}))
        self.now = now or utcnow
        self.cache = cache if cache is not None else shared_cache(db)
        self.zone: ZoneInfo = report_zone(None, self.config.business_hours)
        self.preset = DEFAULT_PRESET
        self.start: date | None = None
        self.end: date | None = None
        self.trend_dimension = "all"
        self.trend_group = "all"
        self.response_dimension = "channel"
        self.report: MetricsReport | None = None
        self.range: Range | None = None
        self.error = ""
        self.loaded_at: float | None = None  # time.monotonic() of the last load

    @property
    def business_hours(self) -> BusinessHours | None:
        return self.config.business_hours

    def choose(self, preset: str, start: date | None = None, end: date | None = None) -> None:
        """Pick a range preset (custom with its dates); `load()` applies it."""
        if preset not in PRESETS:
            raise RangeError(f"unknown range {preset!r}")
        self.preset, self.start, self.end = preset, start, end

    async def load(self, *, fresh: bool = False) -> MetricsReport | None:
        """Compute (or reuse a report a few seconds old for) the chosen range; None with `error` set."""
        now = self.now()
        try:
            chosen = resolve_range(self.preset, now, self.zone, self.start, self.end)
        except RangeError as err:
            self.error = str(err)
            return None
        # Presets slide with time: a key in SHARE_FOR steps lets sessions opened together share a report.
        step = int(now.timestamp() // SHARE_FOR)
        key = (id(self.config), self.preset, self.start, self.end, step if self.preset != "custom" else None)

        async def make() -> MetricsReport:
            return await compute(self.db, since=chosen.since, until=chosen.until, now=now, rules=self.config.rules,
                                 business_hours=self.config.business_hours, interval=chosen.interval,
                                 timezone=chosen.zone, facts_cache=self.cache.facts)

        self.report = await self.cache.get(key, make, fresh=fresh)
        self.range = chosen
        self.error = ""
        self.loaded_at = time.monotonic()
        groups = trend_groups(self.report).get(self.trend_dimension, ())
        if self.trend_dimension != "all" and self.trend_group not in groups:
            self.trend_group = groups[0] if groups else "all"
        return self.report

    def sentiment(self) -> SentimentSeries:
        """The trend of the chosen dimension and group."""
        if self.report is None:
            return SentimentSeries((), (), (), (), (), ())
        dimension = self.trend_dimension
        group = "all" if dimension == "all" else self.trend_group
        return sentiment_series(self.report, dimension, group)
