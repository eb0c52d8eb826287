"""Platform-neutral records that cross the boundary between connectors and the store."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


class MessageKind(enum.StrEnum):
    """How the customer reached the brand; decides threading and whether it is public."""

    DIRECT = "direct"
    MENTION = "mention"
    REPLY = "reply"
    COMMENT = "comment"
    GROUP = "group"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"


class SignalKind(enum.StrEnum):
    """Things a customer does that are not messages but belong in the timeline."""

    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of a file the customer sent; the bytes stay on the platform."""

    kind: str  # photo, sticker, document, voice, video, audio, location, ...
    file_id: str | None = None
    name: str | None = None
    size: int | None = None
    mime_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for key in ("file_id", "name", "size", "mime_type"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.extra:
            data.update(self.extra)
        return data


@dataclass(frozen=True, slots=True)
class Author:
    """The customer as the platform describes them."""

    platform_id: str
    name: str | None = None
    handle: str | None = None
    followers: int | None = None
    verified: bool | None = None
    is_bot: bool = False
    language: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message, normalized; (platform, channel_key, source_id) is its identity."""

    platform: str
    channel_key: str
    source_id: str
    thread_key: str
    author: Author
    text: str
    sent_at: datetime
    kind: MessageKind = MessageKind.DIRECT
    public: bool = False
    in_reply_to: str | None = None
    attachments: tuple[Attachment, ...] = ()
    edited_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_edit(self) -> bool:
        return self.edited_at is not None


@dataclass(frozen=True, slots=True)
class ContactSignal:
    """A non-message event from a customer, such as blocking the bot."""

    platform: str
    channel_key: str
    author: Author
    kind: SignalKind
    occurred_at: datetime
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CursorUpdate:
    """A poller's position, stored in the same transaction as the messages it covers."""

    platform: str
    channel_key: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class OutboundReply:
    """What a connector needs to deliver one reply from the outbox."""

    outbox_id: str
    channel_key: str
    recipient_id: str  # the platform's id of the chat / user / thread to write to
    text: str
    reply_to_source_id: str | None = None
    mode: str = "private"  # "private" or "public" where the platform has both
    thread_key: str | None = None  # the conversation's thread, as the connector's parser made it


Inbound = InboundMessage | ContactSignal
