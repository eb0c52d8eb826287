"""The sender worker: delivers outbox rows through connectors, honouring rate limits, never twice."""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import ColumnElement, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from social_care.backoff import Backoff, jittered_delay
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
# After this many failed attempts to record an outcome with a database that is up, each further
# attempt is followed by one to record a safe fallback: the failure belongs to this row.
RECORD_TRIES_BEFORE_FALLBACK = 3

Claim = tuple[str, OutboundReply, int]  # outbox id, the reply, channel id


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """The wait before retry number `attempt` under the outbox's policy."""
    return jittered_delay(policy.backoff_base, policy.backoff_cap, attempt)


def _reason(err: BaseException) -> str:
    """A short reason for an error, without SQLAlchemy's statement and parameters (they hold reply text)."""
    orig = getattr(err, "orig", None)
    return f"{type(err).__name__}: {orig if orig is not None else err}"


def _unavailable(err: BaseException) -> bool:
    """Whether a failed write says the database is unavailable (locked, full, unreachable), not that the row is bad."""
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, (OperationalError, InterfaceError, OSError, TimeoutError))


@dataclass(frozen=True)
class _Outcome:
    """What one send found out; recorded until the database takes it."""

    apply: Callable[[AsyncSession, OutboxItem, datetime], Awaitable[None]]
    summary: str  # for logs and the fallback's reason; ids only, never the reply's text
    maybe_sent: bool  # the platform may hold the reply: never send it again blindly


