"""Telegram updates (platform-shaped fixtures) become the records the store expects."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Bot, Update

from connectors.telegram.parse import allowed_updates, parse_update
from social_care.domain import Attachment, ContactSignal, InboundMessage, MessageKind, SignalKind
from social_care.errors import PayloadError
from tests.connectors.telegram.helpers import FIXTURES, fixture

ANNA = "424242424"
SUPERGROUP = -1001987654321


def one(name: str, **kwargs: Any) -> InboundMessage | ContactSignal:
    parsed = parse_update(fixture(name), channel_key="acme", **kwargs)
    assert parsed.ignored is None, parsed.ignored
    assert len(parsed.records) == 1
    return parsed.records[0]


def message(name: str, **kwargs: Any) -> InboundMessage:
    record = one(name, **kwargs)
    assert isinstance(record, InboundMessage)
    return record


def test_private_text_message_is_a_direct_message_from_the_customer() -> None:
    update = fixture("private_text")
    parsed = parse_update(update, channel_key="acme")

    assert parsed.update_id == 731500001
    (record,) = parsed.records
    assert isinstance(record, InboundMessage)
    assert record.platform == "telegram"
    assert record.channel_key == "acme"
    assert record.source_id == f"{ANNA}:17"
    assert record.thread_key == f"chat:{ANNA}"
    assert record.text == "Hello, my order #5521 never arrived"
    assert record.sent_at == datetime(2024, 11, 12, 8, 26, 40, tzinfo=UTC)
    assert record.kind is MessageKind.DIRECT
    assert record.public is False
    assert record.edited_at is None and not record.is_edit
    assert record.in_reply_to is None
    assert record.attachments == ()
    assert record.raw == update
    author = record.author
    assert (author.platform_id, author.name, author.handle, author.language, author.is_bot) == (
        ANNA, "Anna Rossi", "anna_r", "it", False)


def test_reply_points_at_the_quoted_message_in_the_same_chat() -> None:
    record = message("private_reply")
    assert record.in_reply_to == f"{ANNA}:18"
    assert record.text == "Sure, it is RR123456789IT"


def test_edit_keeps_the_message_identity_and_carries_the_edit_time() -> None:
    original = message("private_text")
    edit = message("edited_message")
    assert edit.source_id == original.source_id
    assert edit.sent_at == original.sent_at
    assert edit.edited_at == datetime(2024, 11, 12, 8, 27, 40, tzinfo=UTC)
    assert edit.is_edit
    assert edit.text.endswith("still waiting")


def test_photo_keeps_the_largest_size_and_the_caption_as_text() -> None:
    record = message("photo_caption")
    assert record.text == "The box arrived crushed"
    assert record.attachments == (
        Attachment(kind="photo", file_id="AgACAgQAAxkBAAIBP2c0xS4", size=151020,
                   extra={"file_unique_id": "AQADq7Ex4", "width": 1280, "height": 960}),
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("sticker", "", {"kind": "sticker", "file_id": "CAACAgIAAxkBAAIBQGc0xbStk", "size": 23110,
                         "file_unique_id": "AgADstk", "emoji": "\U0001F621", "set_name": "AngryCats"}),
        ("document", "Here is the invoice", {"kind": "document", "file_id": "BQACAgQAAxkBAAIBQWc0xdoc",
                                             "name": "invoice-5521.pdf", "size": 48213,
                                             "mime_type": "application/pdf", "file_unique_id": "AgADdoc"}),
        ("voice", "", {"kind": "voice", "file_id": "AwACAgQAAxkBAAIBQmc0xvoice", "size": 27840,
                       "mime_type": "audio/ogg", "file_unique_id": "AgADvoice", "duration": 7}),
        ("video", "", {"kind": "video", "file_id": "BAACAgQAAxkBAAIBQ2c0xvid", "name": "unboxing.mp4",
                       "size": 2345678, "mime_type": "video/mp4", "file_unique_id": "AgADvid", "duration": 12,
                       "width": 1280, "height": 720}),
        ("audio", "", {"kind": "audio", "file_id": "CQACAgQAAxkBAAIBRGc0xaud", "name": "jingle.mp3",
                       "size": 2950001, "mime_type": "audio/mpeg", "file_unique_id": "AgADaud", "duration": 184,
                       "performer": "Anna", "title": "Your jingle"}),
        ("location", "", {"kind": "location", "latitude": 45.464211, "longitude": 9.191383}),
        ("contact", "", {"kind": "contact", "name": "Marco Rossi", "phone_number": "+393331234567",
                         "user_id": 515151515}),
    ],
)
def test_media_messages_are_stored_as_attachment_metadata(name: str, text: str, expected: dict[str, Any]) -> None:
    record = message(name)
    assert record.text == text
    assert [a.as_json() for a in record.attachments] == [expected]


def test_service_message_without_content_is_ignored_with_a_reason() -> None:
    parsed = parse_update(fixture("pinned_service_message"), channel_key="acme")
    assert parsed.records == ()
    assert parsed.ignored == "message without text or supported content"


def test_unknown_update_kind_is_ignored_with_its_name() -> None:
    parsed = parse_update(fixture("callback_query"), channel_key="acme")
    assert parsed.records == ()
    assert parsed.ignored == "unhandled update kind: callback_query"
    assert parsed.update_id == 731500019


@pytest.mark.parametrize(
    ("name", "reason"),
    [("group_message", "group message (groups not enabled)"),
     ("group_anonymous_admin", "group message (groups not enabled)"),
     ("channel_post", "channel post (groups not enabled)")],
)
def test_group_and_channel_messages_are_ignored_unless_opted_in(name: str, reason: str) -> None:
    parsed = parse_update(fixture(name), channel_key="acme")
    assert parsed.records == ()
    assert parsed.ignored == reason


def test_group_message_when_opted_in_is_threaded_per_chat_and_private() -> None:
    record = message("group_message", include_groups=True)
    assert record.kind is MessageKind.GROUP
    assert record.public is False
    assert record.thread_key == f"chat:{SUPERGROUP}"
    assert record.source_id == f"{SUPERGROUP}:3301"
    assert (record.author.platform_id, record.author.name, record.author.handle) == ("616161616", "Luca", "luca_b")


def test_anonymous_admin_speaks_as_the_group_not_as_the_placeholder_bot() -> None:
    record = message("group_anonymous_admin", include_groups=True)
    assert record.author.platform_id == str(SUPERGROUP)
    assert record.author.name == "ACME fans"
    assert record.author.is_bot is False


def test_channel_post_when_opted_in_is_authored_by_the_channel() -> None:
    record = message("channel_post", include_groups=True)
    assert record.kind is MessageKind.GROUP
    assert (record.author.platform_id, record.author.name, record.author.handle) == (
        "-1001122334455", "ACME news", "acme_news")


def test_blocking_the_bot_is_a_blocked_signal() -> None:
    record = one("my_chat_member_kicked")
    assert isinstance(record, ContactSignal)
    assert record.kind is SignalKind.BLOCKED
    assert record.author.platform_id == ANNA
    assert record.occurred_at == datetime(2024, 11, 12, 8, 53, 20, tzinfo=UTC)
    assert record.channel_key == "acme"


def test_unblocking_the_bot_is_an_unblocked_signal() -> None:
    record = one("my_chat_member_unblocked")
    assert isinstance(record, ContactSignal)
    assert record.kind is SignalKind.UNBLOCKED


def test_bot_added_to_a_group_is_not_a_customer_signal() -> None:
    parsed = parse_update(fixture("my_chat_member_group_added"), channel_key="acme")
    assert parsed.records == ()
    assert parsed.ignored == "my_chat_member outside a private chat"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(update: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = update
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("name", "mutate", "expected"),
    [
        ("private_text", _set("update_id", _DELETE), "missing field 'update_id'"),
        ("private_text", _set("update_id", "731500001"), "'update_id' must be an integer"),
        ("private_text", _set("update_id", True), "'update_id' must be an integer"),
        ("private_text", _set("message", _DELETE), "carries no content"),
        ("private_text", _set("message", "hello"), "message must be an object"),
        ("private_text", _set("message.chat", _DELETE), "message.chat is missing"),
        ("private_text", _set("message.chat.id", "424242424"), "'id' must be an integer"),
        ("private_text", _set("message.message_id", _DELETE), "missing field 'message_id'"),
        ("private_text", _set("message.date", _DELETE), "missing field 'date'"),
        ("private_text", _set("message.date", 10**15), "not a valid unix time"),
        ("private_text", _set("message.from", _DELETE), "missing field 'from'"),
        ("private_text", _set("message.from.is_bot", "no"), "is_bot must be a boolean"),
        ("private_text", _set("message.text", 42), "'text' must be a string"),
        ("edited_message", _set("edited_message.edit_date", _DELETE), "missing field 'edit_date'"),
        ("private_reply", _set("message.reply_to_message", [18]), "reply_to_message must be an object"),
        ("photo_caption", _set("message.photo", []), "photo must be a non-empty array"),
        ("document", _set("message.document.file_id", _DELETE), "missing field 'file_id'"),
        ("location", _set("message.location.latitude", "45.4"), "'latitude' must be a number"),
        ("my_chat_member_kicked", _set("my_chat_member.new_chat_member", _DELETE), "new_chat_member is missing"),
    ],
)
def test_malformed_updates_raise_payload_error_naming_the_field(
    name: str, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    update = fixture(name)
    mutate(update)
    with pytest.raises(PayloadError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_update(update, channel_key="acme")


@pytest.mark.parametrize("payload", [[], "update", 7, None])
def test_an_update_that_is_not_an_object_is_rejected(payload: Any) -> None:
    with pytest.raises(PayloadError, match="update must be a JSON object"):
        parse_update(payload, channel_key="acme")  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_python_telegram_bot_round_trip_means_the_same(path: Any) -> None:
    # The poller parses what PTB's get_updates hands back (Update -> to_json); it must mean
    # exactly what the webhook parses from the raw JSON.
    raw = json.loads(path.read_text(encoding="utf-8"))
    via_ptb = json.loads(Update.de_json(raw, Bot("123456789:SANDBOX-token")).to_json())
    for groups in (False, True):
        direct = parse_update(raw, channel_key="acme", include_groups=groups)
        polled = parse_update(via_ptb, channel_key="acme", include_groups=groups)
        assert (polled.update_id, polled.ignored) == (direct.update_id, direct.ignored)
        strip = [_without_raw(r) for r in polled.records]
        assert strip == [_without_raw(r) for r in direct.records]


def _without_raw(record: InboundMessage | ContactSignal) -> tuple[Any, ...]:
    fields = [f for f in record.__slots__ if f != "raw"]  # type: ignore[attr-defined]
    return tuple(getattr(record, f) for f in fields)


def test_allowed_updates_ask_for_exactly_what_the_parser_handles() -> None:
    assert allowed_updates() == ["message", "edited_message", "my_chat_member"]
    assert set(allowed_updates(include_groups=True)) == {
        "message", "edited_message", "my_chat_member", "channel_post", "edited_channel_post"}
