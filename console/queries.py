"""The console's read queries: one inbox page with search and filters, and a customer's other threads.

Built on the store's models; everything is paged and ordered in SQL so a session never holds more
than one page. Text search over customer messages uses the store's search index (`social_care.store.text_search`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from social_care.store.models import Agent, Channel, Contact, Conversation, Event, Identity, Message
from social_care.store.text_search import conversations_with_text, like_pattern

SCOPES = ("all", "mine", "unassigned")
STATUSES = ("open", "snoozed", "pending", "resolved", "all")


@dataclass(frozen=True)
class InboxQuery:
    """Which conversations one agent lists; empty values mean any."""

    agent_id: int
    scope: str = "all"
    status: str = "open"
    platform: str | None = None
    queue: str | None = None
    priority: int | None = None
    search: str | None = None
    visible_queues: tuple[str, ...] | None = None  # the role's limit, None for all
    ids: tuple[int, ...] | None = None  # only these conversations


@dataclass(frozen=True)
class InboxItem:
    """One inbox row as plain data."""

    id: int
    platform: str
    channel_name: str
    customer_name: str | None
    handle: str | None
    followers: int | None
    verified: bool | None
    preview: str | None
    last_triage: dict[str, Any]
    last_sentiment_label: str | None
    sentiment: float | None
    public: bool
    queue: str
    status: str
    priority: int
    priority_reasons: list[str]
    waiting_since: datetime | None
    sla_due: datetime | None
    snoozed_until: datetime | None
    assignee_id: int | None
    assignee_name: str | None
    handoff: Handoff | None = None  # the hand-off that put it in its current queue, if a person made one
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Handoff:
    """Who moved a conversation into the queue it is in now, and the note they left for that queue."""

    by: str | None
    from_queue: str | None
    note: str | None


@dataclass(frozen=True)
class PreviousConversation:
    id: int
    platform: str
    status: str
    queue: str
    created_at: datetime
    resolved_at: datetime | None
    preview: str | None


@dataclass(frozen=True)
class Handle:
    platform: str
    channel_name: str
    handle: str | None
    display_name: str | None
    followers: int | None
    verified: bool | None


def _status_clause(status: str, now: datetime) -> ColumnElement[bool] | None:
    snoozed = and_(Conversation.snoozed_until.is_not(None), Conversation.snoozed_until > now)
    if status == "open":
        return and_(Conversation.status == "open", ~snoozed)
    if status == "snoozed":
        return and_(Conversation.status == "open", snoozed)
    if status in ("pending", "resolved"):
        return Conversation.status == status
    return None


def _where(query: Any, where: InboxQuery, now: datetime, dialect: str) -> Any:
    clause = _status_clause(where.status, now)
    if clause is not None:
        query = query.where(clause)
    if where.visible_queues is not None:
        query = query.where(Conversation.queue.in_(where.visible_queues))
    if where.ids is not None:
        query = query.where(Conversation.id.in_(where.ids))
    if where.queue:
        query = query.where(Conversation.queue == where.queue)
    if where.platform:
        query = query.where(Channel.platform == where.platform)
    if where.priority:
        query = query.where(Conversation.priority == where.priority)
    if where.scope == "mine":
        query = query.where(Conversation.assignee_id == where.agent_id)
    elif where.scope == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None))
    if where.search and where.search.strip():
        query = query.where(Conversation.id.in_(_matching(where.search.strip(), dialect)))
    return query


def _matching(term: str, dialect: str) -> Any:
    """Ids of conversations whose customer (name, display name, handle) or customer messages contain `term`.

    Found first, as one set, so the inbox walks its index and tests each row against the set rather than
    running a LIKE per open conversation.
    """
    pattern = like_pattern(term)
    by_contact = (select(Conversation.id).join(Contact, Contact.id == Conversation.contact_id)
                  .where(Contact.name.ilike(pattern, escape="\\")))
    by_identity = (select(Conversation.id).join(Identity, Identity.id == Conversation.identity_id)
                   .where(or_(Identity.display_name.ilike(pattern, escape="\\"),
                              Identity.handle.ilike(pattern, escape="\\"))))
    return union(conversations_with_text(term, dialect), by_contact, by_identity)


def _joined(query: Any) -> Any:
    return (
        query.join(Channel, Channel.id == Conversation.channel_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(Identity, Identity.id == Conversation.identity_id)
    )


def _filtered(query: Any, where: InboxQuery, now: datetime, dialect: str) -> Any:
    if where.platform:
        query = query.join(Channel, Channel.id == Conversation.channel_id)
    return _where(query, where, now, dialect)


async def inbox_page(
    session: AsyncSession, where: InboxQuery, *, now: datetime, limit: int = 50, offset: int = 0
) -> tuple[list[InboxItem], int]:
    """One page, most urgent first, and the total.

    Order: priority; within it, conversations with an SLA by due time, then those without one (oldest
    first). The order is read in segments (priority x has-SLA) so each one walks the inbox index
    (status, priority, sla_due, id) and stops at the page instead of sorting every open conversation,
    and so NULL due times sort last on SQLite and PostgreSQL alike.
    """
    dialect = session.get_bind().dialect.name
    has_due = Conversation.sla_due.is_not(None)
    counted = _filtered(select(Conversation.priority, has_due, func.count()), where, now, dialect).group_by(
        Conversation.priority, has_due)
    segments = sorted(((int(p), bool(due)), int(n)) for p, due, n in await session.execute(counted))
    # has_due True sorts after False in a tuple; the due ones come first within a priority.
    segments.sort(key=lambda item: (item[0][0], not item[0][1]))
    total = sum(n for _, n in segments)
    ids: list[int] = []
    skip = offset
    for (priority, due), count in segments:
        if len(ids) >= limit:
            break
        if skip >= count:
            skip -= count
            continue
        query = _filtered(select(Conversation.id), where, now, dialect).where(Conversation.priority == priority)
        if due:
            query = query.where(has_due).order_by(Conversation.sla_due, Conversation.id)
        else:
            query = query.where(Conversation.sla_due.is_(None)).order_by(Conversation.id)
        ids.extend((await session.scalars(query.limit(limit - len(ids)).offset(skip))).all())
        skip = 0
    if not ids:
        return [], total
    rows = list((await session.execute(
        _joined(select(Conversation, Channel, Contact, Identity, Agent.name))
        .outerjoin(Agent, Agent.id == Conversation.assignee_id)
        .where(Conversation.id.in_(ids))
    )).all())
    position = {cid: index for index, cid in enumerate(ids)}
    rows.sort(key=lambda row: position[row[0].id])
    latest = await _latest_inbound(session, ids)
    handoffs = await _handoffs(session, {row[0].id: row[0].queue for row in rows})
    items = []
    for conversation, channel, contact, identity, assignee_name in rows:
        message = latest.get(conversation.id)
        items.append(
            InboxItem(
                id=conversation.id,
                platform=channel.platform,
                channel_name=channel.name,
                customer_name=identity.display_name or contact.name,
                handle=identity.handle,
                followers=identity.followers,
                verified=identity.verified,
                preview=message.text if message else None,
                last_triage=dict(message.triage or {}) if message else {},
                last_sentiment_label=message.sentiment_label if message else None,
                sentiment=conversation.sentiment,
                public=conversation.public,
                queue=conversation.queue,
                status=conversation.status,
                priority=conversation.priority,
                priority_reasons=list(conversation.priority_reasons or []),
                waiting_since=conversation.waiting_since,
                sla_due=conversation.sla_due,
                snoozed_until=conversation.snoozed_until,
                assignee_id=conversation.assignee_id,
                assignee_name=assignee_name,
                handoff=handoffs.get(conversation.id),
                tags=tuple(conversation.tags or ()),
            )
        )
    return items, total


async def _handoffs(session: AsyncSession, queues: dict[int, str]) -> dict[int, Handoff]:
    """For each conversation, the latest forward into the queue it is in now (none if triage put it there)."""
    if not queues:
        return {}
    rows = await session.execute(
        # `kind || ''` keeps SQLite on the (conversation_id, id) index rather than the kind index.
        select(Event.conversation_id, Event.data, Agent.name).outerjoin(Agent, Agent.id == Event.agent_id)
        .where(Event.conversation_id.in_(list(queues)), Event.kind.concat("") == "forwarded")
        .order_by(Event.id)
    )
    found: dict[int, Handoff] = {}
    for cid, data, name in rows:
        data = data if isinstance(data, dict) else {}
        if cid is None:
            continue
        if data.get("to") == queues[cid]:
            note = data.get("note")
            found[cid] = Handoff(name, data.get("from"), note if isinstance(note, str) and note else None)
        else:
            found.pop(cid, None)  # moved on since: an older hand-off no longer explains the queue
    return found


@dataclass(frozen=True)
class _Latest:
    text: str
    triage: dict[str, Any]
    sentiment_label: str | None


async def _latest_inbound(session: AsyncSession, ids: Sequence[int]) -> dict[int, _Latest]:
    if not ids:
        return {}
    newest = (
        select(func.max(Message.id).label("mid"))
        .where(Message.conversation_id.in_(ids), Message.direction == "inbound")
        .group_by(Message.conversation_id)
        .subquery()
    )
    query = select(Message.conversation_id, func.substr(Message.text, 1, 400), Message.triage,
                   Message.sentiment_label, Message.attachments).where(Message.id.in_(select(newest.c.mid)))
    return {cid: _Latest(text or _attachments(files), triage or {}, label)
            for cid, text, triage, label, files in await session.execute(query)}


def _attachments(files: list[dict[str, Any]] | None) -> str:
    """A text stand-in for a message that is only a photo, a document, a location..."""
    kinds = [str(f.get("kind", "file")) for f in files or [] if isinstance(f, dict)]
    return f"📎 {', '.join(kinds)}" if kinds else ""


async def conversations_of_messages(session: AsyncSession, message_ids: Sequence[int]) -> set[int]:
    """The conversations that `message_ids` belong to."""
    if not message_ids:
        return set()
    found = await session.scalars(select(Message.conversation_id).where(Message.id.in_(list(message_ids))).distinct())
    return set(found.all())


async def urgent_among(session: AsyncSession, ids: Sequence[int], *, visible_queues: tuple[str, ...] | None,
                       now: datetime) -> list[InboxItem]:
    """Of `ids`, the open P1 conversations this agent may see (for the arrival toast)."""
    if not ids:
        return []
    where = InboxQuery(agent_id=0, status="open", priority=1, visible_queues=visible_queues, ids=tuple(ids))
    items, _ = await inbox_page(session, where, now=now, limit=len(ids))
    return items


async def customer_handles(session: AsyncSession, contact_id: int) -> list[Handle]:
    """The customer's identities on every channel."""
    rows = await session.execute(
        select(Identity, Channel).join(Channel, Channel.id == Identity.channel_id)
        .where(Identity.contact_id == contact_id).order_by(Identity.id)
    )
    return [Handle(c.platform, c.name, i.handle, i.display_name, i.followers, i.verified) for i, c in rows]


