"""Read models for the inbox and the conversation view, paged and ordered in SQL."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from social_care.store.models import (
    Agent,
    Channel,
    Contact,
    Conversation,
    Event,
    Identity,
    Message,
    OutboxItem,
)

PREVIEW_LENGTH = 200


@dataclass(frozen=True)
class InboxFilter:
    """Which conversations to list; None means any."""

    statuses: tuple[str, ...] | None = ("open",)
    queues: tuple[str, ...] | None = None
    platform: str | None = None
    channel_key: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    channel: Channel
    contact: Contact
    identity: Identity
    assignee: Agent | None
    last_inbound_text: str | None


@dataclass(frozen=True)
class ConversationDetail:
    conversation: Conversation
    channel: Channel
    contact: Contact
    identity: Identity
    assignee: Agent | None
    messages: Sequence[Message]
    outbox: dict[int, OutboxItem]
    agents: dict[int, Agent]
    events: Sequence[Event]
    identities: dict[int, Identity] = field(default_factory=dict)


def _filtered(query: Select, where: InboxFilter) -> Select:  # type: ignore[type-arg]
    if where.statuses is not None:
        query = query.where(Conversation.status.in_(where.statuses))
    if where.queues is not None:
        query = query.where(Conversation.queue.in_(where.queues))
    if where.platform is not None:
        query = query.where(Channel.platform == where.platform)
    if where.channel_key is not None:
        query = query.where(Channel.key == where.channel_key)
    if where.unassigned:
        query = query.where(Conversation.assignee_id.is_(None))
    elif where.assignee_id is not None:
        query = query.where(Conversation.assignee_id == where.assignee_id)
    return query


async def list_conversations(
    session: AsyncSession, where: InboxFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[InboxRow], int]:
    """One page of the inbox, most urgent first (priority, then SLA due, oldest first), and the total."""
    base = select(Conversation.id).join(Channel, Channel.id == Conversation.channel_id)
    total = await session.scalar(select(func.count()).select_from(_filtered(base, where).subquery()))
    query = (
        select(Conversation, Channel, Contact, Identity, Agent)
        .join(Channel, Channel.id == Conversation.channel_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(Identity, Identity.id == Conversation.identity_id)
        .outerjoin(Agent, Agent.id == Conversation.assignee_id)
        .order_by(
            Conversation.priority,
            Conversation.sla_due.is_(None),
            Conversation.sla_due,
            Conversation.waiting_since.is_(None),
            Conversation.waiting_since,
            Conversation.id,
        )
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.execute(_filtered(query, where))).all()
    ids = [row[0].id for row in rows]
    previews: dict[int, str] = {}
    if ids:
        latest = (
            select(Message.conversation_id, func.max(Message.id).label("mid"))
            .where(Message.conversation_id.in_(ids), Message.direction == "inbound")
            .group_by(Message.conversation_id)
            .subquery()
        )
        for conversation_id, text in await session.execute(
            select(latest.c.conversation_id, Message.text).join(Message, Message.id == latest.c.mid)
        ):
            previews[conversation_id] = text[:PREVIEW_LENGTH]
    return [
        InboxRow(conversation, channel, contact, identity, assignee, previews.get(conversation.id))
        for conversation, channel, contact, identity, assignee in rows
    ], int(total or 0)


async def conversation_detail(session: AsyncSession, conversation: Conversation) -> ConversationDetail:
    """The whole thread: messages in order, delivery state of replies, events, and the people involved."""
    channel = await session.get(Channel, conversation.channel_id)
    contact = await session.get(Contact, conversation.contact_id)
    identity = await session.get(Identity, conversation.identity_id)
    assert channel is not None and contact is not None and identity is not None
    assignee = await session.get(Agent, conversation.assignee_id) if conversation.assignee_id else None
    messages = (
        await session.scalars(select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id))
    ).all()
    outbox = {
        item.message_id: item
        for item in (await session.scalars(select(OutboxItem).where(OutboxItem.conversation_id == conversation.id))).all()
    }
    events = (
        await session.scalars(select(Event).where(Event.conversation_id == conversation.id).order_by(Event.id))
    ).all()
    agent_ids = {m.agent_id for m in messages if m.agent_id} | {e.agent_id for e in events if e.agent_id}
    agents = {}
    if agent_ids:
        agents = {a.id: a for a in (await session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))).all()}
    return ConversationDetail(conversation, channel, contact, identity, assignee, messages, outbox, agents, events)
