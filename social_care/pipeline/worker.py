"""The pipeline worker: claims new messages, runs the stages, stores results at least once."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from social_care.bus import Bus
from social_care.pipeline.conversation_state import refresh_conversation
from social_care.pipeline.stages import PipelineItem, Stage, run_stages
from social_care.store.db import Database
from social_care.store.models import Channel, Conversation, Event, Identity, Message, PipelineState
from social_care.store.types import utcnow

if TYPE_CHECKING:
    from triage import TriageRules

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class _Claimed:
    item: PipelineItem
    edited_at: object
    text: str


@dataclass(frozen=True)
class _Outcome:
    claimed: _Claimed
    item: PipelineItem | None
    error: str | None


class PipelineWorker:
    """Processes pending inbound messages in batches; a crash before commit means a re-run, not a skip."""

    def __init__(
        self,
        db: Database,
        stages: Sequence[Stage],
        *,
        bus: Bus | None = None,
        batch_size: int = 100,
        interval: float = 0.5,
        rules: TriageRules | None = None,
    ) -> None:
        self.db = db
        self.stages = list(stages)
        self.rules = rules
        self.bus = bus
        self.batch_size = batch_size
        self.interval = interval
        self._wake = bus.wakeup("message.received") if bus else None

    async def run_once(self) -> int:
        """Process one batch; returns how many messages were finished (done or failed)."""
        claimed = await self._claim()
        if not claimed:
            return 0
        outcomes = await asyncio.to_thread(self._compute, claimed)
        return await self._store(outcomes)

    async def run(self) -> None:
        """Process batches until cancelled, waking on new messages or every `interval` seconds."""
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("pipeline batch failed; retrying")
                done = 0
            if done:
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        if self._wake is None:
            await asyncio.sleep(self.interval)
            return
        try:
            await asyncio.wait_for(self._wake.wait(), self.interval)
        except TimeoutError:
            pass
        self._wake.clear()

    async def _claim(self) -> list[_Claimed]:
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(Message, Identity.handle, Identity.followers, Channel.platform)
                    .join(Channel, Channel.id == Message.channel_id)
                    .outerjoin(Identity, Identity.id == Message.identity_id)
                    .where(Message.pipeline_state == PipelineState.PENDING)
                    .order_by(Message.id)
                    .limit(self.batch_size)
                )
            ).all()
        claimed = []
        for message, handle, followers, platform in rows:
            item = PipelineItem(
                message_id=message.id,
                conversation_id=message.conversation_id,
                text=message.text,
                platform=platform,
                public=message.public,
                sent_at=message.sent_at,
                author_handle=handle,
                author_followers=followers,
            )
            claimed.append(_Claimed(item=item, edited_at=message.edited_at, text=message.text))
        return claimed

    def _compute(self, claimed: Sequence[_Claimed]) -> list[_Outcome]:
        outcomes = []
        for entry in claimed:
            try:
                outcomes.append(_Outcome(entry, run_stages(self.stages, entry.item), None))
            except Exception as err:  # one bad message must not stop the others
                logger.exception("pipeline stages failed on message %s", entry.item.message_id)
                outcomes.append(_Outcome(entry, None, f"{type(err).__name__}: {err}"))
        return outcomes

    async def _store(self, outcomes: Sequence[_Outcome]) -> int:
        finished = 0
        touched: set[int] = set()
        async with self.db.write() as session:
            ids = [o.claimed.item.message_id for o in outcomes]
            query = select(Message).where(Message.id.in_(ids))
            if self.db.is_postgres:
                # Conversations first, then messages, and never waiting for either: ingest holds a
                # conversation while it waits for a message (an edit) and the other way round, so a
                # worker that waited could close a cycle. What is locked now is done next batch.
                conversations = await session.scalars(
                    select(Conversation.id)
                    .where(Conversation.id.in_({o.claimed.item.conversation_id for o in outcomes}))
                    .order_by(Conversation.id)
                    .with_for_update(key_share=True, skip_locked=True)
                )
                query = query.where(Message.conversation_id.in_(list(conversations))).with_for_update(skip_locked=True)
            current = {m.id: m for m in (await session.scalars(query)).all()}
            now = utcnow()
            for outcome in outcomes:
                message = current.get(outcome.claimed.item.message_id)
                # Skip what another worker finished, or what an edit changed since we read it.
                if (
                    message is None
                    or message.pipeline_state != PipelineState.PENDING
                    or message.text != outcome.claimed.text
                    or message.edited_at != outcome.claimed.edited_at
                ):
                    continue
                if outcome.item is None:
                    message.pipeline_attempts += 1
                    if message.pipeline_attempts >= MAX_ATTEMPTS:
                        message.pipeline_state = PipelineState.FAILED
                        session.add(
                            Event(conversation_id=message.conversation_id, message_id=message.id,
                                  kind="triage_failed", at=now, data={"error": outcome.error})
                        )
                        finished += 1
                    continue
                item = outcome.item
                message.lang = item.lang
                message.sentiment = item.sentiment
                message.sentiment_label = item.sentiment_label
                message.triage = dict(item.triage)
                message.pipeline_state = PipelineState.DONE
                message.pipeline_attempts += 1
                session.add(
                    Event(
                        conversation_id=message.conversation_id,
                        message_id=message.id,
                        kind="triaged",
                        at=now,
                        data={"lang": item.lang, "sentiment": item.sentiment, "label": item.sentiment_label,
                              **{k: v for k, v in item.triage.items()
                                 if k in ("priority", "queue", "reasons", "complaint", "public_complaint")}},
                    )
                )
                touched.add(message.conversation_id)
                finished += 1
            await session.flush()
            for conversation_id in sorted(touched):
                await self._update_conversation(session, conversation_id)
        if self.bus is not None and touched:
            self.bus.publish("conversation.changed", ids=sorted(touched))
        return finished

    async def _update_conversation(self, session, conversation_id: int) -> None:  # type: ignore[no-untyped-def]
        # Every read comes before the first change, so the conversation gets one UPDATE: on PostgreSQL a
        # second UPDATE of a row in the same transaction re-runs its foreign-key checks, which lock
        # the customer's identity and contact rows (FOR KEY SHARE) that ingest may hold.
        latest = await session.scalar(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.direction == "inbound",
                   Message.pipeline_state == PipelineState.DONE)
            .order_by(Message.id.desc())
            .limit(1)
        )
        if self.rules is not None:
            await refresh_conversation(session, conversation_id, self.rules)
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or latest is None:
            return
        conversation.sentiment = latest.sentiment
        conversation.updated_at = utcnow()
