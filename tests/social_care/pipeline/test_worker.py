"""The pipeline worker: every message is processed, a crash means a re-run, never a skip or a double."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from social_care.pipeline.stages import PipelineItem
from social_care.pipeline.worker import MAX_ATTEMPTS, PipelineWorker
from social_care.store.models import Conversation, Event, Message
from tests.social_care.conftest import T0, Store, customer_message


class Shout:
    """A stage whose result is easy to check: the upper-cased text's length as 'sentiment'."""

    name = "shout"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def process(self, item: PipelineItem) -> PipelineItem:
        self.seen.append(item.message_id)
        score = -1.0 if item.text.isupper() else 0.5
        return item.with_(lang="en", sentiment=score, sentiment_label="negative" if score < 0 else "positive")


class CrashOnce:
    """Simulates the process dying after the claim and before the commit."""

    name = "crash"

    def __init__(self) -> None:
        self.crashed = False

    def process(self, item: PipelineItem) -> PipelineItem:
        if not self.crashed:
            self.crashed = True
            raise SystemExit("killed")
        return item


class FailOn:
    name = "fail"

    def __init__(self, text: str) -> None:
        self.text = text

    def process(self, item: PipelineItem) -> PipelineItem:
        if item.text == self.text:
            raise ValueError("cannot analyse this")
        return item


async def states(store: Store) -> dict[str, str]:
    async with store.db.read() as session:
        rows = (await session.execute(select(Message.text, Message.pipeline_state))).all()
    return dict(rows)


async def test_results_are_stored_with_an_event_and_the_conversation_follows(store: Store) -> None:
    await store.ingest([customer_message(1, text="fine thanks"), customer_message(2, text="WHERE IS MY REFUND")])
    worker = PipelineWorker(store.db, [Shout()])
    assert await worker.run_once() == 2
    assert await worker.run_once() == 0
    async with store.db.read() as session:
        messages = {m.text: m for m in (await session.scalars(select(Message))).all()}
        conversation = await session.scalar(select(Conversation))
        triaged = await session.scalar(select(func.count()).where(Event.kind == "triaged"))
    assert messages["WHERE IS MY REFUND"].sentiment_label == "negative"
    assert messages["fine thanks"].sentiment == 0.5
    assert conversation.sentiment == -1.0  # follows the latest customer message
    assert triaged == 2


async def test_a_crash_between_claim_and_commit_reprocesses_everything_once(store: Store) -> None:
    await store.ingest([customer_message(n) for n in range(1, 6)])
    crashing = PipelineWorker(store.db, [CrashOnce(), Shout()])
    with pytest.raises(SystemExit):
        await crashing.run_once()
    assert set((await states(store)).values()) == {"pending"}
    shout = Shout()
    assert await PipelineWorker(store.db, [shout]).run_once() == 5  # the restarted worker
    assert set((await states(store)).values()) == {"done"}
    async with store.db.read() as session:
        triaged = await session.scalar(select(func.count()).where(Event.kind == "triaged"))
    assert triaged == 5 and sorted(shout.seen) == sorted(set(shout.seen))


async def test_one_bad_message_does_not_hold_back_the_others(store: Store) -> None:
    await store.ingest([customer_message(1, text="poison"), customer_message(2, text="normal")])
    worker = PipelineWorker(store.db, [FailOn("poison"), Shout()])
    await worker.run_once()
    assert await states(store) == {"poison": "pending", "normal": "done"}
    for _ in range(MAX_ATTEMPTS):
        await worker.run_once()
    assert (await states(store))["poison"] == "failed"
    async with store.db.read() as session:
        failure = await session.scalar(select(Event).where(Event.kind == "triage_failed"))
    assert "cannot analyse this" in failure.data["error"]


async def test_an_edit_during_processing_is_not_overwritten_by_the_stale_result(store: Store) -> None:
    await store.ingest([customer_message(1, text="all good")])
    worker = PipelineWorker(store.db, [Shout()])
    claimed = await worker._claim()
    await store.ingest([customer_message(1, text="NOTHING WORKS", edited_at=T0 + timedelta(hours=1))])
    await worker._store(worker._compute(claimed))
    assert await states(store) == {"NOTHING WORKS": "pending"}
    await worker.run_once()
    async with store.db.read() as session:
        message = await session.scalar(select(Message))
    assert message.sentiment_label == "negative" and message.pipeline_state == "done"
