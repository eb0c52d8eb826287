"""The metrics report: plain rows the dashboard draws, the CLI prints and the exports write."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

DIMENSIONS = ("channel", "queue", "priority", "agent", "lang")


@dataclass(frozen=True, slots=True)
class DurationRow:
    """Median and p90 of one clock (first_response, every_response, resolution) for one group."""

    metric: str
    dimension: str
    group: str
    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class SlaRow:
    """SLA outcomes of first responses (per cycle) or every response (per wait) for one group."""

    metric: str
    dimension: str
    group: str
    met: int
    breached: int
    pending: int  # still waiting, not yet due
    closed: int  # resolved without a reply before the due time
    off_clock: int  # no target: marketing without a target, the `other` queue
    compliance: float | None  # met / (met + breached)


@dataclass(frozen=True, slots=True)
class BreachRow:
    """A customer waiting for us right now past the due time."""

    conversation_id: int
    channel: str
    queue: str
    priority: str
    waiting_since: datetime
    due_at: datetime
    overdue_seconds: float


@dataclass(frozen=True, slots=True)
class BacklogRow:
    """Open conversations now, how many wait for us, and the oldest wait."""

    dimension: str
    group: str
    open: int
    pending: int
    waiting: int
    oldest_waiting_since: datetime | None
    oldest_waiting_conversation_id: int | None
    oldest_waiting_seconds: float | None


@dataclass(frozen=True, slots=True)
class SentimentRow:
    """Shares of negative / neutral / positive customer messages and their mean compound, per bucket."""

    bucket: str
    dimension: str
    group: str
    messages: int
    negative: int
    neutral: int
    positive: int
    share_negative: float
    share_neutral: float
    share_positive: float
    mean_compound: float | None


@dataclass(frozen=True, slots=True)
class ComplaintRow:
    """Customer messages triaged (or corrected) as public complaints, per bucket."""

    bucket: str
    dimension: str
    group: str
    public_complaints: int


@dataclass(frozen=True, slots=True)
class VolumeRow:
    """Inbound customer messages and new conversations, per bucket."""

    bucket: str
    dimension: str
    group: str
    inbound_messages: int
    new_conversations: int


@dataclass(frozen=True, slots=True)
class CycleRow:
    """One response cycle, for audit: every figure above can be recomputed from these and WaitRow."""

    conversation_id: int
    cycle: int
    channel: str
    queue: str
    priority: str
    lang: str
    started_at: datetime
    first_response_at: datetime | None
    first_response_seconds: float | None
    first_responder: str
    target_seconds: float | None
    due_at: datetime | None
    sla: str
    waits: int
    replies: int
    resolved_at: datetime | None
    resolution_seconds: float | None
    resolved_by: str


@dataclass(frozen=True, slots=True)
class WaitRow:
    """One wait (a customer message starting a wait) and its answer, for audit."""

    conversation_id: int
    cycle: int
    wait: int
    channel: str
    queue: str
    priority: str
    started_at: datetime
    answered_at: datetime | None
    response_seconds: float | None
    agent: str
    due_at: datetime | None
    sla: str


@dataclass(frozen=True)
class MetricsReport:
    """Every figure of the manager dashboard for one range, computed once from the event log."""

    since: datetime
    until: datetime
    now: datetime
    timezone: str
    interval: str
    business_hours: bool
    response_times: tuple[DurationRow, ...]
    sla: tuple[SlaRow, ...]
    breaches_now: tuple[BreachRow, ...]
    backlog: tuple[BacklogRow, ...]
    sentiment: tuple[SentimentRow, ...]
    public_complaints: tuple[ComplaintRow, ...]
    volume: tuple[VolumeRow, ...]
    cycles: tuple[CycleRow, ...]
    waits: tuple[WaitRow, ...]

    TABLES = ("response_times", "sla", "breaches_now", "backlog", "sentiment", "public_complaints", "volume",
              "cycles", "waits")

    def table(self, name: str) -> tuple[Any, ...]:
        """The rows of one table by name."""
        if name not in self.TABLES:
            raise KeyError(name)
        return getattr(self, name)

    def duration(self, metric: str, dimension: str = "all", group: str = "all") -> DurationRow | None:
        """The response_times row for one metric and group, if any."""
        return next((r for r in self.response_times
                     if r.metric == metric and r.dimension == dimension and r.group == group), None)

    def sla_row(self, metric: str, dimension: str = "all", group: str = "all") -> SlaRow | None:
        """The sla row for one metric and group, if any."""
        return next((r for r in self.sla if r.metric == metric and r.dimension == dimension and r.group == group), None)


def columns(row_type: type) -> tuple[str, ...]:
    """The column names of a row dataclass, in order."""
    return tuple(f.name for f in fields(row_type))


ROW_TYPES: dict[str, type] = {
    "response_times": DurationRow,
    "sla": SlaRow,
    "breaches_now": BreachRow,
    "backlog": BacklogRow,
    "sentiment": SentimentRow,
    "public_complaints": ComplaintRow,
    "volume": VolumeRow,
    "cycles": CycleRow,
    "waits": WaitRow,
}
