"""Keep a conversation's priority, queue, SLA due time and reasons in step with its messages."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from social_care.bus import Bus
from social_care.store.db import Database
from social_care.store.models import (
    Channel,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    PipelineState,
)
from social_care.store.types import utcnow
from triage import ReceivedResult, TriageResult, TriageRules, conversation_state

logger = logging.getLogger(__name__)


async def refresh_conversation(
    session: AsyncSession, conversation_id: int, rules: TriageRules, *, now: datetime | None = None
) -> bool:
    """Recompute one conversation from its triaged customer messages; True when something changed."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        return False
    platform = await session.scalar(select(Channel.platform).where(Channel.id == conversation.channel_id))
    inbound = (
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id, Message.direction == "inbound",
                                  Message.pipeline_state == PipelineState.DONE)
        )
    ).all()
    triaged = [ReceivedResult(TriageResult.from_json(m.triage), m.sent_at) for m in inbound if m.triage]
    if not triaged:
        return False
    # Only a human agent's reply that reached the customer stops the clock.
    last_reply_at = await session.scalar(
        select(func.max(Message.sent_at)).where(
            Message.conversation_id == conversation_id, Message.direction == "outbound",
            Message.automated.is_(False), Message.delivery_status == DeliveryStatus.SENT)
    )
    # A queue an agent chose (forward, correction) also sets the clock: marketing has its own target.
    state = conversation_state(triaged, rules, now=now or utcnow(), channel=platform, last_reply_at=last_reply_at,
                               queue=conversation.queue if conversation.queue_locked else None)
    new = {
        "priority": int(state.priority[1]),
        "priority_reasons": list(state.reasons),
        "sla_due": state.sla_due,
    }
    if not conversation.queue_locked:
        new["queue"] = state.queue
    changed = any(getattr(conversation, key) != value for key, value in new.items())
    for key, value in new.items():
        setattr(conversation, key, value)
    return changed


HOUR = timedelta(hours=1)


def _crossed_an_hour(since: datetime, previous: datetime | None, now: datetime) -> bool:
    """Whether the whole hours waited changed between the previous round (None: none yet) and now."""
    hours = (now - since) // HOUR
    if previous is None:
        return hours >= 1  # the first round after a start: every thread that has waited points to show
    return hours != (previous - since) // HOUR


class ConversationRefresher:
    """Re-prioritises waiting conversations on a timer: waiting time is part of the priority."""

    def __init__(self, db: Database, rules: TriageRules, *, bus: Bus | None = None, interval: float = 60.0,
                 batch_size: int = 500) -> None:
        self.db = db
        self.rules = rules
        self.bus = bus
        self.interval = interval
        self.batch_size = batch_size
        self._last_round: datetime | None = None
        self._skipped: set[int] = set()  # due last round but locked by another writer
        self.last_refreshed = 0  # threads recomputed in the last round (the others crossed no hour)

    async def run_once(self, now: datetime | None = None) -> int:
        """Refresh the waiting conversations whose time waited crossed a whole hour; returns how many changed.

        Time only changes a thread's state through whole hours waited (the points and the "waiting N h"
        reason), so a round touches the threads that crossed an hour since the previous round, not every
        waiting thread: the writer stays free for webhooks however big the backlog.
        """
        now = now or utcnow()
        previous, self._last_round = self._last_round, now
        async with self.db.read() as session:
            waiting = (await session.execute(
                select(Conversation.id, Conversation.waiting_since)
                .where(Conversation.status == ConversationStatus.OPEN, Conversation.waiting_since.is_not(None))
            )).all()
        waiting_ids = {cid for cid, _ in waiting}
        # Threads that were locked last round are due now, whatever the hour.
        due = sorted({cid for cid, since in waiting if _crossed_an_hour(since, previous, now)}
                     | (self._skipped & waiting_ids))
        self._skipped = set()
        self.last_refreshed = len(due)
        changed: list[int] = []
        for start in range(0, len(due), self.batch_size):
            batch = due[start:start + self.batch_size]
            async with self.db.write() as session:
                if self.db.is_postgres:
                    # Never wait for a thread someone is writing (ingest, the pipeline, an agent): holding
                    # some threads while waiting for others is how deadlocks start. The rest wait a round.
                    locked = set(await session.scalars(
                        select(Conversation.id).where(Conversation.id.in_(batch)).order_by(Conversation.id)
                        .with_for_update(key_share=True, skip_locked=True)))
                    self._skipped.update(cid for cid in batch if cid not in locked)
                    batch = [cid for cid in batch if cid in locked]
                for conversation_id in batch:
                    if await refresh_conversation(session, conversation_id, self.rules, now=now):
                        changed.append(conversation_id)
        if changed and self.bus is not None:
            self.bus.publish("conversation.changed", ids=changed)
        return len(changed)

    async def run(self) -> None:
        """Refresh every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("refreshing conversation priorities failed; retrying next round")
