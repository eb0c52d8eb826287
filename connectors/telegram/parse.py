"""Telegram Bot API updates -> InboundMessage / ContactSignal records (pure, no I/O)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from social_care.domain import (
    Attachment,
    Author,
    ContactSignal,
    Inbound,
    InboundMessage,
    MessageKind,
    SignalKind,
)
from social_care.errors import PayloadError

PLATFORM = "telegram"

MESSAGE_KINDS = ("message", "edited_message")
CHANNEL_KINDS = ("channel_post", "edited_channel_post")
SIGNAL_KINDS = ("my_chat_member",)
KNOWN_KINDS = (*MESSAGE_KINDS, *CHANNEL_KINDS, *SIGNAL_KINDS)
GROUP_CHAT_TYPES = ("group", "supergroup", "channel")


def allowed_updates(*, include_groups: bool = False) -> list[str]:
    """The update kinds this connector asks Telegram for (getUpdates / setWebhook)."""
    kinds = [*MESSAGE_KINDS, *SIGNAL_KINDS]
    if include_groups:
        kinds += CHANNEL_KINDS
    return kinds


@dataclass(frozen=True, slots=True)
class ParsedUpdate:
    """What one update means for the store: records to ingest, or the reason it was ignored."""

    update_id: int
    records: tuple[Inbound, ...] = ()
    ignored: str | None = None


def parse_update(update: Mapping[str, Any], *, channel_key: str, include_groups: bool = False) -> ParsedUpdate:
    """Normalize one Telegram `Update` object; raises PayloadError when it is malformed."""
    if not isinstance(update, Mapping):
        raise PayloadError("update must be a JSON object")
    update_id = _int(update, "update_id", "update")
    kinds = [key for key in update if key != "update_id"]
    if not kinds:
        raise PayloadError(f"update {update_id} carries no content")
    # An Update has exactly one optional field set (https://core.telegram.org/bots/api#update);
    # prefer a kind we know in case a future API version adds top-level fields.
    kind = next((key for key in KNOWN_KINDS if key in update), kinds[0])
    body = update[kind]
    if kind in MESSAGE_KINDS or kind in CHANNEL_KINDS:
        return _message(update, update_id, kind, body, channel_key, include_groups)
    if kind == "my_chat_member":
        return _chat_member(update, update_id, body, channel_key)
    return ParsedUpdate(update_id, ignored=f"unhandled update kind: {_shown(kind)}")


def _message(
    update: Mapping[str, Any],
    update_id: int,
    kind: str,
    msg: Any,
    channel_key: str,
    include_groups: bool,
) -> ParsedUpdate:
    where = f"update {update_id}: {kind}"
    msg = _mapping(msg, where)
    message_id = _int(msg, "message_id", where)
    chat = _mapping(msg.get("chat"), f"{where}.chat")
    chat_id = _int(chat, "id", f"{where}.chat")
    chat_type = _str(chat, "type", f"{where}.chat")
    if chat_type == "private":
        message_kind = MessageKind.DIRECT
    elif chat_type in GROUP_CHAT_TYPES:
        if not include_groups:
            label = "channel post" if chat_type == "channel" else "group message"
            return ParsedUpdate(update_id, ignored=f"{label} (groups not enabled)")
        message_kind = MessageKind.GROUP
    else:
        return ParsedUpdate(update_id, ignored=f"unsupported chat type: {_shown(chat_type)}")

    attachments = _attachments(msg, where)
    text = _opt_str(msg, "text", where) or _opt_str(msg, "caption", where) or ""
    if not text and not attachments:
        return ParsedUpdate(update_id, ignored=f"{kind} without text or supported content")

    edited_at = None
    if kind.startswith("edited_"):
        edited_at = _timestamp(msg, "edit_date", where)
    in_reply_to = None
    reply = msg.get("reply_to_message")
    if reply is not None:
        reply_id = _int(_mapping(reply, f"{where}.reply_to_message"), "message_id", f"{where}.reply_to_message")
        in_reply_to = f"{chat_id}:{reply_id}"

    record = InboundMessage(
        platform=PLATFORM,
        channel_key=channel_key,
        source_id=f"{chat_id}:{message_id}",
        thread_key=f"chat:{chat_id}",
        author=_message_author(msg, chat, where),
        text=text,
        sent_at=_timestamp(msg, "date", where),
        kind=message_kind,
        public=False,
        in_reply_to=in_reply_to,
        attachments=attachments,
        edited_at=edited_at,
        raw=update,
    )
    return ParsedUpdate(update_id, records=(record,))


def _message_author(msg: Mapping[str, Any], chat: Mapping[str, Any], where: str) -> Author:
    # Anonymous group admins and channel posts speak as a chat; `from` is then a placeholder
    # bot or absent (https://core.telegram.org/bots/api#message, sender_chat).
    sender_chat = msg.get("sender_chat")
    if sender_chat is not None:
        return _chat_author(_mapping(sender_chat, f"{where}.sender_chat"), f"{where}.sender_chat")
    sender = msg.get("from")
    if sender is None:
        if chat.get("type") == "channel":
            return _chat_author(chat, f"{where}.chat")
        raise PayloadError(f"{where}: missing field 'from'")
    return _user(sender, f"{where}.from")


def _user(value: Any, where: str) -> Author:
    user = _mapping(value, where)
    user_id = _int(user, "id", where)
    names = [_opt_str(user, "first_name", where), _opt_str(user, "last_name", where)]
    name = " ".join(n for n in names if n) or None
    is_bot = user.get("is_bot", False)
    if not isinstance(is_bot, bool):
        raise PayloadError(f"{where}.is_bot must be a boolean")
    return Author(
        platform_id=str(user_id),
        name=name,
        handle=_opt_str(user, "username", where),
        is_bot=is_bot,
        language=_opt_str(user, "language_code", where),
    )


def _chat_author(chat: Mapping[str, Any], where: str) -> Author:
    return Author(
        platform_id=str(_int(chat, "id", where)),
        name=_opt_str(chat, "title", where),
        handle=_opt_str(chat, "username", where),
    )


def _attachments(msg: Mapping[str, Any], where: str) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if "photo" in msg:
        sizes = msg["photo"]
        if not isinstance(sizes, list) or not sizes:
            raise PayloadError(f"{where}.photo must be a non-empty array")
        photos = [_mapping(size, f"{where}.photo[]") for size in sizes]
        # Telegram sends every thumbnail size; the largest is the one a person would open.
        best = max(photos, key=lambda p: _area(p, f"{where}.photo[]"))
        found.append(_file("photo", best, f"{where}.photo", extra_keys=("width", "height")))
    if "sticker" in msg:
        found.append(_file("sticker", msg["sticker"], f"{where}.sticker", extra_keys=("emoji", "set_name")))
    if "document" in msg:
        found.append(_file("document", msg["document"], f"{where}.document"))
    if "voice" in msg:
        found.append(_file("voice", msg["voice"], f"{where}.voice", extra_keys=("duration",)))
    if "video" in msg:
        found.append(_file("video", msg["video"], f"{where}.video", extra_keys=("duration", "width", "height")))
    if "video_note" in msg:
        found.append(_file("video_note", msg["video_note"], f"{where}.video_note", extra_keys=("duration",)))
    if "audio" in msg:
        found.append(_file("audio", msg["audio"], f"{where}.audio", extra_keys=("duration", "performer", "title")))
    if "location" in msg:
        location = _mapping(msg["location"], f"{where}.location")
        coordinates = {key: _number(location, key, f"{where}.location") for key in ("latitude", "longitude")}
        found.append(Attachment(kind="location", extra=coordinates))
    if "contact" in msg:
        contact = _mapping(msg["contact"], f"{where}.contact")
        names = [_opt_str(contact, "first_name", f"{where}.contact"), _opt_str(contact, "last_name", f"{where}.contact")]
        extra: dict[str, Any] = {"phone_number": _str(contact, "phone_number", f"{where}.contact")}
        if (user_id := _opt_int(contact, "user_id", f"{where}.contact")) is not None:
            extra["user_id"] = user_id
        found.append(Attachment(kind="contact", name=" ".join(n for n in names if n) or None, extra=extra))
    return tuple(found)


def _area(photo: Mapping[str, Any], where: str) -> tuple[int, int]:
    width = _opt_int(photo, "width", where) or 0
    height = _opt_int(photo, "height", where) or 0
    return width * height, _opt_int(photo, "file_size", where) or 0


def _file(kind: str, value: Any, where: str, *, extra_keys: tuple[str, ...] = ()) -> Attachment:
    obj = _mapping(value, where)
    extra = {key: obj[key] for key in ("file_unique_id", *extra_keys) if obj.get(key) is not None}
    return Attachment(
        kind=kind,
        file_id=_str(obj, "file_id", where),
        name=_opt_str(obj, "file_name", where),
        size=_opt_int(obj, "file_size", where),
        mime_type=_opt_str(obj, "mime_type", where),
        extra=extra,
    )


def _chat_member(update: Mapping[str, Any], update_id: int, body: Any, channel_key: str) -> ParsedUpdate:
    where = f"update {update_id}: my_chat_member"
    body = _mapping(body, where)
    chat = _mapping(body.get("chat"), f"{where}.chat")
    if _str(chat, "type", f"{where}.chat") != "private":
        return ParsedUpdate(update_id, ignored="my_chat_member outside a private chat")
    old = _str(_mapping(body.get("old_chat_member"), f"{where}.old_chat_member"), "status", f"{where}.old_chat_member")
    new = _str(_mapping(body.get("new_chat_member"), f"{where}.new_chat_member"), "status", f"{where}.new_chat_member")
    # In a private chat "kicked" means the user blocked the bot, and "member" after "kicked"
    # means they unblocked it (https://core.telegram.org/bots/api#chatmemberbanned).
    if new == "kicked":
        kind = SignalKind.BLOCKED
    elif new == "member" and old == "kicked":
        kind = SignalKind.UNBLOCKED
    else:
        return ParsedUpdate(update_id, ignored=f"my_chat_member {_shown(old)} -> {_shown(new)}")
    signal = ContactSignal(
        platform=PLATFORM,
        channel_key=channel_key,
        author=_user(body.get("from"), f"{where}.from"),
        kind=kind,
        occurred_at=_timestamp(body, "date", where),
        raw=update,
    )
    return ParsedUpdate(update_id, records=(signal,))


def _shown(value: str) -> str:
    # Names from the payload end up in answers and logs: short, and printable whatever they contain.
    return value[:64].encode("ascii", "backslashreplace").decode("ascii")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        raise PayloadError(f"{where} is missing")
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be an object")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if value is None:
        raise PayloadError(f"{where}: missing field '{key}'")
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{where}: field '{key}' must be an integer")
    return value


def _opt_int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if obj.get(key) is None else _int(obj, key, where)


def _number(obj: Mapping[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if value is None:
        raise PayloadError(f"{where}: missing field '{key}'")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PayloadError(f"{where}: field '{key}' must be a number")
    try:
        return float(value)
    except OverflowError:
        # An integer too large for a float; like NaN, the store replaces it rather than refuse the message.
        return math.inf if value > 0 else -math.inf


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        raise PayloadError(f"{where}: missing field '{key}'")
    if not isinstance(value, str):
        raise PayloadError(f"{where}: field '{key}' must be a string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _str(obj, key, where)


def _timestamp(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    seconds = _int(obj, key, where)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise PayloadError(f"{where}: field '{key}' is not a valid unix time") from err
