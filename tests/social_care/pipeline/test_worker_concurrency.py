"""On PostgreSQL, bursts of ingest (messages and edits) while the pipeline runs: no deadlock, nothing fails."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from social_care.domain import Author, InboundMessage
from social_care.pipeline.conversation_state import ConversationRefresher
from social_care.pipeline.stages import default_stages
from social_care.pipeline.worker import PipelineWorker
from social_care.store.models import Conversation, Message
from social_care.store.types import utcnow
from tests.social_care.conftest import Store, open_store
from triage import TriageRules

CUSTOMERS = 6
MESSAGES = 12  # per customer
WAVES = 4


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[Store]:
    opened = await open_store(postgres_url)
    yield opened
    await opened.db.dispose()


def message(customer: int, n: int, *, edit: int = 0) -> InboundMessage:
    now = utcnow()
    return InboundMessage(
        platform="telegram", channel_key="acme", source_id=f"{customer}:{n}", thread_key=f"chat:{customer}",
        author=Author(platform_id=str(customer), name=f"Customer {customer}"),
        text=f"my order {n} never arrived, this is terrible" + (f" (edit {edit})" if edit else ""),
        sent_at=now - timedelta(hours=2, minutes=MESSAGES - n),
        edited_at=now + timedelta(seconds=edit) if edit else None,
    )


def burst(seed: int) -> list[list[InboundMessage]]:
    """Single updates (as webhooks deliver them) and small batches across customers (as pollers do)."""
    rng = random.Random(seed)
    calls: list[list[InboundMessage]] = []
    for n in range(1, MESSAGES + 1):
        for customer in range(1, CUSTOMERS + 1):
            calls.append([message(customer, n)])
            if n > 1:
                calls.append([message(customer, n - 1, edit=seed * 100 + n)])
    for _ in range(20):
        picked = rng.sample(range(1, CUSTOMERS + 1), 3)
        calls.append([message(c, rng.randint(1, MESSAGES), edit=seed * 100 + rng.randint(50, 99)) for c in picked])
    rng.shuffle(calls)
    return calls


async def test_ingest_bursts_and_the_pipeline_never_deadlock(
    pg_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rules = TriageRules.from_dict({})
    # Small batches and no pause: the workers hold locks as often as they can while ingest runs.
    worker = PipelineWorker(pg_store.db, default_stages(rules), rules=rules, batch_size=8, interval=0.001)

    async def refresh_all_the_time() -> None:
        # A new refresher's first round takes every thread that has waited an hour, as after a restart.
        while True:
            await ConversationRefresher(pg_store.db, rules, batch_size=3).run_once()
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(refresh_all_the_time())]
    failures: list[BaseException] = []
    try:
        for wave in range(1, WAVES + 1):
            results = await asyncio.gather(*(pg_store.ingest(calls) for calls in burst(wave)),
                                           return_exceptions=True)
            failures += [r for r in results if isinstance(r, BaseException)]
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            async with pg_store.db.read() as session:
                pending = await session.scalar(
                    select(func.count()).select_from(Message).where(Message.pipeline_state != "done"))
            if not pending or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        died = [task.exception() for task in tasks if task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert died == [], "the workers kept running"
    assert failures == [], [f"{type(f).__name__}: {f}" for f in failures[:3]]
    assert pending == 0, "every message triaged"
    problems = [r.getMessage() + (r.exc_text or "") for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == [], problems[:3]
    async with pg_store.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == CUSTOMERS * MESSAGES
        conversations = (await session.scalars(select(Conversation))).all()
    assert len(conversations) == CUSTOMERS
    assert all(c.sentiment is not None and c.sla_due is not None for c in conversations)


async def _hold_conversation_lock(store: Store, conversation_id: int, release: asyncio.Event,
                                  held: asyncio.Event) -> None:
    """An agent's action (or an ingest) keeping the conversation's row locked until `release`."""
    async with store.db.write() as session:
        await session.execute(select(Conversation).where(Conversation.id == conversation_id).with_for_update())
        held.set()
        await release.wait()


async def test_workers_pass_over_a_locked_conversation_instead_of_waiting(pg_store: Store) -> None:
    rules = TriageRules.from_dict({})
    two_hours_ago = utcnow() - timedelta(hours=2)
    await pg_store.ingest([dataclasses.replace(message(1, n), sent_at=two_hours_ago) for n in (1, 2)])
    async with pg_store.db.read() as session:
        conversation_id = await session.scalar(select(Conversation.id))
    worker = PipelineWorker(pg_store.db, default_stages(rules), rules=rules)
    refresher = ConversationRefresher(pg_store.db, rules)

    release, held = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_conversation_lock(pg_store, conversation_id, release, held))
    await held.wait()
    try:
        # It does not wait for the lock: waiting while holding other rows is how the deadlocks formed.
        assert await asyncio.wait_for(worker.run_once(), 10) == 0
    finally:
        release.set()
        await holder
    assert await worker.run_once() == 2  # released: both messages are processed on the next batch

    later = utcnow() + timedelta(hours=1)  # the refresher's clock: the thread has waited 3 hours
    release, held = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_conversation_lock(pg_store, conversation_id, release, held))
    await held.wait()
    try:
        assert await asyncio.wait_for(refresher.run_once(later), 10) == 0
    finally:
        release.set()
        await holder
    # The thread it passed over is due in the next round, although no new hour was crossed since.
    assert await refresher.run_once(later + timedelta(minutes=1)) == 1
    async with pg_store.db.read() as session:
        conversation = await session.get(Conversation, conversation_id)
    assert "waiting 3 h" in conversation.priority_reasons
