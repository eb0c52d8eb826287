"""Pure: conversation facts -> the report's figures (medians, p90, SLA, backlog, trends, volume)."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from social_care.metrics.business_hours import BusinessHours
from social_care.metrics.cycles import ConversationFacts, Cycle, MessageFact, Wait
from social_care.metrics.records import NONE, Directory
from social_care.metrics.report import (
    DIMENSIONS,
    BacklogRow,
    BreachRow,
    ComplaintRow,
    CycleRow,
    DurationRow,
    MetricsReport,
    SentimentRow,
    SlaRow,
    VolumeRow,
    WaitRow,
)

if TYPE_CHECKING:
    from triage import TriageRules

INTERVALS = ("hour", "day")
METRICS = ("first_response", "every_response", "resolution")
SLA_METRICS = ("first_response", "every_response")
LABELS = ("negative", "neutral", "positive")
ALL = ("all", "all")
_ZERO = timedelta(0)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile: the smallest observed value with at least q of the values at or below it."""
    if not values:
        return None
    return _ranked(sorted(values), q)


def _ranked(ordered: Sequence[float], q: float) -> float:
    """`quantile` of values already sorted."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Clock:
    """How durations are measured: wall-clock time, or open time when a calendar is given."""

    business_hours: BusinessHours | None = None

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Time that counts between two instants (never negative)."""
        if self.business_hours is not None:
            return self.business_hours.elapsed(start, end)
        return max(_ZERO, end - start)

    def due(self, start: datetime, target: timedelta) -> datetime:
        """The instant a target runs out."""
        if self.business_hours is not None:
            return self.business_hours.add(start, target)
        return start + target


@dataclass(frozen=True)
class Scope:
    """The question asked: a range [since, until), the present instant, the rules and the calendar."""

    since: datetime
    until: datetime
    now: datetime
    rules: TriageRules
    directory: Directory = field(default_factory=Directory)
    clock: Clock = field(default_factory=Clock)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    interval: str = "day"
    _buckets: dict[Any, datetime] = field(default_factory=dict, init=False, compare=False, repr=False)

    def in_range(self, at: datetime) -> bool:
        return self.since <= at < self.until

    def bucket(self, at: datetime) -> datetime:
        """The start of the local hour or day containing `at`, as a UTC instant."""
        local = at.astimezone(self.timezone)
        # The result depends only on the local day (and hour, with its DST fold): computed once per key.
        key = (local.toordinal(), local.hour, local.fold) if self.interval == "hour" else local.toordinal()
        cached = self._buckets.get(key)
        if cached is None:
            cached = self._buckets[key] = self._bucket_start(local)
        return cached

    def _bucket_start(self, local: datetime) -> datetime:
        if self.interval == "hour":
            start = local.replace(minute=0, second=0, microsecond=0)
        else:
            start = datetime(local.year, local.month, local.day, tzinfo=self.timezone)
        # Local wall times are ambiguous on the autumn DST night (two 02:00 hours compare equal): keys are UTC.
        return start.astimezone(UTC)

    def label(self, bucket: datetime) -> str:
        """A bucket as local ISO 8601 with its offset, e.g. 2026-11-20T00:00:00+01:00."""
        return bucket.astimezone(self.timezone).isoformat()


class Outcome(NamedTuple):
    """A wait judged against its SLA target at `now`, with its response time when answered."""

    sla: str  # met, breached, pending, closed, off_clock
    target: timedelta | None
    due_at: datetime | None
    response_seconds: float | None = None


def judge(wait: Wait, platform: str | None, scope: Scope,
          targets: dict[tuple[str, str, str | None], timedelta | None] | None = None) -> Outcome:
    """Met when the counted time to the reply is within the target; breached past it (see docs/metrics.md)."""
    ended = wait.answered_at or wait.closed_at or scope.now
    waited = scope.clock.elapsed(wait.started_at, ended)
    seconds = waited.total_seconds() if wait.answered_at is not None else None
    if targets is None:
        target = scope.rules.sla.target(wait.priority, wait.queue, platform)
    else:
        key = (wait.priority, wait.queue, platform)
        if key in targets:
            target = targets[key]
        else:
            target = targets[key] = scope.rules.sla.target(wait.priority, wait.queue, platform)
    if target is None:
        return Outcome("off_clock", None, None, seconds)
    if wait.answered_at is not None:
        verdict = "met" if waited <= target else "breached"
    elif wait.closed_at is not None:
        verdict = "breached" if waited > target else "closed"
    else:
        verdict = "breached" if waited > target else "pending"
    return Outcome(verdict, target, scope.clock.due(wait.started_at, target), seconds)