class OutboxSender:
    """Delivers due outbox rows, each in its own task; a row left in flight by a stop becomes `unknown`.

    Sends run concurrently (at most `batch_size` in all and `per_channel` per channel), so a slow call
    holds only its own conversation: a conversation's replies still go out one at a time, in order.
    """

    def __init__(
        self,
        db: Database,
        connectors: Mapping[int, Connector],
        *,
        policy: RetryPolicy = RetryPolicy(),
        bus: Bus | None = None,
        interval: float = 0.5,
        batch_size: int = 20,
        per_channel: int = 4,
        after_delivery: Callable[[AsyncSession, int], Awaitable[None]] | None = None,
    ) -> None:
        if batch_size < 1 or per_channel < 1:
            raise ValueError("batch_size and per_channel must be at least 1")
        self.db = db
        self.connectors = connectors
        self.policy = policy
        self.bus = bus
        self.interval = interval
        self.batch_size = batch_size
        self.per_channel = per_channel
        self.paused_until: dict[int, datetime] = {}
        self.after_delivery = after_delivery
        self._sending: Counter[int] = Counter()  # sends in flight in this process, per channel
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by enqueues and by every finished send (it frees a slot or unblocks a conversation).
        self._wake = bus.wakeup("outbox.enqueued") if bus else asyncio.Event()

    async def recover(self) -> int:
        """Mark rows left in flight by a crash as `unknown`: they may have reached the platform."""
        now = utcnow()
        async with self.db.write() as session:
            stuck = (await session.scalars(select(OutboxItem).where(OutboxItem.in_flight.is_(True)))).all()
            for item in stuck:
                await self._finish(session, item, now, DeliveryStatus.UNKNOWN, error=UNKNOWN_AFTER_CRASH)
        self._announce(item.conversation_id for item in stuck)
        if stuck:
            logger.warning("%d outbox rows were in flight at the last stop; marked unknown", len(stuck))
        return len(stuck)

    async def run(self) -> None:
        """Deliver until cancelled; sends still running are cancelled with it (their rows recover as unknown)."""
        failures = Backoff(self.policy.backoff_base, self.policy.backoff_cap)
        while True:
            try:
                await self.recover()
                break
            except Exception as err:
                logger.warning("outbox recovery failed (%s); retrying", _reason(err),
                               exc_info=not isinstance(err, SQLAlchemyError))
                await asyncio.sleep(failures.next_delay())
        failures.reset()
        try:
            while True:
                try:
                    claimed = await self._claim()
                except Exception as err:
                    logger.warning("outbox claim failed (%s); retrying", _reason(err),
                                   exc_info=not isinstance(err, SQLAlchemyError))
                    await self._sleep(failures.next_delay())
                    continue
                failures.reset()
                for claim in claimed:
                    self._spawn(claim)
                if not claimed:
                    await self._sleep()
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run_once(self) -> int:
        """Attempt every claimable due row once and wait for the outcomes; returns how many attempts were made."""
        claimed = await self._claim()
        await asyncio.gather(*(self._spawn(claim) for claim in claimed))
        return len(claimed)

    def _spawn(self, claim: Claim) -> asyncio.Task[None]:
        channel_id = claim[2]
        self._sending[channel_id] += 1
        task = asyncio.create_task(self._deliver(*claim), name=f"outbox-send-{claim[0]}")
        self._tasks.add(task)
        task.add_done_callback(partial(self._sent, channel_id))
        return task

    def _sent(self, channel_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._sending[channel_id] -= 1
        if self._sending[channel_id] <= 0:
            del self._sending[channel_id]
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("outbox send task %s failed", task.get_name(), exc_info=task.exception())

    def _claimable(self, now: datetime) -> list[ColumnElement[bool]] | None:
        """Conditions on rows this process may start sending; None when no channel can take one now."""
        channels = [
            cid for cid in self.connectors
            if self.paused_until.get(cid, now) <= now and self._sending[cid] < self.per_channel
        ]
        if not channels:
            return None
        # A conversation's replies go out one at a time and in order: not while one of them is in
        # flight (here or in another process), nor ahead of an earlier one still pending (e.g. backing off).
        earlier = aliased(OutboxItem)
        ahead = exists().where(
            earlier.conversation_id == OutboxItem.conversation_id,
            earlier.state == DeliveryStatus.PENDING,
            or_(earlier.in_flight.is_(True), earlier.message_id < OutboxItem.message_id),
        )
        return [
            OutboxItem.state == DeliveryStatus.PENDING,
            OutboxItem.in_flight.is_(False),
            OutboxItem.channel_id.in_(channels),
            ~ahead,
        ]

    async def _sleep(self, delay: float | None = None) -> None:
        if delay is None:
            delay = await self._next_due_in()
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            pass
        self._wake.clear()

    async def _next_due_in(self) -> float:
        """Seconds until a row can be claimed (bounded by the polling interval); wakeups may come sooner."""
        now = utcnow()
        delay = self.interval
        for until in self.paused_until.values():
            if until > now:
                delay = min(delay, (until - now).total_seconds())
        conditions = self._claimable(now)
        if conditions is None:
            return max(0.01, delay)
        try:
            async with self.db.read() as session:
                soonest = await session.scalar(select(func.min(OutboxItem.next_attempt_at)).where(*conditions))
        except Exception as err:
            logger.warning("outbox could not look for due rows (%s)", _reason(err))
            return delay
        if soonest is not None:
            delay = min(delay, (soonest - now).total_seconds())
        return max(0.01, delay)

    async def _claim(self) -> list[Claim]:
        now = utcnow()
        room = self.batch_size - len(self._tasks)
        conditions = self._claimable(now)
        if room <= 0 or conditions is None:
            return []
        async with self.db.write() as session:
            query = (
                select(OutboxItem, Channel.key, Conversation.thread_key)
                .join(Channel, Channel.id == OutboxItem.channel_id)
                .join(Conversation, Conversation.id == OutboxItem.conversation_id)
                .where(*conditions, OutboxItem.next_attempt_at <= now)
                .order_by(OutboxItem.next_attempt_at, OutboxItem.created_at)
                .limit(room)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True, of=OutboxItem)
            rows = (await session.execute(query)).all()
            claimed: list[Claim] = []
            seen_conversations: set[int] = set()
            load = Counter(self._sending)
            for item, channel_key, thread_key in rows:
                if item.conversation_id in seen_conversations or load[item.channel_id] >= self.per_channel:
                    continue
                seen_conversations.add(item.conversation_id)
                load[item.channel_id] += 1
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
        connector = self.connectors.get(channel_id)
        try:
            if connector is None:
                raise TransientError(f"channel {reply.channel_key} is not connected")
            platform_id = await connector.send(reply)
        except RateLimited as err:
            outcome = _Outcome(partial(self._rate_limited, channel_id=channel_id, err=err), "rate limited",
                               maybe_sent=False)
        except TransientError as err:
            if err.maybe_delivered:
                outcome = self._settled(DeliveryStatus.UNKNOWN, maybe_sent=True,
                                        error=f"delivery unknown: {err}; check the platform before retrying")
            else:
                outcome = _Outcome(partial(self._transient, error=str(err)), "not delivered (transient)",
                                   maybe_sent=False)
        except (PlatformError, AuthError) as err:
            outcome = self._settled(DeliveryStatus.FAILED, maybe_sent=False, error=str(err))
        except Exception as err:
            # Our own bug after the request may have left: never guess that it was not sent.
            logger.exception("connector %s crashed while sending outbox %s", reply.channel_key, item_id)
            outcome = self._settled(DeliveryStatus.UNKNOWN, maybe_sent=True,
                                    error=f"delivery unknown: {type(err).__name__}")
        else:
            outcome = self._settled(DeliveryStatus.SENT, maybe_sent=True, platform_id=platform_id)
        await self._record(item_id, outcome)

    def _settled(self, state: DeliveryStatus, *, maybe_sent: bool, error: str | None = None,
                 platform_id: str | None = None) -> _Outcome:
        summary = f"{state} as {platform_id}" if platform_id else str(state)
        apply = partial(self._finish, state=state, error=error, platform_id=platform_id)
        return _Outcome(apply, summary, maybe_sent)

    async def _record(self, item_id: str, outcome: _Outcome) -> None:
        """Record the outcome, retrying while the database fails; the platform's answer is never lost quietly.

        While the database is unavailable this retries (capped backoff) and the row stays in flight,
        so nothing sends it again; if the process stops first, `recover()` marks it unknown at the
        next start. A failure that persists while the database is up records the safe fallback.
        """
        failures = 0
        while True:
            try:
                if await self._write_outcome(item_id, outcome.apply):
                    return
            except Exception as err:
                failures += 1
                logger.warning("recording outbox %s (%s) failed %d time(s): %s", item_id, outcome.summary,
                               failures, _reason(err), exc_info=not isinstance(err, SQLAlchemyError))
                if (failures >= RECORD_TRIES_BEFORE_FALLBACK and not _unavailable(err)
                        and await self._record_fallback(item_id, outcome, err)):
                    return
                await asyncio.sleep(backoff_delay(self.policy, failures))

    async def _record_fallback(self, item_id: str, outcome: _Outcome, err: Exception) -> bool:
        """Record what is safe when the outcome itself cannot be recorded; False when that fails too."""
        if outcome.maybe_sent:
            state = DeliveryStatus.UNKNOWN
            error = (f"delivery unknown: the platform answered ({outcome.summary}) but recording it failed "
                     f"({_reason(err)}); check the conversation on the platform before retrying")
        else:
            state = DeliveryStatus.FAILED
            error = f"not delivered ({outcome.summary}) and recording it failed ({_reason(err)})"
        try:
            return await self._write_outcome(item_id, partial(self._finish, state=state, error=error))
        except Exception as fallback_err:
            logger.warning("recording outbox %s as %s failed too: %s", item_id, state, _reason(fallback_err))
            return False

    async def _write_outcome(self, item_id: str,
                             apply: Callable[[AsyncSession, OutboxItem, datetime], Awaitable[None]]) -> bool:
        """Apply an outcome to the row in one transaction; announce it once committed."""
        async with self.db.write() as session:
            item = await session.get(OutboxItem, item_id)
            if item is None or not item.in_flight:
                # Settled by someone else meanwhile (e.g. a recovery); theirs stands.
                logger.warning("outbox %s was no longer in flight when its outcome came", item_id)
                return True
            await apply(session, item, utcnow())
            settled = item.state != DeliveryStatus.PENDING
            conversation_id = item.conversation_id
        if settled:
            self._announce([conversation_id])
        return True

    async def _rate_limited(self, session: AsyncSession, item: OutboxItem, now: datetime, *,
                            channel_id: int, err: RateLimited) -> None:
        item.rate_limit_waits += 1
        item.attempts -= 1  # the platform did not try, so it costs no attempt
        if err.retry_after is not None:
            wait = min(float(err.retry_after), self.policy.max_retry_after)
        else:
            wait = max(1.0, backoff_delay(self.policy, item.rate_limit_waits))
        if item.rate_limit_waits > self.policy.max_rate_limit_waits:
            await self._finish(session, item, now, DeliveryStatus.FAILED, error=f"rate limited too often: {err}")
            return
        until = now + timedelta(seconds=wait)
        self.paused_until[channel_id] = max(until, self.paused_until.get(channel_id, until))
        item.in_flight = False
        item.next_attempt_at = until
        item.last_error = f"rate limited: {err} (waiting {wait:g} s)"
        item.updated_at = now

    async def _transient(self, session: AsyncSession, item: OutboxItem, now: datetime, *, error: str) -> None:
        if item.attempts >= self.policy.max_attempts:
            await self._finish(session, item, now, DeliveryStatus.FAILED,
                               error=f"{error} (gave up after {item.attempts} attempts)")
            return
        item.in_flight = False
        item.next_attempt_at = now + timedelta(seconds=backoff_delay(self.policy, item.attempts))
        item.last_error = error
        item.updated_at = now

    async def _finish(self, session: AsyncSession, item: OutboxItem, now: datetime, state: DeliveryStatus, *,
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

    def _announce(self, conversation_ids: Iterable[int]) -> None:
        """Tell live views what changed; called only after the transaction committed."""
        changed = sorted(set(conversation_ids))
        if changed and self.bus is not None:
            self.bus.publish("conversation.changed", ids=changed)


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
