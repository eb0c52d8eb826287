"""Triage drives the queue: priorities, queues and SLA clocks follow the messages, the clock and the agents."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from social_care.config import Settings
from social_care.domain import Author, InboundMessage, MessageKind
from social_care.pipeline.conversation_state import ConversationRefresher
from social_care.service import Runtime, build_app, build_runtime
from social_care.store.agents import add_agent
from social_care.store.labels import export_corrections
from social_care.store.models import Conversation, DeliveryStatus, Event, Message, OutboxItem
from social_care.store.types import utcnow

TRIAGE = {"vip_handles": ["bigcorp_ceo"], "sla": {"P1": 30, "P2": 120, "P3": 480, "P4": 1440}}


def x_mention(n: int, user: str, text: str, *, handle: str | None = None, followers: int = 100,
              ago: timedelta = timedelta(0)) -> InboundMessage:
    return InboundMessage(
        platform="telegram", channel_key="acme", source_id=f"{user}:{n}", thread_key=f"chat:{user}",
        author=Author(platform_id=user, name=f"Customer {user}", handle=handle or f"user{user}", followers=followers),
        text=text, sent_at=utcnow() - ago, kind=MessageKind.DIRECT, public=False,
    )


@pytest.fixture
async def runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=sqlite_url, triage=TRIAGE,
                        channels=({"platform": "telegram", "key": "acme", "token": "1:x"},))
    try:
        built = await build_runtime(settings)
    except Exception as err:  # the SLA syntax is the triage package's; show it if it changed
        raise AssertionError(f"triage config rejected: {err}") from err
    yield built
    await built.db.dispose()


async def conversations(runtime: Runtime) -> dict[str, Conversation]:
    async with runtime.db.read() as session:
        rows = (await session.scalars(select(Conversation))).all()
    return {row.thread_key: row for row in rows}


async def test_an_angry_urgent_complaint_outranks_praise_and_gets_the_tight_sla(runtime: Runtime) -> None:
    await runtime.ingest([
        x_mention(1, "10", "Thank you so much, the new app update is lovely!"),
        x_mention(1, "11", "You charged me twice and still no refund!!! This is a SCAM, I'm calling my bank"),
    ])
    assert runtime.pipeline is not None
    await runtime.pipeline.run_once()
    rows = await conversations(runtime)
    angry, praise = rows["chat:11"], rows["chat:10"]
    assert angry.priority < praise.priority
    assert angry.queue == "support" and praise.queue == "marketing"
    assert any("urgent" in reason for reason in angry.priority_reasons)
    assert angry.sla_due is not None and angry.sla_due - angry.waiting_since <= timedelta(hours=2)
    assert praise.sla_due is None  # marketing threads are not on the support clock


async def test_waiting_raises_priority_and_a_sent_reply_stops_the_clock(runtime: Runtime) -> None:
    await runtime.ingest([x_mention(1, "12", "My order hasn't arrived, can you check?", ago=timedelta(hours=5))])
    assert runtime.pipeline is not None
    await runtime.pipeline.run_once()
    refresher = ConversationRefresher(runtime.db, runtime.rules)  # type: ignore[arg-type]
    await refresher.run_once()
    conversation = (await conversations(runtime))["chat:12"]
    assert "waiting 5 h" in conversation.priority_reasons
    before = conversation.priority
    # An agent's reply reaches the customer: the thread is answered and leaves the clock.
    async with runtime.db.write() as session:
        row = await session.get(Conversation, conversation.id)
        from social_care.outbox.enqueue import enqueue_reply

        message, item = await enqueue_reply(session, row, agent_id=None, text="On it!")
        message_id = message.id
    assert runtime.sender is not None
    async with runtime.db.write() as session:
        item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        await runtime.sender._finish(session, item, utcnow(), DeliveryStatus.SENT, platform_id="12:99")
    answered = (await conversations(runtime))["chat:12"]
    assert answered.sla_due is None and answered.priority == 4 and before < 4


async def test_an_agent_correction_is_stored_as_a_label_and_moves_the_queue(runtime: Runtime, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    await runtime.ingest([x_mention(1, "13", "Do you ship to Switzerland? Thinking of buying the blue one")])
    assert runtime.pipeline is not None
    await runtime.pipeline.run_once()
    _agent, token = await add_agent(runtime.db, "giulia", "agent")
    client: TestClient = await aiohttp_client(build_app(runtime, background=False))
    headers = {"Authorization": f"Bearer {token}"}
    async with runtime.db.read() as session:
        message = await session.scalar(select(Message))
    bad = await client.post(f"/api/messages/{message.id}/triage", json={"priority": "P1"}, headers=headers)
    assert bad.status == 400 and "cannot be corrected" in (await bad.json())["error"]
    target = "marketing" if message.triage["queue"] != "marketing" else "support"
    response = await client.post(f"/api/messages/{message.id}/triage",
                                 json={"queue": target, "urgent": True}, headers=headers)
    assert response.status == 200
    corrected = (await response.json())["analysis"]["triage"]
    assert corrected["queue"] == target and corrected["urgent"] is True
    assert "urgent (agent)" in corrected["reasons"] and corrected["corrected_by"] == "giulia"
    assert corrected["queue_reason"] == "corrected by an agent"  # triage's own reason no longer holds
    conversation = (await conversations(runtime))["chat:13"]
    assert conversation.queue == target and conversation.queue_locked
    await runtime.pipeline.run_once()
    await ConversationRefresher(runtime.db, runtime.rules).run_once()  # type: ignore[arg-type]
    assert (await conversations(runtime))["chat:13"].queue == target  # triage does not undo the agent
    async with runtime.db.read() as session:
        kinds = (await session.scalars(select(Event.kind))).all()
    assert "triage_corrected" in kinds
    assert await export_corrections(runtime.db) == [
        {"text": "Do you ship to Switzerland? Thinking of buying the blue one", "queue": target, "urgent": True}
    ]
