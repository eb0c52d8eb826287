"""What agents do to conversations: reply, note, assign, change status, forward; each one an event."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors import PLATFORMS, PlatformInfo
from social_care.domain import Direction
from social_care.outbox.enqueue import enqueue_reply
from social_care.outbox.sender import RetryRefused, retry_delivery
from social_care.permissions import can_assign_others, can_see
from social_care.store.models import (
    Agent,
    Channel,
    Conversation,
    ConversationStatus,
    Event,
    Message,
    OutboxItem,
    Queue,
    TriageLabel,
)
from triage import TriageResult, TriageRules
from triage.corrections import CorrectionError, apply_correction
from triage.corrections import validate as validate_correction
from social_care.store.types import utcnow

MAX_NOTE_LENGTH = 20_000
MAX_TAGS = 10
SUGGESTED_TAGS = ("lead", "praise", "pr", "partnership")  # marketing's vocabulary; free tags are allowed too
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class ActionError(Exception):
    """Base for refusals; `status` is the HTTP status the API answers with."""

    status = 400


class Invalid(ActionError):
    status = 400


class Forbidden(ActionError):
    status = 403


class NotFound(ActionError):
    status = 404


class Conflict(ActionError):
    status = 409


@dataclass(frozen=True)
class ReplyOutcome:
    message: Message
    outbox: OutboxItem


async def load_conversation(session: AsyncSession, agent: Agent, conversation_id: int, *, lock: bool = False) -> Conversation:
    """The conversation if it exists and the agent may see it (404 otherwise, so ids do not leak)."""
    query = select(Conversation).where(Conversation.id == conversation_id)
    if lock and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    conversation = await session.scalar(query)
    if conversation is None or not can_see(agent, conversation):
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation


def _event(session: AsyncSession, conversation: Conversation, agent: Agent, kind: str, *,
           message_id: int | None = None, **data: object) -> None:
    now = utcnow()
    # The message goes in its indexed column, which the metrics replay reads, and stays in `data` for readers
    # of the log that already use it there.
    if message_id is not None:
        data = {"message_id": message_id, **data}
    session.add(Event(conversation_id=conversation.id, message_id=message_id, agent_id=agent.id, kind=kind, at=now,
                      data=dict(data)))
    conversation.updated_at = now


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise Invalid(f"{what} is {len(value)} characters; the limit here is {limit}")
    # Neither database stores these, and no platform would deliver them: refused whatever the caller.
    if "\x00" in value:
        raise Invalid(f"{what} contains a NUL character")
    if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value):
        raise Invalid(f"{what} contains a lone UTF-16 surrogate")
    return value


DEFAULT_DM_INVITATION = "We've sent you a direct message so we can look into this privately."


def _check_length(info: PlatformInfo | None, text: str, what: str, *, public: bool) -> None:
    limit = (info.public_reply_length if public and info and info.public_reply_length else
             info.max_reply_length if info else 4096)
    length = info.measure(text) if info else len(text)
    if length > limit:
        where = f"a public reply on {info.title}" if public and info else (info.title if info else "this channel")
        raise Invalid(f"{what} is {length} characters as {where} counts them; the limit is {limit}")


async def _public_target(session: AsyncSession, conversation: Conversation, reply_to: Message | None) -> Message:
    if reply_to is not None:
        if not reply_to.public:
            raise Invalid("a public reply must answer a public message")
        return reply_to
    latest = await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND,
               Message.public.is_(True))
        .order_by(Message.id.desc())
        .limit(1)
    )
    if latest is None:
        raise Invalid("there is no public message to reply to in this conversation")
    return latest


async def reply(
    session: AsyncSession,
    agent: Agent,
    conversation_id: int,
    text: object,
    *,
    reply_to_message_id: object = None,
    mode: object = "private",
    public_text: object = None,
) -> ReplyOutcome:
    """Queue a reply to the customer through the outbox.

    Modes: "private" (a DM or chat message), "public" (a reply in the public thread), and
    "move_to_dm" (a public reply inviting the customer to DMs, then `text` as a DM).
    """
    conversation = await load_conversation(session, agent, conversation_id, lock=True)
    platform = await session.scalar(select(Channel.platform).where(Channel.id == conversation.channel_id))
    info = PLATFORMS.get(platform or "")
    modes = info.reply_modes if info else ("private",)
    if mode not in modes:
        raise Invalid(f"mode must be one of {', '.join(modes)} on {info.title if info else platform}")
    body = _text(text, "reply text", 100_000)
    _check_length(info, body, "the reply", public=mode == "public")
    reply_to = None
    if reply_to_message_id is not None:
        if not isinstance(reply_to_message_id, int) or isinstance(reply_to_message_id, bool):
            raise Invalid("reply_to_message_id must be an integer")
        reply_to = await session.get(Message, reply_to_message_id)
        if reply_to is None or reply_to.conversation_id != conversation.id or reply_to.direction != Direction.INBOUND:
            raise Invalid("reply_to_message_id must name a customer message of this conversation")
    if mode == "public":
        reply_to = await _public_target(session, conversation, reply_to)
    if mode == "move_to_dm":
        invitation = DEFAULT_DM_INVITATION if public_text is None else _text(public_text, "public_text", 100_000)
        _check_length(info, invitation, "the public invitation", public=True)
        target = await _public_target(session, conversation, reply_to)
        await enqueue_reply(session, conversation, agent_id=agent.id, text=invitation, reply_to=target, mode="public")
        message, item = await enqueue_reply(session, conversation, agent_id=agent.id, text=body, mode="private")
        return ReplyOutcome(message, item)
    message, item = await enqueue_reply(
        session, conversation, agent_id=agent.id, text=body, reply_to=reply_to, mode=str(mode)
    )
    return ReplyOutcome(message, item)


async def add_note(session: AsyncSession, agent: Agent, conversation_id: int, text: object) -> Message:
    """An internal note: visible to the team, never sent to the customer."""
    conversation = await load_conversation(session, agent, conversation_id)
    body = _text(text, "note text", MAX_NOTE_LENGTH)
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction=Direction.NOTE,
        kind="note",
        agent_id=agent.id,
        text=body,
        sent_at=now,
        received_at=now,
    )
    session.add(message)
    await session.flush()
    session.add(Event(conversation_id=conversation.id, message_id=message.id, agent_id=agent.id, kind="noted", at=now, data={}))
    conversation.updated_at = now
    return message


async def assign(
    session: AsyncSession, agent: Agent, conversation_id: int, assignee_name: object, *, force: bool = False
) -> Conversation:
    """Assign to an agent by name (None unassigns); taking someone else's conversation needs a supervisor."""
    conversation = await load_conversation(session, agent, conversation_id, lock=True)
    target: Agent | None = None
    if assignee_name is not None:
        if not isinstance(assignee_name, str):
            raise Invalid("assignee must be an agent name or null")
        target = await session.scalar(select(Agent).where(Agent.name == assignee_name, Agent.active.is_(True)))
        if target is None:
            raise Invalid(f"no active agent named {assignee_name!r}")
        if not can_see(target, conversation):
            raise Invalid(f"{assignee_name} cannot see this conversation's queue")
    if target is not None and target.id != agent.id and not can_assign_others(agent):
        raise Forbidden("only managers and admins assign conversations to someone else")
    if conversation.assignee_id == (target.id if target else None):
        return conversation
    if conversation.assignee_id is not None and conversation.assignee_id != agent.id and not can_assign_others(agent):
        current = await session.get(Agent, conversation.assignee_id)
        raise Conflict(f"already assigned to {current.name if current else 'someone else'}")
    if conversation.assignee_id is not None and conversation.assignee_id != agent.id and not force:
        current = await session.get(Agent, conversation.assignee_id)
        raise Conflict(f"already assigned to {current.name if current else 'someone else'}; pass force to reassign")
    previous = conversation.assignee_id
    conversation.assignee_id = target.id if target else None
    _event(session, conversation, agent, "assigned" if target else "unassigned",
           assignee=target.name if target else None, previous_assignee_id=previous)
    return conversation