_SLA_INDEX = {"met": 0, "breached": 1, "pending": 2, "closed": 3, "off_clock": 4}
_Full = tuple[str, str, str, str, str, str]  # metric, channel, queue, priority, agent, lang


class _Tally:
    """Durations and SLA outcomes per (metric, dimension, group).

    Kept per full combination of the dimensions while counting (a few hundred keys), then rolled up into the
    `all` and per-dimension groups once: one dictionary update per wait instead of six.
    """

    def __init__(self) -> None:
        self.full_durations: dict[_Full, list[float]] = {}
        self.full_outcomes: dict[_Full, list[int]] = {}

    def add(self, key: _Full, seconds: float | None, sla: str | None) -> None:
        if seconds is not None:
            values = self.full_durations.get(key)
            if values is None:
                self.full_durations[key] = [seconds]
            else:
                values.append(seconds)
        if sla is not None:
            counts = self.full_outcomes.get(key)
            if counts is None:
                counts = self.full_outcomes[key] = [0, 0, 0, 0, 0]
            counts[_SLA_INDEX[sla]] += 1

    @property
    def durations(self) -> dict[tuple[str, str, str], list[float]]:
        rolled: dict[tuple[str, str, str], list[float]] = {}
        for (metric, *values), seconds in self.full_durations.items():
            for dimension, group in _groups(*values):
                key = (metric, dimension, group)
                if key in rolled:
                    rolled[key].extend(seconds)
                else:
                    rolled[key] = list(seconds)
        return rolled

    @property
    def outcomes(self) -> dict[tuple[str, str, str], dict[str, int]]:
        rolled: dict[tuple[str, str, str], list[int]] = {}
        for (metric, *values), counts in self.full_outcomes.items():
            for dimension, group in _groups(*values):
                total = rolled.setdefault((metric, dimension, group), [0, 0, 0, 0, 0])
                for index, count in enumerate(counts):
                    total[index] += count
        return {key: {sla: counts[index] for sla, index in _SLA_INDEX.items() if counts[index]}
                for key, counts in rolled.items()}


def build_report(facts: Iterable[ConversationFacts], scope: Scope) -> MetricsReport:
    """Every table of the report from the conversations' facts."""
    facts = list(facts)
    tally = _Tally()
    cycle_rows: list[CycleRow] = []
    wait_rows: list[WaitRow] = []
    agents: dict[int | None, str] = {}
    targets: dict[tuple[str, str, str | None], timedelta | None] = {}
    since, until = scope.since, scope.until
    elapsed = scope.clock.elapsed

    def agent(agent_id: int | None) -> str:
        name = agents.get(agent_id)
        if name is None:
            name = agents[agent_id] = scope.directory.agent(agent_id)
        return name

    for conversation in facts:
        platform = scope.directory.platform(conversation.channel_id)
        channel = scope.directory.channel_label(conversation.channel_id)
        for cycle in conversation.cycles:
            cycle_in_range = since <= cycle.started_at < until
            for number, wait in enumerate(cycle.waits, start=1):
                wait_in_range = since <= wait.started_at < until
                first = number == 1 and cycle_in_range
                if not (wait_in_range or first):
                    continue
                outcome = judge(wait, platform, scope, targets)
                answerer = agent(wait.agent_id)
                if first:
                    resolution = (None if cycle.resolved_at is None
                                  else elapsed(cycle.started_at, cycle.resolved_at).total_seconds())
                    cycle_rows.append(_cycle_row(cycle, channel, outcome, resolution, answerer, agent))
                    tally.add(("first_response", channel, wait.queue, wait.priority, answerer, cycle.lang),
                              outcome.response_seconds, outcome.sla)
                    if resolution is not None:
                        tally.add(("resolution", channel, cycle.queue, cycle.priority, agent(cycle.resolved_by),
                                   cycle.lang), resolution, None)
                if wait_in_range:
                    wait_rows.append(_wait_row(cycle, number, wait, channel, outcome, answerer))
                    tally.add(("every_response", channel, wait.queue, wait.priority, answerer, cycle.lang),
                              outcome.response_seconds, outcome.sla)
    bucket = scope.bucket
    messages = [(m, bucket(m.at)) for c in facts for m in c.messages if since <= m.at < until]
    return MetricsReport(
        since=scope.since,
        until=scope.until,
        now=scope.now,
        timezone=scope.timezone.key,
        interval=scope.interval,
        business_hours=scope.clock.business_hours is not None,
        response_times=_duration_rows(tally.durations),
        sla=_sla_rows(tally.outcomes),
        breaches_now=breaches_now(facts, scope),
        backlog=backlog(facts, scope),
        sentiment=sentiment_trend(messages, scope),
        public_complaints=public_complaints(messages, scope),
        volume=volume(facts, messages, scope),
        cycles=tuple(sorted(cycle_rows, key=_CYCLE_ROW_ORDER)),
        waits=tuple(sorted(wait_rows, key=_WAIT_ROW_ORDER)),
    )


