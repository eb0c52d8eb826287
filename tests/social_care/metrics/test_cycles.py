"""The pure engine on hand-written logs: what starts and stops a clock, which priority and queue a wait has."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from social_care.metrics.cycles import conversation_facts
from social_care.metrics.figures import Scope, build_report, judge, quantile
from social_care.metrics.records import ConversationLog, Directory, LoggedEvent, StoredMessage
from triage import TriageRules

T = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = TriageRules.from_dict({"sla": {"P1": 60, "P2": 240, "P3": 1440, "P4": 4320}})
DIRECTORY = Directory(channels={1: ("telegram:acme", "telegram")}, agents={7: "giulia", 8: "luca"})


def minutes(n: float) -> datetime:
    return T + timedelta(minutes=n)


def forward(source: str, target: str) -> dict[str, Any]:
    """A `forwarded` event's data (`from` is a keyword, so it cannot be an argument name)."""
    return {"from": source, "to": target, "note": None}


class Log:
    """Builds a conversation's events the way the store writes them."""

    def __init__(self) -> None:
        self.events: list[LoggedEvent] = []
        self.messages: dict[int, StoredMessage] = {}

    def add(self, event_kind: str, at: datetime, /, *, message_id: int | None = None, agent_id: int | None = None,
            **data: Any) -> Log:
        self.events.append(LoggedEvent(len(self.events) + 1, event_kind, at, message_id, agent_id, data))
        return self

    def customer(self, message_id: int, sent: datetime, received: datetime | None = None, *, automated: bool = False,
                 priority: str | None = None, queue: str = "support", label: str = "negative",
                 lang: str = "en", stored_priority: str | None = None) -> Log:
        if not self.events:
            self.add("created", received or sent)
        self.messages[message_id] = StoredMessage(message_id, automated=automated,
                                                  priority=stored_priority or priority, queue=queue)
        self.add("received", received or sent, message_id=message_id, sent_at=sent.isoformat(), kind="direct")
        if priority is not None:
            self.add("triaged", (received or sent) + timedelta(seconds=1), message_id=message_id, lang=lang,
                     sentiment=-0.5, label=label, priority=priority, queue=queue, reasons=[])
        return self

    def reply(self, at: datetime, agent: int | None = 7, *, automated: bool = False, outcome: str = "delivered") -> Log:
        self.add("replied", at - timedelta(seconds=2), agent_id=agent, outbox_id="o", mode="private", automated=automated)
        return self.add(outcome, at, agent_id=agent, automated=automated, attempts=1)

    def log(self) -> ConversationLog:
        return ConversationLog(1, 1, tuple(self.events), self.messages)


def test_only_a_delivered_human_reply_stops_the_clock() -> None:
    log = (Log().customer(1, T, priority="P2")
           .reply(minutes(1), agent=None, automated=True)      # the bot's acknowledgement
           .add("noted", minutes(2), agent_id=7)
           .add("forwarded", minutes(3), agent_id=7, **forward("support", "support2"))
           .reply(minutes(4), outcome="delivery_failed")
           .reply(minutes(5), outcome="delivery_unknown")
           .reply(minutes(9)))
    facts = conversation_facts(log.log(), now=minutes(60))
    (cycle,) = facts.cycles
    assert cycle.first.answered_at == minutes(9) and cycle.first.agent_id == 7
    assert cycle.replies == 1


def test_a_bot_writing_to_us_starts_no_clock_and_a_future_timestamp_is_clamped() -> None:
    log = (Log().customer(1, T, automated=True, priority="P3")
           .customer(2, minutes(30), received=minutes(10), priority="P3")   # the customer's clock runs 20 min fast
           .reply(minutes(15)))
    facts = conversation_facts(log.log(), now=minutes(60))
    (cycle,) = facts.cycles
    assert cycle.started_at == minutes(10)
    assert cycle.first.answered_at == minutes(15)
    assert [m.message_id for m in facts.messages] == [2]


def test_a_poller_delay_counts_as_waiting() -> None:
    # Written at 9:00, it reached us at 9:20 (after a reply to nothing): the wait runs from 9:00.
    log = Log().customer(1, T, received=minutes(20), priority="P3").reply(minutes(25))
    (cycle,) = conversation_facts(log.log(), now=minutes(60)).cycles
    assert (cycle.started_at, cycle.first.answered_at) == (T, minutes(25))


def test_every_customer_message_after_a_reply_starts_a_new_wait() -> None:
    log = (Log().customer(1, T, priority="P3").customer(2, minutes(1), priority="P3")
           .reply(minutes(10)).reply(minutes(11))
           .customer(3, minutes(20), priority="P1").reply(minutes(50), agent=8)
           .customer(4, minutes(55), priority="P3"))
    (cycle,) = conversation_facts(log.log(), now=minutes(100)).cycles
    assert [(w.started_at, w.answered_at, w.agent_id, w.priority) for w in cycle.waits] == [
        (T, minutes(10), 7, "P3"),                 # message 2 joined the first wait
        (minutes(20), minutes(50), 8, "P1"),
        (minutes(55), None, None, "P3"),
    ]
    assert cycle.replies == 3


def test_a_reopened_conversation_starts_a_new_cycle_from_the_reopening_message() -> None:
    log = (Log().customer(1, T, priority="P3").reply(minutes(10)).add("resolved", minutes(20), agent_id=7)
           .add("reopened", minutes(100), by="customer").customer(2, minutes(99), received=minutes(100), priority="P1")
           .reply(minutes(130), agent=8))
    facts = conversation_facts(log.log(), now=minutes(200))
    first, second = facts.cycles
    assert (first.index, first.resolved_at, first.resolved_by) == (1, minutes(20), 7)
    assert (second.index, second.started_at, second.first.answered_at, second.priority) == (
        2, minutes(99), minutes(130), "P1")
    assert facts.status == "open"


