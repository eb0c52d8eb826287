"""The sender worker: delivers outbox rows through connectors, honouring rate limits, never twice."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from social_care.backoff import jittered_delay
from social_care.bus import Bus
from social_care.config import RetryPolicy
from social_care.domain import OutboundReply
from social_care.errors import AuthError, PlatformError, RateLimited, TransientError
from social_care.store.db import Database
from social_care.store.models import (
    Channel,
    Conversation,
    DeliveryStatus,
    Event,
    Message,
    OutboxItem,
)
from social_care.store.types import utcnow

from connectors.base import Connector

logger = logging.getLogger(__name__)

UNKNOWN_AFTER_CRASH = (
    "delivery unknown: the service stopped while this reply was being sent; "
    "check the conversation on the platform before retrying"
)


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """The wait before retry number `attempt` under the outbox's policy."""
    return jittered_delay(policy.backoff_base, policy.backoff_cap, attempt)


class OutboxSender:
    """Delivers due outbox rows; a row marked in flight when the process died becomes `unknown`."""

    def __init__(
        self,
        db: Database,
        connectors: Mapping[int, Connector],
        *,
        policy: RetryPolicy = RetryPolicy(),
        bus: Bus | None = None,
        interval: float = 0.5,
        batch_size: int = 20,
        after_delivery: Callable[[AsyncSession, int], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.connectors = connectors
        self.policy = policy
        self.bus = bus
        self.interval = interval
        self.batch_size = batch_size
        self.paused_until: dict[int, datetime] = {}
        self.after_delivery = after_delivery
        self._changed: list[int] = []
        self._wake = bus.wakeup("outbox.enqueued") if bus else None

    async def recover(self) -> int:
        """Mark rows left in flight by a crash as `unknown`: they may have reached the platform."""
        now = utcnow()
        async with self.db.write() as session:
            stuck = (await session.scalars(select(OutboxItem).where(OutboxItem.in_flight.is_(True)))).all()
            for item in stuck:
                await self._finish(session, item, DeliveryStatus.UNKNOWN, error=UNKNOWN_AFTER_CRASH, now=now)
        self._announce()
        if stuck:
            logger.warning("%d outbox rows were in flight at the last stop; marked unknown", len(stuck))
        return len(stuck)

    async def run(self) -> None:
        """Deliver until cancelled."""
        await self.recover()
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox round failed; retrying")
                sent = 0
            if not sent:
                await self._sleep()

    async def _sleep(self) -> None:
        delay = self.interval
        async with self.db.read() as session:
            soonest = await session.scalar(
                select(OutboxItem.next_attempt_at)
                .where(OutboxItem.state == DeliveryStatus.PENDING, OutboxItem.in_flight.is_(False))
                .order_by(OutboxItem.next_attempt_at)
                .limit(1)
            )
        if soonest is not None:
            delay = max(0.01, min(delay, (soonest - utcnow()).total_seconds()))
        if self._wake is None:
            await asyncio.sleep(delay)
            return
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            pass
        self._wake.clear()

    async def run_once(self) -> int:
        """Attempt every due row once; returns how many attempts were made."""
        claimed = await self._claim()
        if not claimed:
            return 0
        await asyncio.gather(*(self._deliver(item_id, reply, channel_id) for item_id, reply, channel_id in claimed))
        return len(claimed)

    async def _claim(self) -> list[tuple[str, OutboundReply, int]]:
        now = utcnow()
        paused = [cid for cid, until in self.paused_until.items() if until > now]
        async with self.db.write() as session:
            query = (
                select(OutboxItem, Channel.key, Conversation.thread_key)
                .join(Channel, Channel.id == OutboxItem.channel_id)
                .join(Conversation, Conversation.id == OutboxItem.conversation_id)
                .where(
                    OutboxItem.state == DeliveryStatus.PENDING,
                    OutboxItem.in_flight.is_(False),
                    OutboxItem.next_attempt_at <= now,
                )
                .order_by(OutboxItem.next_attempt_at, OutboxItem.created_at)
                .limit(self.batch_size)
            )
            if paused:
                query = query.where(OutboxItem.channel_id.not_in(paused))
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True, of=OutboxItem)
            rows = (await session.execute(query)).all()
            claimed = []
            seen_conversations: set[int] = set()
            for item, channel_key, thread_key in rows:
                # Replies in one conversation go out one at a time, in order.
                if item.conversation_id in seen_conversations:
                    continue
                seen_conversations.add(item.conversation_id)
                if item.channel_id not in self.connectors:
                    continue
                item.in_flight = True
                item.attempts += 1
                item.updated_at = now
                claimed.append(
                    (
                        item.id,
                        OutboundReply(
                            outbox_id=item.id,
                            channel_key=channel_key,
                            recipient_id=item.recipient_id,
                            text=item.text,
                            reply_to_source_id=item.reply_to_source_id,
                            mode=item.mode,
                            thread_key=thread_key,
                        ),
                        item.channel_id,
                    )
                )
        return claimed

    async def _deliver(self, item_id: str, reply: OutboundReply, channel_id: int) -> None:
        connector = self.connectors[channel_id]
        try:
            platform_id = await connector.send(reply)
        except RateLimited as err:
            await self._rate_limited(item_id, channel_id, err)
        except TransientError as err:
            if err.maybe_delivered:
                await self._settle(item_id, DeliveryStatus.UNKNOWN,
                                   error=f"delivery unknown: {err}; check the platform before retrying")
            else:
                await self._transient(item_id, str(err))
        except (PlatformError, AuthError) as err:
            await self._settle(item_id, DeliveryStatus.FAILED, error=str(err))
        except Exception as err:
            # Our own bug after the request may have left: never guess that it was not sent.
            logger.exception("connector %s crashed while sending outbox %s", reply.channel_key, item_id)
            await self._settle(item_id, DeliveryStatus.UNKNOWN, error=f"delivery unknown: {type(err).__name__}")
        else:
            await self._settle(item_id, DeliveryStatus.SENT, platform_id=platform_id)
        self._announce()  # after the outcome's transaction committed

    async def _rate_limited(self, item_id: str, channel_id: int, err: RateLimited) -> None:
        now = utcnow()
        async with self.db.write() as session:
            item = await session.get(OutboxItem, item_id)
            assert item is not None
            item.rate_limit_waits += 1
            item.attempts -= 1  # the platform did not try, so it costs no attempt
            if err.retry_after is not None:
                wait = min(float(err.retry_after), self.policy.max_retry_after)
            else:
                wait = max(1.0, backoff_delay(self.policy, item.rate_limit_waits))
            if item.rate_limit_waits > self.policy.max_rate_limit_waits:
                await self._finish(session, item, DeliveryStatus.FAILED, error=f"rate limited too often: {err}", now=now)
                return
            until = now + timedelta(seconds=wait)
            self.paused_until[channel_id] = until
            item.in_flight = False
            item.next_attempt_at = until
            item.last_error = f"rate limited: {err} (waiting {wait:g} s)"
            item.updated_at = now

    async def _transient(self, item_id: str, error: str) -> None:
        now = utcnow()
        async with self.db.write() as session:
            item = await session.get(OutboxItem, item_id)
            assert item is not None
            if item.attempts >= self.policy.max_attempts:
                await self._finish(session, item, DeliveryStatus.FAILED,
                                   error=f"{error} (gave up after {item.attempts} attempts)", now=now)
                return
            item.in_flight = False
            item.next_attempt_at = now + timedelta(seconds=backoff_delay(self.policy, item.attempts))
            item.last_error = error
            item.updated_at = now

    async def _settle(self, item_id: str, state: DeliveryStatus, *, error: str | None = None,
                      platform_id: str | None = None) -> None:
        async with self.db.write() as session:
            item = await session.get(OutboxItem, item_id)
            assert item is not None
            await self._finish(session, item, state, error=error, platform_id=platform_id, now=utcnow())

    async def _finish(self, session, item: OutboxItem, state: DeliveryStatus, *, now: datetime,  # type: ignore[no-untyped-def]
                      error: str | None = None, platform_id: str | None = None) -> None:
        item.state = state
        item.in_flight = False
        item.updated_at = now
        item.last_error = error
        message = await session.get(Message, item.message_id)
        assert message is not None
        message.delivery_status = state
        message.delivery_error = error
        conversation = await session.get(Conversation, item.conversation_id)
        if state == DeliveryStatus.SENT:
            item.platform_message_id = platform_id
            item.sent_at = now
            message.platform_message_id = platform_id
            message.sent_at = now
            if conversation is not None:
                conversation.last_outbound_at = now
                if not message.automated:
                    conversation.waiting_since = None
            if self.after_delivery is not None:
                await session.flush()
                await self.after_delivery(session, item.conversation_id)
            kind = "delivered"
        else:
            kind = "delivery_failed" if state == DeliveryStatus.FAILED else "delivery_unknown"
        session.add(
            Event(
                conversation_id=item.conversation_id,
                message_id=item.message_id,
                agent_id=message.agent_id,
                kind=kind,
                at=now,
                data={"outbox_id": item.id, "platform_message_id": platform_id, "error": error,
                      "attempts": item.attempts, "automated": message.automated},
            )
        )
        self._changed.append(item.conversation_id)

    def _announce(self) -> None:
        """Tell live views what changed; called only after the transaction committed."""
        changed, self._changed = self._changed, []
        if changed and self.bus is not None:
            self.bus.publish("conversation.changed", ids=sorted(set(changed)))


class RetryRefused(ValueError):
    """The reply cannot be retried in its current state."""


async def retry_delivery(session, message_id: int, *, agent_id: int | None) -> OutboxItem:  # type: ignore[no-untyped-def]
    """Put a failed or unknown reply back in the queue, with a fresh retry budget."""
    item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    if item is None:
        raise LookupError("no outbound reply with that id")
    if item.state not in (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN):
        raise RetryRefused(f"the reply is {item.state}; only failed or unknown replies can be retried")
    now = utcnow()
    previous = item.state
    item.state = DeliveryStatus.PENDING
    item.attempts = 0
    item.rate_limit_waits = 0
    item.next_attempt_at = now
    item.updated_at = now
    await session.execute(
        update(Message).where(Message.id == message_id).values(delivery_status=DeliveryStatus.PENDING, delivery_error=None)
    )
    session.add(Event(conversation_id=item.conversation_id, message_id=message_id, agent_id=agent_id,
                      kind="retry_requested", at=now, data={"outbox_id": item.id, "previous_state": previous}))
    return item