async def previous_conversations(session: AsyncSession, contact_id: int, exclude: int, *, limit: int = 20
                                 ) -> list[PreviousConversation]:
    """The customer's other conversations on any channel, newest first, with how they ended."""
    rows = (await session.execute(
        select(Conversation, Channel.platform).join(Channel, Channel.id == Conversation.channel_id)
        .where(Conversation.contact_id == contact_id, Conversation.id != exclude)
        .order_by(Conversation.id.desc()).limit(limit)
    )).all()
    latest = await _latest_inbound(session, [c.id for c, _ in rows])
    return [
        PreviousConversation(c.id, platform, c.status, c.queue, c.created_at, c.resolved_at,
                             latest[c.id].text if c.id in latest else None)
        for c, platform in rows
    ]


async def latest_human_reply(session: AsyncSession, conversation_id: int) -> tuple[int, int | None] | None:
    """(message id, agent id) of the newest reply or note written by a person, or None."""
    row = (await session.execute(
        select(Message.id, Message.agent_id)
        .where(Message.conversation_id == conversation_id, Message.direction == "outbound",
               Message.automated.is_(False))
        .order_by(Message.id.desc()).limit(1)
    )).first()
    return (row[0], row[1]) if row else None


async def agent_names(session: AsyncSession, *, roles: Sequence[str]) -> list[tuple[str, str]]:
    """(name, display name) of the active agents with one of `roles`, for the assign menu."""
    rows = await session.execute(
        select(Agent.name, Agent.display_name).where(Agent.active.is_(True), Agent.role.in_(list(roles)))
        .order_by(Agent.name)
    )
    return [(name, display or name) for name, display in rows]