async def set_status(session: AsyncSession, agent: Agent, conversation_id: int, status: object) -> Conversation:
    """Resolve, reopen, or mark a conversation pending (waiting for the customer)."""
    conversation = await load_conversation(session, agent, conversation_id, lock=True)
    if not isinstance(status, str) or status not in {s.value for s in ConversationStatus}:
        raise Invalid("status must be one of open, pending, resolved")
    if conversation.status == status:
        raise Conflict(f"the conversation is already {status}")
    previous = conversation.status
    now = utcnow()
    conversation.status = str(status)
    conversation.snoozed_until = None
    if status == ConversationStatus.RESOLVED:
        conversation.resolved_at = now
        kind = "resolved"
    elif previous == ConversationStatus.RESOLVED:
        conversation.resolved_at = None
        kind = "reopened"
    else:
        kind = "status_changed"
    _event(session, conversation, agent, kind, **{"from": previous, "to": status})
    return conversation


async def forward(
    session: AsyncSession, agent: Agent, conversation_id: int, queue: object, note: object = None
) -> Conversation:
    """Move a conversation to another queue (e.g. marketing) with an optional note for them."""
    conversation = await load_conversation(session, agent, conversation_id, lock=True)
    if not isinstance(queue, str) or queue not in {q.value for q in Queue}:
        raise Invalid("queue must be one of support, marketing, other")
    if conversation.queue == queue:
        raise Conflict(f"the conversation is already in {queue}")
    note_text = None
    if note is not None:
        note_text = _text(note, "note", MAX_NOTE_LENGTH)
    previous = conversation.queue
    conversation.queue = str(queue)
    conversation.queue_locked = True
    _event(session, conversation, agent, "forwarded", **{"from": previous, "to": queue, "note": note_text})
    if note_text:
        now = utcnow()
        session.add(Message(conversation_id=conversation.id, channel_id=conversation.channel_id,
                            direction=Direction.NOTE, kind="note", agent_id=agent.id,
                            text=note_text, sent_at=now, received_at=now))
    return conversation


