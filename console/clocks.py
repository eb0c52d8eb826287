"""Response-time clocks of one thread: how long the customer has waited, and the first response time.

Definitions (the same ones an audit recomputes from the messages):
- A customer message is *answered* by the first later outbound message written by a person
  (not automated) that the platform accepted, at its delivery time. A reply still pending, of unknown
  outcome, or failed answers nothing yet: the clock stops only when the customer can read the answer,
  exactly as in docs/metrics.md, so the console and the dashboard never disagree.
- *Waiting*: from the oldest unanswered customer message to now; none when everything is answered.
- *First response*: from the first customer message to the first human reply after it.
Bot or automatic messages (automated=True, outbound or inbound) never stop or start a clock.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ClockMessage(Protocol):
    direction: str
    automated: bool
    sent_at: datetime
    received_at: datetime
    delivery_status: str | None


@dataclass(frozen=True)
class Clocks:
    waiting_since: datetime | None
    first_response_seconds: float | None


def _arrived(message: ClockMessage) -> datetime:
    # The customer waits from the moment they wrote (a poller's delay counts: they feel it); a clock
    # skewed into the future is clamped to when the message reached us.
    return min(message.sent_at, message.received_at)


def _delivered_human_reply(message: ClockMessage) -> bool:
    return message.direction == "outbound" and not message.automated and message.delivery_status == "sent"


def response_clocks(messages: Sequence[ClockMessage]) -> Clocks:
    """Waiting-since and first-response time of a thread given in order (oldest first)."""
    first_customer: datetime | None = None
    first_response: float | None = None
    oldest_unanswered: datetime | None = None
    for message in messages:
        if message.direction == "inbound" and not message.automated:
            at = _arrived(message)
            if first_customer is None:
                first_customer = at
            if oldest_unanswered is None:
                oldest_unanswered = at
        elif _delivered_human_reply(message):
            if first_customer is not None and first_response is None:
                # The outbox moves sent_at to the moment the platform accepted the reply.
                first_response = max(0.0, (message.sent_at - first_customer).total_seconds())
            oldest_unanswered = None
    return Clocks(oldest_unanswered, first_response)
