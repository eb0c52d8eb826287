"""Turn an agent's reply into a pending message and an outbox row, in the caller's transaction."""
from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from social_care.domain import Direction
from social_care.store.models import Conversation, DeliveryStatus, Event, Identity, Message, OutboxItem
from social_care.store.types import utcnow


async def enqueue_reply(
    session: AsyncSession,
    conversation: Conversation,
    *,
    agent_id: int | None,
    text: str,
    reply_to: Message | None = None,
    mode: str = "private",
    automated: bool = False,
) -> tuple[Message, OutboxItem]:
    """Store the reply as a pending outbound message plus its outbox row."""
    identity = await session.get(Identity, conversation.identity_id)
    assert identity is not None  # conversations always have an identity (FK)
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        direction=Direction.OUTBOUND,
        kind="reply" if reply_to is not None else "direct",
        agent_id=agent_id,
        text=text,
        public=mode == "public",
        automated=automated,
        in_reply_to=reply_to.platform_message_id if reply_to is not None else None,
        sent_at=now,
        received_at=now,
        delivery_status=DeliveryStatus.PENDING,
    )
    session.add(message)
    await session.flush()
    item = OutboxItem(
        id=str(uuid.uuid4()),
        message_id=message.id,
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        recipient_id=identity.platform_user_id,
        reply_to_source_id=message.in_reply_to,
        mode=mode,
        text=text,
        state=DeliveryStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.add(
        Event(
            conversation_id=conversation.id,
            message_id=message.id,
            agent_id=agent_id,
            kind="replied",
            at=now,
            data={"outbox_id": item.id, "mode": mode, "automated": automated},
        )
    )
    conversation.updated_at = now
    return message, item