_CYCLE_ROW_ORDER = attrgetter("started_at", "conversation_id", "cycle")
_WAIT_ROW_ORDER = attrgetter("started_at", "conversation_id", "cycle", "wait")


def _groups(channel: str, queue: str, priority: str, agent: str, lang: str) -> tuple[tuple[str, str], ...]:
    return (ALL, ("channel", channel), ("queue", queue), ("priority", priority), ("agent", agent), ("lang", lang))


def _dimension_order(dimension: str) -> int:
    return 0 if dimension == "all" else 1 + DIMENSIONS.index(dimension)


def _duration_rows(durations: dict[tuple[str, str, str], list[float]]) -> tuple[DurationRow, ...]:
    rows = []
    for (metric, dimension, group), values in durations.items():
        values.sort()  # once for both quantiles; the lists are the tally's own
        rows.append(DurationRow(metric, dimension, group, len(values), _ranked(values, 0.5), _ranked(values, 0.9)))
    return tuple(sorted(rows, key=lambda r: (METRICS.index(r.metric), _dimension_order(r.dimension), r.group)))


def _sla_rows(outcomes: dict[tuple[str, str, str], dict[str, int]]) -> tuple[SlaRow, ...]:
    rows = []
    for (metric, dimension, group), counts in outcomes.items():
        met, breached = counts.get("met", 0), counts.get("breached", 0)
        rows.append(SlaRow(metric, dimension, group, met, breached, counts.get("pending", 0), counts.get("closed", 0),
                           counts.get("off_clock", 0), met / (met + breached) if met + breached else None))
    return tuple(sorted(rows, key=lambda r: (SLA_METRICS.index(r.metric), _dimension_order(r.dimension), r.group)))


def _cycle_row(cycle: Cycle, channel: str, outcome: Outcome, resolution: float | None, responder: str,
               agent: Callable[[int | None], str]) -> CycleRow:
    first = cycle.first
    return CycleRow(
        conversation_id=cycle.conversation_id,
        cycle=cycle.index,
        channel=channel,
        queue=cycle.queue,
        priority=cycle.priority,
        lang=cycle.lang,
        started_at=cycle.started_at,
        first_response_at=first.answered_at,
        first_response_seconds=outcome.response_seconds,
        first_responder=responder,
        target_seconds=None if outcome.target is None else outcome.target.total_seconds(),
        due_at=outcome.due_at,
        sla=outcome.sla,
        waits=len(cycle.waits),
        replies=cycle.replies,
        resolved_at=cycle.resolved_at,
        resolution_seconds=resolution,
        resolved_by=agent(cycle.resolved_by) if cycle.resolved_at is not None else NONE,
    )


def _wait_row(cycle: Cycle, number: int, wait: Wait, channel: str, outcome: Outcome, answerer: str) -> WaitRow:
    return WaitRow(
        conversation_id=cycle.conversation_id,
        cycle=cycle.index,
        wait=number,
        channel=channel,
        queue=wait.queue,
        priority=wait.priority,
        started_at=wait.started_at,
        answered_at=wait.answered_at,
        response_seconds=outcome.response_seconds,
        agent=answerer,
        due_at=outcome.due_at,
        sla=outcome.sla,
    )


def breaches_now(facts: Sequence[ConversationFacts], scope: Scope) -> tuple[BreachRow, ...]:
    """Customers waiting for us at `now` longer than their target allows, most overdue first."""
    rows = []
    for conversation in facts:
        wait = conversation.waiting
        if wait is None or conversation.status == "resolved":
            continue
        outcome = judge(wait, scope.directory.platform(conversation.channel_id), scope)
        if outcome.sla != "breached" or outcome.due_at is None:
            continue
        rows.append(BreachRow(conversation.conversation_id, scope.directory.channel_label(conversation.channel_id),
                              wait.queue, wait.priority, wait.started_at, outcome.due_at,
                              scope.clock.elapsed(outcome.due_at, scope.now).total_seconds()))
    return tuple(sorted(rows, key=lambda r: (r.due_at, r.conversation_id)))


