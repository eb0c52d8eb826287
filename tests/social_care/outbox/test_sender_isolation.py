"""One slow call holds only its own conversation: other channels and other customers get their replies meanwhile."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from connectors.telegram.sandbox import TelegramSandbox
from social_care.config import RetryPolicy
from tests.social_care.conftest import Store
from tests.social_care.outbox.helpers import (
    Rig,
    agent_replies,
    customer_writes_and_agent_replies,
    outbox_state,
    reaches,
    run_until,
    send_calls,
    sender_for,
    telegram_channel,
    wait_for,
)

SLOW = 3.0  # seconds the slow call takes; under the client's 10 s read timeout, so it ends "sent"


@pytest.fixture
async def rig(store: Store) -> AsyncIterator[Rig]:
    async with telegram_channel(store) as rig:
        yield rig


@pytest.fixture
async def two_channels(store: Store) -> AsyncIterator[tuple[Rig, Rig]]:
    async with telegram_channel(store, "acme") as slow, telegram_channel(store, "acme-it") as fast:
        yield slow, fast


def texts(sandbox: TelegramSandbox, chat: int | None = None) -> list[str]:
    return [message["text"] for message in sandbox.sent_messages(chat)]


async def calls_arrived(sandbox: TelegramSandbox, count: int) -> None:
    async def arrived() -> bool:
        return len(send_calls(sandbox)) >= count

    await wait_for(arrived)


async def test_a_slow_call_on_one_channel_does_not_delay_a_reply_on_another(two_channels: tuple[Rig, Rig]) -> None:
    slow, fast = two_channels
    slow_reply = await customer_writes_and_agent_replies(slow, chat=1, text="slow one")
    slow.sandbox.inject_fault("sendMessage", "slow", count=1, delay=SLOW)
    task = asyncio.create_task(sender_for([slow, fast]).run())
    try:
        await calls_arrived(slow.sandbox, 1)  # the slow call is under way
        fast_reply = await customer_writes_and_agent_replies(fast, chat=2, text="fast one")
        await reaches(fast, fast_reply, {"sent"})
        # ...and it has still not come back: the other channel's reply did not wait for it.
        assert slow.sandbox.sent_messages() == []
        assert (await outbox_state(slow, slow_reply)).in_flight
        await reaches(slow, slow_reply, {"sent"})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert texts(fast.sandbox) == ["fast one"] and texts(slow.sandbox) == ["slow one"]


async def test_a_slow_call_does_not_delay_another_customer_on_the_same_channel(rig: Rig) -> None:
    slow_reply = await customer_writes_and_agent_replies(rig, chat=1, text="slow one")
    rig.sandbox.inject_fault("sendMessage", "slow", count=1, delay=SLOW)
    task = asyncio.create_task(rig.sender().run())
    try:
        await calls_arrived(rig.sandbox, 1)
        fast_reply = await customer_writes_and_agent_replies(rig, chat=2, text="fast one")
        await reaches(rig, fast_reply, {"sent"})
        assert texts(rig.sandbox) == ["fast one"]  # the slow call has not come back yet
        await reaches(rig, slow_reply, {"sent"})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert texts(rig.sandbox) == ["fast one", "slow one"]


async def test_a_conversations_next_reply_waits_for_the_slow_one_before_it(rig: Rig) -> None:
    first = await customer_writes_and_agent_replies(rig, chat=1, text="first")
    rig.sandbox.inject_fault("sendMessage", "slow", count=1, delay=SLOW)
    task = asyncio.create_task(rig.sender().run())
    try:
        await calls_arrived(rig.sandbox, 1)
        second = await agent_replies(rig, 1, "second")
        other = await customer_writes_and_agent_replies(rig, chat=2, text="other")
        await reaches(rig, other, {"sent"})  # the sender kept going while "first" was out...
        waiting = await outbox_state(rig, second)
        assert waiting.state == "pending" and not waiting.in_flight  # ...but "second" did not overtake it
        assert len(send_calls(rig.sandbox)) == 2
        await reaches(rig, second, {"sent"})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert texts(rig.sandbox, 1) == ["first", "second"]


async def test_a_reply_backing_off_is_not_overtaken_by_the_next_one_in_its_conversation(rig: Rig) -> None:
    first = await customer_writes_and_agent_replies(rig, chat=1, text="first")
    second = await agent_replies(rig, 1, "second")
    rig.sandbox.inject_fault("sendMessage", "5xx", count=1, status=502)  # "first" must wait 0.5-1 s
    patient = RetryPolicy(max_attempts=3, backoff_base=1.0, backoff_cap=1.0)
    await run_until(rig, rig.sender(patient), second, {"sent", "failed"})
    assert (await outbox_state(rig, first)).state == "sent"
    assert texts(rig.sandbox, 1) == ["first", "second"]


async def test_one_slow_channel_cannot_take_every_sending_slot(two_channels: tuple[Rig, Rig]) -> None:
    slow, fast = two_channels
    stuck = await customer_writes_and_agent_replies(slow, chat=1, text="slow one")
    queued = await customer_writes_and_agent_replies(slow, chat=3, text="queued behind it")
    slow.sandbox.inject_fault("sendMessage", "slow", count=1, delay=SLOW)
    task = asyncio.create_task(sender_for([slow, fast], batch_size=2, per_channel=1).run())
    try:
        await calls_arrived(slow.sandbox, 1)
        fast_reply = await customer_writes_and_agent_replies(fast, chat=2, text="fast one")
        await reaches(fast, fast_reply, {"sent"})
        assert len(send_calls(slow.sandbox)) == 1  # one send at a time on the slow channel
        await reaches(slow, queued, {"sent"})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (await outbox_state(slow, stuck)).state == "sent"
    assert texts(slow.sandbox) == ["slow one", "queued behind it"]