async def snooze(session: AsyncSession, agent: Agent, conversation_id: int, until: object, *,
                 now: datetime | None = None) -> Conversation:
    """Hide a conversation until `until` (aware, in the future); a customer message wakes it earlier."""
    now = now or utcnow()
    if not isinstance(until, datetime):
        raise Invalid("until must be a date and time")
    if until.tzinfo is None or until.utcoffset() is None:
        raise Invalid("the snooze time needs a time zone")
    if until <= now:
        raise Invalid("snooze until a time in the future")
    conversation = await load_conversation(session, agent, conversation_id, lock=True)
    if conversation.status == ConversationStatus.RESOLVED:
        raise Conflict("a resolved conversation cannot be snoozed; reopen it first")
    conversation.status = ConversationStatus.OPEN.value
    conversation.snoozed_until = until
    session.add(Event(conversation_id=conversation.id, agent_id=agent.id, kind="snoozed", at=now,
                      data={"until": until.isoformat()}))
    conversation.updated_at = now
    return conversation


def clean_tags(tags: object) -> list[str]:
    """A list of lowercase slugs, at most 10, duplicates dropped, in the order given."""
    if not isinstance(tags, list):
        raise Invalid("tags must be a list of strings")
    clean: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag):
            shown = repr(tag)[:40]
            raise Invalid(f"tag {shown} is not a lowercase slug: a-z or 0-9 first, then a-z, 0-9, _ or -, "
                          f"32 characters at most (e.g. {', '.join(SUGGESTED_TAGS)})")
        if tag not in clean:
            clean.append(tag)
    if len(clean) > MAX_TAGS:
        raise Invalid(f"{len(clean)} tags; a conversation has at most {MAX_TAGS}")
    return clean


async def tag(session: AsyncSession, agent: Agent, conversation_id: int, tags: object) -> Conversation:
    """Replace a conversation's tags (marketing: only on marketing threads, as it sees no others)."""
    clean = clean_tags(tags)
    conversation = await load_conversation(session, agent, conversation_id, lock=True)
    previous = list(conversation.tags or [])
    added = [t for t in clean if t not in previous]
    removed = [t for t in previous if t not in clean]
    if clean == previous:
        return conversation
    conversation.tags = clean
    _event(session, conversation, agent, "tagged", added=added, removed=removed, tags=clean)
    return conversation


async def retry_reply(session: AsyncSession, agent: Agent, message_id: int) -> OutboxItem:
    """Queue a failed or unknown reply again, with a fresh retry budget (404 if the agent cannot see it)."""
    message = await session.get(Message, message_id)
    conversation = await session.get(Conversation, message.conversation_id) if message else None
    if message is None or conversation is None or not can_see(agent, conversation):
        raise NotFound(f"message {message_id} not found")
    try:
        return await retry_delivery(session, message_id, agent_id=agent.id)
    except LookupError as err:
        raise NotFound(str(err)) from err
    except RetryRefused as err:
        raise Conflict(str(err)) from err


def require_fields(body: Mapping[str, object], *names: str) -> None:
    """Raise Invalid naming the first missing field."""
    for name in names:
        if name not in body:
            raise Invalid(f"missing field: {name}")


async def correct_triage(
    session: AsyncSession, agent: Agent, message_id: int, changes: Mapping[str, object], rules: TriageRules
) -> Message:
    """Store an agent's correction of a customer message's queue or flags as a label, and apply it."""
    message = await session.get(Message, message_id)
    conversation = await session.get(Conversation, message.conversation_id) if message else None
    if message is None or conversation is None or not can_see(agent, conversation):
        raise NotFound(f"message {message_id} not found")
    if message.direction != Direction.INBOUND:
        raise Invalid("only customer messages have a triage to correct")
    if not message.triage:
        raise Conflict("this message has not been triaged yet")
    try:
        clean = validate_correction(changes)
        corrected = apply_correction(TriageResult.from_json(message.triage), clean, rules, public=message.public)
    except CorrectionError as err:
        raise Invalid(str(err)) from err
    previous = {key: message.triage.get(key) for key in clean}
    session.add(TriageLabel(message_id=message.id, agent_id=agent.id, labels=clean, created_at=utcnow()))
    message.triage = {**corrected.as_json(), "corrected_by": agent.name}
    if "queue" in clean:
        # The agent's word on the queue stands, even when it agrees with triage.
        conversation.queue = clean["queue"]
        conversation.queue_locked = True
    _event(session, conversation, agent, "triage_corrected", message_id=message.id, changes=clean, previous=previous,
           priority=corrected.priority, queue=corrected.queue, public_complaint=corrected.public_complaint)
    return message
