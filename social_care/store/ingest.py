"""Store normalized inbound records exactly once, in one transaction, with their cursor."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from social_care.domain import ContactSignal, CursorUpdate, Direction, Inbound, InboundMessage, SignalKind
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.models import (
    Contact,
    Conversation,
    ConversationStatus,
    Cursor,
    Event,
    Identity,
    Message,
    PipelineState,
)
from social_care.store.sanitize import Changes, sanitize
from social_care.store.types import utcnow

logger = logging.getLogger(__name__)

DEFAULT_REOPEN_WINDOW = timedelta(days=7)


@dataclass
class IngestResult:
    """What one call changed: new message ids, duplicates skipped, edits applied, signals."""

    stored: list[int] = field(default_factory=list)
    duplicates: int = 0
    edited: list[int] = field(default_factory=list)
    signals: int = 0
    ignored: int = 0  # of the duplicates: copies or edits of a message from someone other than its author


class Ingestor:
    """The single write path for everything that comes from a platform."""

    def __init__(
        self,
        db: Database,
        channels: ChannelDirectory,
        *,
        reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    ) -> None:
        self.db = db
        self.channels = channels
        self.reopen_window = reopen_window

    async def __call__(self, records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> IngestResult:
        """Store `records` and move `cursor` atomically; redelivered records change nothing."""
        channel_ids = {}
        for record in records:
            channel_ids[(record.platform, record.channel_key)] = await self.channels.id_of(
                record.platform, record.channel_key
            )
        cursor_channel = None
        if cursor is not None:
            cursor_channel = await self.channels.id_of(cursor.platform, cursor.channel_key)
        # Cleaned before the transaction: a value the database refuses would roll back the whole batch,
        # and the platform would deliver it again forever.
        cleaned = [self._sanitized(record) for record in records]

        customers: dict[tuple[int, str], Inbound] = {}
        for record, _ in cleaned:
            channel_id = channel_ids[(record.platform, record.channel_key)]
            customers.setdefault((channel_id, record.author.platform_id), record)

        def transaction(session: Session) -> IngestResult:
            result = IngestResult()
            if self.db.is_postgres and len(customers) > 1:
                # Taken record by record, two batches naming the same customers in different orders
                # (a poller and a webhook, say) would each hold one and wait for the other.
                for channel_id, user_id in sorted(customers):
                    self._identity(session, channel_id, customers[(channel_id, user_id)])
            for record, changes in cleaned:
                channel_id = channel_ids[(record.platform, record.channel_key)]
                if isinstance(record, InboundMessage):
                    self._message(session, channel_id, record, result, changes)
                else:
                    self._signal(session, channel_id, record, result, changes)
            if cursor is not None and cursor_channel is not None:
                self._move_cursor(session, cursor_channel, cursor)
            return result

        return await self.db.run_write(transaction)

    def _identity(self, session: Session, channel_id: int, record: InboundMessage | ContactSignal) -> Identity:
        author = record.author
        query = select(Identity).where(
            Identity.channel_id == channel_id, Identity.platform_user_id == author.platform_id
        )
        if self.db.is_postgres:
            # Serializes concurrent deliveries from the same customer, so the duplicate check
            # that follows sees what a concurrent transaction just committed. NO KEY UPDATE, as the
            # id never changes: a plain FOR UPDATE also blocks the FOR KEY SHARE that PostgreSQL's
            # foreign-key checks take, and the pipeline updating this customer's conversation then
            # waits for us while we wait for it (a deadlock).
            query = query.with_for_update(key_share=True)
        identity = session.scalar(query)
        now = utcnow()
        if identity is None:
            contact = Contact(name=author.name or author.handle, created_at=now, updated_at=now)
            session.add(contact)
            session.flush()
            # ON CONFLICT DO NOTHING waits for a concurrent insert of the same customer to finish;
            # if that one won, ours becomes a no-op and we use theirs.
            inserted = session.scalar(
                self._insert(Identity)
                .values(contact_id=contact.id, channel_id=channel_id, platform_user_id=author.platform_id,
                        is_bot=author.is_bot, blocked=False, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["channel_id", "platform_user_id"])
                .returning(Identity.id)
            )
            if inserted is None:
                session.delete(contact)
            identity = session.scalar(query.execution_options(populate_existing=True))
            assert identity is not None
        profile = {
            "display_name": author.name or identity.display_name,
            "handle": author.handle or identity.handle,
            "followers": identity.followers if author.followers is None else author.followers,
            "verified": identity.verified if author.verified is None else author.verified,
            "is_bot": author.is_bot,
        }
        # Only a changed profile is written; bumping updated_at on every message would add an UPDATE each.
        if any(getattr(identity, key) != value for key, value in profile.items()):
            for key, value in profile.items():
                setattr(identity, key, value)
            identity.updated_at = now
        return identity

    def _insert(self, model: type) -> Any:
        if self.db.is_postgres:
            return pg_insert(model)
        return sqlite_insert(model)

    @staticmethod
    def _sanitized(record: Inbound) -> tuple[Inbound, Changes]:
        cleaned, changes = sanitize(record)
        if changes:
            what = cleaned.source_id if isinstance(cleaned, InboundMessage) else cleaned.author.platform_id
            logger.info("%s %s: %s sanitized before storing (%d change(s))",
                        cleaned.platform, cleaned.channel_key, what, changes.count)
        return cleaned, changes

    def _message(
        self, session: Session, channel_id: int, record: InboundMessage, result: IngestResult, changes: Changes
    ) -> None:
        # Messages are never deleted, so one found before the customer's lock is still there after it.
        existing = self._stored(session, channel_id, record)
        if existing is not None and not self._same_author(existing, record, result):
            return
        identity = self._identity(session, channel_id, record)
        if existing is None and self.db.is_postgres:
            # The lock may have waited for a concurrent delivery of this very message.
            existing = self._stored(session, channel_id, record)
            if existing is not None and not self._same_author(existing, record, result):
                return
        if existing is not None:
            message = existing[0]
            if self._is_newer_edit(message, record):
                self._apply_edit(session, message, record, changes)
                result.edited.append(message.id)
            else:
                result.duplicates += 1
            return
        conversation = self._conversation(session, channel_id, identity, record)
        now = utcnow()
        message = Message(
            conversation_id=conversation.id,
            channel_id=channel_id,
            direction=Direction.INBOUND,
            kind=record.kind,
            platform_message_id=record.source_id,
            identity_id=identity.id,
            text=record.text,
            public=record.public,
            automated=record.author.is_bot,
            in_reply_to=record.in_reply_to,
            attachments=[a.as_json() for a in record.attachments],
            raw=dict(record.raw),
            sent_at=record.sent_at,
            received_at=now,
            edited_at=record.edited_at,
            pipeline_state=PipelineState.PENDING,
        )
        session.add(message)
        session.flush()
        if conversation.last_inbound_at is None or record.sent_at > conversation.last_inbound_at:
            conversation.last_inbound_at = record.sent_at
        if conversation.waiting_since is None:
            conversation.waiting_since = record.sent_at
        conversation.public = conversation.public or record.public
        conversation.updated_at = now
        session.add(
            Event(
                conversation_id=conversation.id,
                message_id=message.id,
                contact_id=identity.contact_id,
                kind="received",
                at=now,
                data={"source_id": record.source_id, "kind": str(record.kind), "sent_at": record.sent_at.isoformat(),
                      "automated": record.author.is_bot, **_sanitized_data(changes)},
            )
        )
        result.stored.append(message.id)

    @staticmethod
    def _stored(session: Session, channel_id: int, record: InboundMessage) -> tuple[Message, str | None] | None:
        """The stored message with the record's platform id, and its author's platform id (None: ours)."""
        row = session.execute(
            select(Message, Identity.platform_user_id)
            .outerjoin(Identity, Identity.id == Message.identity_id)
            .where(Message.channel_id == channel_id, Message.platform_message_id == record.source_id)
        ).first()
        return None if row is None else (row[0], row[1])

    @staticmethod
    def _same_author(existing: tuple[Message, str | None], record: InboundMessage, result: IngestResult) -> bool:
        """Whether `record` comes from the stored message's author; a copy or edit from anyone else is ignored."""
        message, author = existing
        if author == record.author.platform_id:
            return True
        # Only the author can edit a message; another sender with its id is a forgery or a platform bug.
        logger.info("%s %s: %s of message %s (%s) from user %s, not its author; ignored", record.platform,
                    record.channel_key, "edit" if record.is_edit else "copy", message.id, record.source_id,
                    record.author.platform_id)
        result.duplicates += 1
        result.ignored += 1
        return False

    @staticmethod
    def _is_newer_edit(existing: Message, record: InboundMessage) -> bool:
        if record.edited_at is None:
            return False
        if existing.edited_at is not None and record.edited_at <= existing.edited_at:
            return False
        return True

    def _apply_edit(self, session: Session, message: Message, record: InboundMessage, changes: Changes) -> None:
        now = utcnow()
        session.add(
            Event(
                conversation_id=message.conversation_id,
                message_id=message.id,
                kind="edited",
                at=now,
                data={
                    "previous_text": message.text,
                    "previous_attachments": message.attachments,
                    "edited_at": record.edited_at.isoformat() if record.edited_at else None,
                    **_sanitized_data(changes),
                },
            )
        )
        message.text = record.text
        message.attachments = [a.as_json() for a in record.attachments]
        message.edited_at = record.edited_at
        # The new wording is triaged again.
        message.pipeline_state = PipelineState.PENDING

    def _conversation(
        self, session: Session, channel_id: int, identity: Identity, record: InboundMessage
    ) -> Conversation:
        latest = self._by_reply_chain(session, channel_id, record) or session.scalar(
            select(Conversation)
            .where(Conversation.channel_id == channel_id, Conversation.thread_key == record.thread_key)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        now = utcnow()
        if latest is not None:
            if latest.status != ConversationStatus.RESOLVED:
                if latest.status == ConversationStatus.PENDING:
                    session.add(
                        Event(
                            conversation_id=latest.id,
                            kind="status_changed",
                            at=now,
                            data={"from": latest.status, "to": ConversationStatus.OPEN, "by": "customer"},
                        )
                    )
                    latest.status = ConversationStatus.OPEN
                elif latest.snoozed_until is not None and latest.snoozed_until > now:
                    # A snoozed thread is open already: what changes is that it is back in the inbox early.
                    session.add(
                        Event(
                            conversation_id=latest.id,
                            kind="unsnoozed",
                            at=now,
                            data={"until": latest.snoozed_until.isoformat(), "by": "customer"},
                        )
                    )
                latest.snoozed_until = None
                return latest
            if latest.resolved_at is not None and now - latest.resolved_at <= self.reopen_window:
                latest.status = ConversationStatus.OPEN
                latest.resolved_at = None
                latest.waiting_since = None
                session.add(Event(conversation_id=latest.id, kind="reopened", at=now, data={"by": "customer"}))
                return latest
        conversation = Conversation(
            channel_id=channel_id,
            contact_id=identity.contact_id,
            identity_id=identity.id,
            thread_key=record.thread_key,
            status=ConversationStatus.OPEN,
            public=record.public,
            created_at=now,
            updated_at=now,
        )
        session.add(conversation)
        session.flush()
        session.add(
            Event(conversation_id=conversation.id, contact_id=identity.contact_id, kind="created", at=now, data={})
        )
        return conversation

    @staticmethod
    def _by_reply_chain(session: Session, channel_id: int, record: InboundMessage) -> Conversation | None:
        """The conversation of the message this one replies to, when that message is stored.

        Some payloads carry no thread id (X Account Activity tweets have no conversation_id),
        so the reply chain is the thread rule of last resort; it also keeps replies in one thread.
        """
        if record.in_reply_to is None:
            return None
        return session.scalar(
            select(Conversation)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.channel_id == channel_id, Message.platform_message_id == record.in_reply_to)
            .limit(1)
        )

    def _signal(
        self, session: Session, channel_id: int, record: ContactSignal, result: IngestResult, changes: Changes
    ) -> None:
        identity = self._identity(session, channel_id, record)
        blocked = record.kind == SignalKind.BLOCKED
        if identity.blocked == blocked:
            result.duplicates += 1
            return
        identity.blocked = blocked
        conversation_id = session.scalar(
            select(Conversation.id)
            .where(Conversation.identity_id == identity.id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        session.add(
            Event(
                conversation_id=conversation_id,
                contact_id=identity.contact_id,
                kind=str(record.kind),
                at=record.occurred_at,
                data={"platform_user_id": record.author.platform_id, **_sanitized_data(changes)},
            )
        )
        result.signals += 1

    def _move_cursor(self, session: Session, channel_id: int, cursor: CursorUpdate) -> None:
        row = session.get(Cursor, (channel_id, cursor.name))
        if row is None:
            session.add(Cursor(channel_id=channel_id, name=cursor.name, value=cursor.value, updated_at=utcnow()))
        else:
            row.value = cursor.value
            row.updated_at = utcnow()


def _sanitized_data(changes: Changes) -> dict[str, Any]:
    """The `sanitized` entry of an event's data when cleaning changed the record, else nothing."""
    return {"sanitized": changes.as_json()} if changes else {}


async def read_cursor(db: Database, channels: ChannelDirectory, platform: str, channel_key: str, name: str) -> str | None:
    """A poller's stored position, or None before its first batch."""
    channel_id = await channels.id_of(platform, channel_key)
    async with db.read() as session:
        row = await session.get(Cursor, (channel_id, name))
        return row.value if row else None