def test_resolving_without_a_reply_closes_the_wait() -> None:
    scope = Scope(since=T, until=minutes(10_000), now=minutes(10_000), rules=RULES, directory=DIRECTORY)
    early = Log().customer(1, T, priority="P1").add("resolved", minutes(30), agent_id=7)
    late = Log().customer(1, T, priority="P1").add("resolved", minutes(90), agent_id=7)
    (quick,) = conversation_facts(early.log(), now=scope.now).cycles
    (slow,) = conversation_facts(late.log(), now=scope.now).cycles
    assert quick.first.closed_at == minutes(30) and quick.first.answered_at is None
    # Closed before its 60-minute target: nothing was owed yet. After it: a breach that a close does not hide.
    assert judge(quick.first, "telegram", scope).sla == "closed"
    assert judge(slow.first, "telegram", scope).sla == "breached"


def test_the_priority_is_the_one_known_when_the_reply_went_out() -> None:
    log = Log().customer(1, T, priority="P3").reply(minutes(30))
    # The customer edits the message after the answer; triage runs again and says P1.
    log.add("edited", minutes(40), message_id=1)
    log.add("triaged", minutes(41), message_id=1, lang="en", sentiment=-0.9, label="negative", priority="P1",
            queue="support", reasons=[])
    (cycle,) = conversation_facts(log.log(), now=minutes(60)).cycles
    assert cycle.priority == "P3"
    # A reply faster than the pipeline: the message's first triage is used.
    fast = Log().customer(1, T)
    fast.reply(T + timedelta(milliseconds=500))
    fast.add("triaged", T + timedelta(seconds=2), message_id=1, lang="en", sentiment=0.0, label="neutral",
             priority="P2", queue="support", reasons=[])
    (cycle,) = conversation_facts(fast.log(), now=minutes(60)).cycles
    assert cycle.priority == "P2"
    # Never triaged (the pipeline failed): the store's defaults for a new conversation.
    (cycle,) = conversation_facts(Log().customer(1, T).log(), now=minutes(60)).cycles
    assert (cycle.priority, cycle.queue) == ("P3", "support")


def test_the_highest_priority_of_the_wait_counts_and_a_correction_moves_the_queue() -> None:
    log = (Log().customer(1, T, priority="P3").customer(2, minutes(5), priority="P2", stored_priority="P1"))
    # An agent corrects message 2 (urgent, and marketing): the row holds the corrected priority.
    log.add("triage_corrected", minutes(6), message_id=2, agent_id=7,
            changes={"urgent": True, "queue": "marketing"}, previous={"urgent": False, "queue": "support"})
    log.reply(minutes(20))
    (cycle,) = conversation_facts(log.log(), now=minutes(60)).cycles
    assert (cycle.priority, cycle.queue) == ("P1", "marketing")


def test_a_forward_counts_from_its_time() -> None:
    log = Log().customer(1, T, priority="P3").reply(minutes(10))
    log.add("forwarded", minutes(15), agent_id=7, **forward("support", "marketing"))
    log.customer(2, minutes(20), priority="P3").reply(minutes(30))
    (cycle,) = conversation_facts(log.log(), now=minutes(60)).cycles
    assert [w.queue for w in cycle.waits] == ["support", "marketing"]


def test_events_after_now_are_not_seen() -> None:
    log = Log().customer(1, T, priority="P3").reply(minutes(30)).add("resolved", minutes(40), agent_id=7)
    facts = conversation_facts(log.log(), now=minutes(20))
    (cycle,) = facts.cycles
    assert cycle.first.answered_at is None and cycle.resolved_at is None
    assert facts.waiting is cycle.first and facts.status == "open"


def test_nearest_rank_quantiles() -> None:
    values = [float(v) for v in range(1, 11)]
    assert quantile(values, 0.5) == 5      # rank ceil(5) = 5
    assert quantile(values, 0.9) == 9      # rank ceil(9) = 9
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2    # rank 2 of [1, 2, 3, 4]: the lower middle, observed
    assert quantile([7.0], 0.9) == 7
    assert quantile([], 0.5) is None
    assert quantile([1.0, 2.0, 3.0], 0.9) == 3          # rank ceil(2.7) = 3


def test_hour_buckets_keep_the_two_hours_of_the_autumn_change_apart() -> None:
    rome = ZoneInfo("Europe/Rome")
    log = (Log().customer(1, datetime(2026, 10, 25, 0, 30, tzinfo=UTC), priority="P3")   # 02:30 +02:00
           .customer(2, datetime(2026, 10, 25, 1, 30, tzinfo=UTC), priority="P3"))       # 02:30 +01:00
    scope = Scope(since=datetime(2026, 10, 24, tzinfo=UTC), until=datetime(2026, 10, 26, tzinfo=UTC),
                  now=datetime(2026, 10, 26, tzinfo=UTC), rules=RULES, directory=DIRECTORY, timezone=rome,
                  interval="hour")
    report = build_report([conversation_facts(log.log(), now=scope.now)], scope)
    assert [(r.bucket, r.inbound_messages, r.new_conversations) for r in report.volume if r.dimension == "all"] == [
        ("2026-10-25T02:00:00+02:00", 1, 1), ("2026-10-25T02:00:00+01:00", 1, 0)]