def backlog(facts: Sequence[ConversationFacts], scope: Scope) -> tuple[BacklogRow, ...]:
    """Open conversations at `now` (all, and by channel, queue, priority), waiting ones and the oldest wait."""
    groups: dict[tuple[str, str], list[ConversationFacts]] = defaultdict(list)
    for conversation in facts:
        if conversation.status == "resolved":
            continue
        wait = conversation.waiting
        # An answered thread is P4 in the inbox; a waiting one has its wait's priority.
        priority = wait.priority if wait is not None else "P4"
        for key in (ALL, ("channel", scope.directory.channel_label(conversation.channel_id)),
                    ("queue", conversation.queue), ("priority", priority)):
            groups[key].append(conversation)
    rows = []
    for (dimension, group), members in groups.items():
        waiting = [(c.waiting.started_at, c.conversation_id) for c in members if c.waiting is not None]
        oldest = min(waiting) if waiting else None
        rows.append(BacklogRow(
            dimension=dimension,
            group=group,
            open=len(members),
            pending=sum(1 for c in members if c.status == "pending"),
            waiting=len(waiting),
            oldest_waiting_since=oldest[0] if oldest else None,
            oldest_waiting_conversation_id=oldest[1] if oldest else None,
            oldest_waiting_seconds=scope.clock.elapsed(oldest[0], scope.now).total_seconds() if oldest else None,
        ))
    return tuple(sorted(rows, key=lambda r: (_dimension_order(r.dimension), r.group)))


def sentiment_trend(messages: Sequence[tuple[MessageFact, datetime]], scope: Scope) -> tuple[SentimentRow, ...]:
    """Per bucket, by channel, queue and language: label shares and mean compound of triaged messages."""
    counts: dict[tuple[datetime, str, str], list[float]] = {}
    labels = {label: index for index, label in enumerate(LABELS)}
    channels = _channel_labels(scope)
    for message, bucket in messages:
        index = labels.get(message.label)  # type: ignore[arg-type]
        if index is None:
            continue
        compound = message.compound
        # Each group sums its compounds in message order, as ever, so means stay the same to the last bit.
        for key in ((bucket, "all", "all"), (bucket, "channel", channels(message.channel_id)),
                    (bucket, "queue", message.queue), (bucket, "lang", message.lang)):
            row = counts.get(key)
            if row is None:
                row = counts[key] = [0, 0, 0, 0.0, 0]
            row[index] += 1
            if compound is not None:
                row[3] += compound
                row[4] += 1
    rows = []
    for (bucket, dimension, group), (neg, neu, pos, total, scored) in sorted(counts.items(), key=_bucket_order):
        n = int(neg + neu + pos)
        rows.append(SentimentRow(scope.label(bucket), dimension, group, n, int(neg), int(neu), int(pos),
                                 neg / n, neu / n, pos / n, total / scored if scored else None))
    return tuple(rows)


def public_complaints(messages: Sequence[tuple[MessageFact, datetime]], scope: Scope) -> tuple[ComplaintRow, ...]:
    """Per bucket (and channel): customer messages flagged as public complaints."""
    counts: dict[tuple[datetime, str, str], int] = defaultdict(int)
    channels = _channel_labels(scope)
    for message, bucket in messages:
        if message.public_complaint:
            counts[(bucket, *ALL)] += 1
            counts[(bucket, "channel", channels(message.channel_id))] += 1
    return tuple(ComplaintRow(scope.label(b), d, g, n) for (b, d, g), n in sorted(counts.items(), key=_bucket_order))


def volume(facts: Sequence[ConversationFacts], messages: Sequence[tuple[MessageFact, datetime]],
           scope: Scope) -> tuple[VolumeRow, ...]:
    """Per bucket (and channel): inbound customer messages and conversations opened."""
    counts: dict[tuple[datetime, str, str], list[int]] = defaultdict(lambda: [0, 0])
    channels = _channel_labels(scope)
    for message, bucket in messages:
        counts[(bucket, *ALL)][0] += 1
        counts[(bucket, "channel", channels(message.channel_id))][0] += 1
    for conversation in facts:
        if conversation.created_at is not None and scope.in_range(conversation.created_at):
            bucket = scope.bucket(conversation.created_at)
            for dimension, group in (ALL, ("channel", channels(conversation.channel_id))):
                counts[(bucket, dimension, group)][1] += 1
    return tuple(VolumeRow(scope.label(b), d, g, m, c) for (b, d, g), (m, c) in sorted(counts.items(), key=_bucket_order))


def _channel_labels(scope: Scope) -> Callable[[int], str]:
    """`scope.directory.channel_label`, remembered per channel id."""
    labels: dict[int, str] = {}

    def label(channel_id: int) -> str:
        found = labels.get(channel_id)
        if found is None:
            found = labels[channel_id] = scope.directory.channel_label(channel_id)
        return found

    return label


def _bucket_order(item: tuple[tuple[datetime, str, str], object]) -> tuple[datetime, int, str]:
    (bucket, dimension, group), _value = item
    return bucket, _dimension_order(dimension), group
