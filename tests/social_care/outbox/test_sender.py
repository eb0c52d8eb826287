"""Replies go out through the outbox to the real Telegram client and sandbox: once, patiently, visibly."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from social_care.outbox.sender import retry_delivery
from social_care.store.models import Conversation, Event, Message
from tests.social_care.conftest import Store
from tests.social_care.outbox.helpers import (
    FAST,
    Rig,
    customer_writes_and_agent_replies,
    outbox_state,
    run_until,
    send_calls,
    telegram_channel,
)


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    async with telegram_channel(store) as rig:
        yield rig


async def test_a_reply_arrives_quoting_the_customer_and_records_the_platform_id(rig: Rig) -> None:
    message_id = await customer_writes_and_agent_replies(rig)
    item = await run_until(rig, rig.sender(), message_id, {"sent"})
    (sent,) = rig.sandbox.sent_messages(42)
    assert sent["text"] == "We are on it!"
    assert sent["reply_to_message"]["text"] == "My order never arrived"
    assert item.platform_message_id == f"42:{sent['message_id']}"
    async with rig.store.db.read() as session:
        message = await session.get(Message, message_id)
        conversation = await session.get(Conversation, message.conversation_id)
        delivered = await session.scalar(select(Event).where(Event.kind == "delivered"))
    assert message.delivery_status == "sent" and message.platform_message_id == item.platform_message_id
    assert conversation.waiting_since is None  # the customer has an answer
    assert delivered.message_id == message_id


async def test_429_three_times_waits_what_telegram_says_then_delivers_once(rig: Rig) -> None:
    message_id = await customer_writes_and_agent_replies(rig)
    rig.sandbox.inject_fault("sendMessage", "429", count=3, retry_after=2)
    item = await run_until(rig, rig.sender(), message_id, {"sent", "failed"}, timeout=20)
    assert item.state == "sent"
    assert len(rig.sandbox.sent_messages(42)) == 1
    calls = send_calls(rig.sandbox)
    assert len(calls) == 4
    gaps = [later.at - earlier.at for earlier, later in zip(calls, calls[1:])]
    assert all(gap >= 2.0 for gap in gaps), gaps  # never before the wait Telegram asked for
    assert item.attempts == 1  # rate-limit waits do not eat the retry budget


async def test_5xx_forever_ends_failed_with_the_error_and_a_retry_delivers(rig: Rig) -> None:
    message_id = await customer_writes_and_agent_replies(rig)
    rig.sandbox.inject_fault("sendMessage", "5xx", count=None, status=502)
    item = await run_until(rig, rig.sender(), message_id, {"failed"})
    assert item.attempts == FAST.max_attempts
    assert len(send_calls(rig.sandbox)) == FAST.max_attempts
    async with rig.store.db.read() as session:
        message = await session.get(Message, message_id)
    assert message.delivery_status == "failed" and "Bad Gateway" in message.delivery_error
    assert rig.sandbox.sent_messages(42) == []
    rig.sandbox.clear_faults()
    async with rig.store.db.write() as session:
        await retry_delivery(session, message_id, agent_id=None)
    item = await run_until(rig, rig.sender(), message_id, {"sent"})
    assert len(rig.sandbox.sent_messages(42)) == 1


async def test_a_reply_enqueued_before_a_crash_is_delivered_after_restart(rig: Rig) -> None:
    message_id = await customer_writes_and_agent_replies(rig)
    # No sender ran before the "crash"; a new process's sender finds the row.
    item = await run_until(rig, rig.sender(), message_id, {"sent"})
    assert item.state == "sent" and len(rig.sandbox.sent_messages(42)) == 1


async def test_a_reply_in_flight_at_a_crash_is_never_sent_again(rig: Rig) -> None:
    message_id = await customer_writes_and_agent_replies(rig)
    crashed = rig.sender()
    (claimed,) = await crashed._claim()  # claimed and marked in flight, then the process died
    await rig.connector.send(claimed[1])  # ...after the platform had accepted it
    restarted = rig.sender()
    assert await restarted.recover() == 1
    await restarted.run_once()
    item = await outbox_state(rig, message_id)
    assert item.state == "unknown" and "check" in item.last_error
    assert len(rig.sandbox.sent_messages(42)) == 1


async def test_a_blocked_customer_fails_at_once_without_retries(rig: Rig) -> None:
    message_id = await customer_writes_and_agent_replies(rig)
    rig.sandbox.customer_blocks(42)
    item = await run_until(rig, rig.sender(), message_id, {"failed"})
    assert "blocked" in item.last_error
    assert len(send_calls(rig.sandbox)) == 1


async def test_a_connection_dropped_after_sending_is_unknown_not_resent(rig: Rig) -> None:
    message_id = await customer_writes_and_agent_replies(rig)
    rig.sandbox.inject_fault("sendMessage", "drop_after")
    item = await run_until(rig, rig.sender(), message_id, {"unknown", "sent", "failed"})
    await asyncio.sleep(0.3)
    assert item.state == "unknown"
    assert len(rig.sandbox.sent_messages(42)) == 1  # it did arrive; we must not send it twice


async def test_a_rate_limit_pauses_the_whole_channel(rig: Rig) -> None:
    first = await customer_writes_and_agent_replies(rig, chat=1, text="first")
    rig.sandbox.inject_fault("sendMessage", "429", count=1, retry_after=1)
    sender = rig.sender()
    assert await sender.run_once() == 1  # rejected with retry_after=1
    second = await customer_writes_and_agent_replies(rig, chat=2, text="second")
    assert await sender.run_once() == 0  # the other customer's reply waits for the same channel
    await run_until(rig, sender, first, {"sent"})
    await run_until(rig, sender, second, {"sent"})
    calls = send_calls(rig.sandbox)
    assert len(calls) == 3 and len(rig.sandbox.sent_messages()) == 2
    assert all(later.at - calls[0].at >= 1.0 for later in calls[1:])
