"""A conversation's priority, queue and SLA due time, derived from its triaged inbound messages.

Rules (pure; the store calls this whenever a message arrives, an agent replies, or on a timer):
- The *open* messages are the inbound ones received after the last agent reply (all of them when
  nobody has replied). With no open message the thread is answered: P4, no SLA due, its queue the
  one of its latest message.
- Queue: `support` if any open message is support (a problem wins), else `marketing` if any is,
  else `other` — unless an agent chose the queue (forwarded or corrected it), which then stands.
- Score: the highest message score among the open messages without their own waiting points, plus
  waiting points for the time since the oldest open message (`now - received_at`). Priority follows
  from the score with the brand's thresholds; an `other` thread stays P4 unless a rule or VIP scored.
- Reasons: those of the top-scoring open message, then "waiting N h".
- SLA due: oldest open message + the target for (priority without waiting, queue, channel); the
  target is taken before waiting points so the due time does not move while the thread waits.
  Marketing threads are due only when a marketing target is configured; `other` threads never.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from triage import priority
from triage.rules import TriageRules
from triage.types import TriageResult


@dataclass(frozen=True, slots=True)
class ReceivedResult:
    """A triaged inbound message and when it arrived (timezone-aware)."""

    result: TriageResult
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What the inbox shows for a thread."""

    priority: str
    queue: str
    sla_due: datetime | None
    score: int
    reasons: tuple[str, ...]


def _base(result: TriageResult) -> tuple[int, tuple[str, ...]]:
    parts = [c for c in result.breakdown if c.key != "waiting"]
    return priority.total(parts), tuple(c.reason for c in parts)


def conversation_state(
    messages: Sequence[ReceivedResult],
    rules: TriageRules,
    *,
    now: datetime,
    channel: str | None = None,
    last_reply_at: datetime | None = None,
    queue: str | None = None,
) -> ConversationState:
    """The thread's priority, queue, SLA due time and reasons (see the module docstring)."""
    ordered = sorted(messages, key=lambda m: m.received_at)
    if not ordered:
        return ConversationState("P4", "other", None, 0, ())
    open_ = [m for m in ordered if last_reply_at is None or m.received_at > last_reply_at]
    if not open_:
        return ConversationState("P4", queue or ordered[-1].result.queue, None, 0, ())
    if queue is None:
        queues = {m.result.queue for m in open_}
        queue = next(q for q in ("support", "marketing", "other") if q in queues or q == "other")
    base_score, reasons = max((_base(m.result) for m in open_), key=lambda item: item[0])
    oldest = open_[0].received_at
    waiting = priority.waiting_points((now - oldest).total_seconds())
    score = base_score + (waiting.points if waiting and queue != "other" else 0)
    if waiting and queue != "other":
        reasons = reasons + (waiting.reason,)
    if queue == "other" and base_score <= 0:
        level, base_level = "P4", "P4"
    else:
        level, base_level = rules.priority_for(score), rules.priority_for(base_score)
    target = rules.sla.target(base_level, queue, channel)
    return ConversationState(level, queue, None if target is None else oldest + target, score, reasons)
