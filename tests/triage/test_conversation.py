"""A thread's priority, queue and SLA due time follow from its messages."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triage import Contribution, ReceivedResult, TriageResult, TriageRules, conversation_state

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _result(queue: str, *parts: tuple[str, str, int]) -> TriageResult:
    breakdown = tuple(Contribution(*p) for p in parts)
    score = sum(p[2] for p in parts)
    return TriageResult("en", 0.0, "neutral", False, 0.1, False, False, False, queue, "P4", score,
                        tuple(p[1] for p in parts), (), breakdown)


def test_the_worst_open_message_sets_priority_and_the_clock_starts_at_the_oldest():
    rules = TriageRules()
    msgs = [
        ReceivedResult(_result("marketing"), T0),
        ReceivedResult(_result("support", ("complaint", "public complaint", 3), ("angry", "angry", 2)), T0 + timedelta(minutes=5)),
    ]
    state = conversation_state(msgs, rules, now=T0 + timedelta(minutes=10), channel="x")
    assert state.queue == "support" and state.priority == "P2"
    assert state.reasons == ("public complaint", "angry")
    assert state.sla_due == T0 + timedelta(minutes=240)


def test_waiting_raises_priority_but_not_the_due_time():
    rules = TriageRules()
    msgs = [ReceivedResult(_result("support", ("complaint", "public complaint", 3), ("angry", "angry", 2), ("waiting", "waiting 1 h", 1)), T0)]
    early = conversation_state(msgs, rules, now=T0 + timedelta(minutes=1))
    late = conversation_state(msgs, rules, now=T0 + timedelta(hours=5))
    assert early.priority == "P2" and early.score == 5
    assert late.priority == "P1" and "waiting 5 h" in late.reasons
    assert early.sla_due == late.sla_due


def test_a_reply_stops_the_clock_until_the_customer_writes_again():
    rules = TriageRules()
    first = ReceivedResult(_result("support", ("complaint", "complaint", 1)), T0)
    answered = conversation_state([first], rules, now=T0 + timedelta(hours=2), last_reply_at=T0 + timedelta(hours=1))
    assert answered.sla_due is None and answered.priority == "P4"
    again = ReceivedResult(_result("support", ("complaint", "complaint", 1)), T0 + timedelta(hours=3))
    reopened = conversation_state([first, again], rules, now=T0 + timedelta(hours=3), last_reply_at=T0 + timedelta(hours=1))
    assert reopened.sla_due == T0 + timedelta(hours=3) + timedelta(minutes=4320)


def test_marketing_threads_are_off_the_support_clock_unless_configured():
    msgs = [ReceivedResult(_result("marketing"), T0)]
    assert conversation_state(msgs, TriageRules(), now=T0).sla_due is None
    timed = TriageRules.from_dict({"sla": {"marketing": 600}})
    assert conversation_state(msgs, timed, now=T0).sla_due == T0 + timedelta(minutes=600)


def test_channel_overrides_apply():
    rules = TriageRules.from_dict({"sla": {"channels": {"x": {"P4": 30}}}})
    msgs = [ReceivedResult(_result("support"), T0)]
    assert conversation_state(msgs, rules, now=T0, channel="x").sla_due == T0 + timedelta(minutes=30)
    assert conversation_state(msgs, rules, now=T0, channel="telegram").sla_due == T0 + timedelta(minutes=4320)
