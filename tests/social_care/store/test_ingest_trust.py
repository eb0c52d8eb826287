"""Ingest trusts only what it should: edits only from the author, storable values only, honest timeline events."""
from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.telegram.parse import parse_update
from connectors.x.parse import ParseContext, parse_activity
from social_care.domain import Attachment, Author, InboundMessage
from social_care.store.models import Conversation, Event, Identity, Message
from social_care.store.types import utcnow
from tests.social_care.conftest import T0, Store, customer_message

TELEGRAM_FIXTURES = Path(__file__).parents[2] / "connectors" / "telegram" / "fixtures"
X_FIXTURES = Path(__file__).parents[2] / "connectors" / "x" / "fixtures"


def load(directory: Path, name: str) -> dict[str, Any]:
    return json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))


async def stored(store: Store, source_id: str) -> Message:
    async with store.db.read() as session:
        message = await session.scalar(select(Message).where(Message.platform_message_id == source_id))
    assert message is not None
    return message


async def events(store: Store, kind: str) -> list[Event]:
    async with store.db.read() as session:
        return list(await session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


# --- an edit must come from the message's author --------------------------------------------------


async def test_an_edit_from_someone_else_leaves_the_message_alone(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.ingest([customer_message(1, chat=42, text="my real complaint")])
    forged = InboundMessage(
        platform="telegram", channel_key="acme", source_id="42:1", thread_key="chat:42",
        author=Author(platform_id="666", name="Mallory"), text="I withdraw my complaint, all good",
        sent_at=T0, edited_at=T0 + timedelta(hours=1), raw={"forged": True},
    )
    caplog.set_level(logging.INFO, logger="social_care.store.ingest")

    result = await store.ingest([forged])

    assert result.edited == [] and result.ignored == 1
    message = await stored(store, "42:1")
    assert message.text == "my real complaint" and message.edited_at is None
    assert await events(store, "edited") == []
    async with store.db.read() as session:  # nothing was created for the forger either
        assert [i.platform_user_id for i in await session.scalars(select(Identity))] == ["42"]
    (line,) = [r for r in caplog.records if "not its author" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert "withdraw" not in line.getMessage() and "Mallory" not in line.getMessage()  # ids only
    # The author's own edit still applies.
    own = customer_message(1, chat=42, text="my real complaint, edited", edited_at=T0 + timedelta(hours=2))
    assert (await store.ingest([own])).edited == [message.id]


async def test_a_telegram_edit_from_another_user_is_ignored(store: Store) -> None:
    original = load(TELEGRAM_FIXTURES, "private_text")
    edit = load(TELEGRAM_FIXTURES, "edited_message")
    edit["edited_message"]["message_id"] = original["message"]["message_id"]
    edit["edited_message"]["chat"] = copy.deepcopy(original["message"]["chat"])
    edit["edited_message"]["from"] = {"id": 31337, "is_bot": False, "first_name": "Mallory"}
    edit["edited_message"]["text"] = "forged words"
    for update in (original, edit):
        await store.ingest(parse_update(update, channel_key="acme").records)

    chat = original["message"]["chat"]["id"]
    message = await stored(store, f"{chat}:{original['message']['message_id']}")
    assert message.text == original["message"]["text"]
    assert await events(store, "edited") == []


async def test_an_x_edit_from_another_account_is_ignored(store: Store) -> None:
    await store.channels.register("x", "acme", "ACME on X")
    ctx = ParseContext(channel_key="acme", brand_id="1000")
    original = load(X_FIXTURES, "aaa_tweet_create")
    tweet = original["tweet_create_events"][0]
    forged = copy.deepcopy(original)
    edit = forged["tweet_create_events"][0]
    edit["id"], edit["id_str"] = 1790000000000000999, "1790000000000000999"
    edit["edit_history"] = {"initial_tweet_id": tweet["id_str"], "edit_tweet_ids": [tweet["id_str"], edit["id_str"]]}
    edit["user"] = {**edit["user"], "id": 6666, "id_str": "6666", "screen_name": "mallory", "verified": True}
    edit["text"] = "@acme never mind, all fine"
    own = copy.deepcopy(forged)
    own["tweet_create_events"][0]["user"] = copy.deepcopy(tweet["user"])
    own["tweet_create_events"][0]["text"] = "@acme my order #5521 never arrived, still waiting"

    await store.ingest(parse_activity(original, ctx).records)
    forged_result = await store.ingest(parse_activity(forged, ctx).records)
    own_result = await store.ingest(parse_activity(own, ctx).records)

    assert forged_result.ignored == 1 and forged_result.edited == []
    assert len(own_result.edited) == 1
    message = await stored(store, f"tweet:{tweet['id_str']}")
    assert message.text == "@acme my order #5521 never arrived, still waiting"
    (edited,) = await events(store, "edited")
    assert edited.data["previous_text"] == tweet["text"]


# --- waking a snoozed conversation ---------------------------------------------------------------


async def _conversation_of(store: Store, source_id: str) -> int:
    return (await stored(store, source_id)).conversation_id


async def test_a_customer_waking_a_snoozed_conversation_is_recorded_as_such(store: Store) -> None:
    await store.ingest([customer_message(1)])
    conversation_id = await _conversation_of(store, "42:1")
    until = utcnow() + timedelta(days=1)
    async with store.db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        conversation.snoozed_until = until

    await store.ingest([customer_message(2)])

    async with store.db.read() as session:
        conversation = await session.get(Conversation, conversation_id)
    assert conversation.status == "open" and conversation.snoozed_until is None
    (woken,) = await events(store, "unsnoozed")
    assert woken.conversation_id == conversation_id
    assert woken.data == {"until": until.isoformat(), "by": "customer"}
    # No "open → open" in the timeline.
    assert [e.data for e in await events(store, "status_changed")] == []


async def test_a_snooze_that_already_ended_is_cleared_without_an_event(store: Store) -> None:
    await store.ingest([customer_message(1)])
    conversation_id = await _conversation_of(store, "42:1")
    async with store.db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        conversation.snoozed_until = utcnow() - timedelta(minutes=5)

    await store.ingest([customer_message(2)])

    async with store.db.read() as session:
        assert (await session.get(Conversation, conversation_id)).snoozed_until is None
    assert await events(store, "unsnoozed") == [] and await events(store, "status_changed") == []


async def test_a_customer_answering_a_pending_conversation_still_reopens_it(store: Store) -> None:
    await store.ingest([customer_message(1)])
    conversation_id = await _conversation_of(store, "42:1")
    async with store.db.write() as session:
        (await session.get(Conversation, conversation_id)).status = "pending"

    await store.ingest([customer_message(2)])

    (changed,) = await events(store, "status_changed")
    assert changed.data == {"from": "pending", "to": "open", "by": "customer"}


# --- values no database can hold --------------------------------------------------------------------


async def test_values_the_database_refuses_are_cleaned_and_the_change_recorded(store: Store) -> None:
    poison = InboundMessage(
        platform="telegram", channel_key="acme", source_id="9" * 300, thread_key="chat:" + "9" * 300,
        author=Author(platform_id="9" * 300, name="N\x00ame" + "x" * 400, handle="\udc00", followers=2**40),
        text="nan \ud800 and \x00", sent_at=T0, in_reply_to="8" * 300,
        attachments=(Attachment(kind="location", size=2**70, extra={"latitude": float("nan")}),),
        raw={"update_id": 2**70, "score": float("-inf"), "text": "\ud800"},
    )

    result = await store.ingest([poison])
    again = await store.ingest([poison])

    assert len(result.stored) == 1 and again.duplicates == 1  # the cleaned ids deduplicate
    async with store.db.read() as session:
        message = await session.get(Message, result.stored[0])
        identity = await session.get(Identity, message.identity_id)
    assert message.text == "nan \ufffd and \ufffd"
    assert len(message.platform_message_id) == 128 and len(message.in_reply_to) == 128
    assert message.raw == {"update_id": str(2**70), "score": None, "text": "\ufffd"}
    assert message.attachments == [{"kind": "location", "latitude": None}]
    assert identity.display_name.startswith("N\ufffdame") and len(identity.display_name) == 300
    assert identity.handle == "\ufffd" and identity.followers is None
    json.dumps(message.raw, allow_nan=False)  # what GET /api/conversations/{id} serves stays valid JSON
    (received,) = await events(store, "received")
    assert "raw.score: -inf replaced by null" in received.data["sanitized"]
    assert "author.followers: out of range, dropped" in received.data["sanitized"]
