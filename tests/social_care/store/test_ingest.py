"""Ingest stores each platform message exactly once, with its contact, conversation and events."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from social_care.domain import Author, ContactSignal, CursorUpdate, SignalKind
from social_care.store.ingest import read_cursor
from social_care.store.models import Contact, Conversation, Event, Identity, Message
from social_care.store.types import utcnow
from tests.social_care.conftest import T0, Store, customer_message


async def count(store: Store, model) -> int:  # type: ignore[no-untyped-def]
    async with store.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_message_creates_contact_conversation_and_received_event(store: Store) -> None:
    result = await store.ingest([customer_message(1, text="Ciao, il mio ordine è in ritardo")])
    assert len(result.stored) == 1
    async with store.db.read() as session:
        message = await session.get(Message, result.stored[0])
        assert message is not None
        conversation = await session.get(Conversation, message.conversation_id)
        identity = await session.get(Identity, message.identity_id)
        events = (
            await session.scalars(
                select(Event.kind).where(Event.conversation_id == conversation.id)
            )
        ).all()
    assert message.text == "Ciao, il mio ordine è in ritardo"
    assert message.raw["update_id"] == 1001  # raw payload kept as received
    assert message.pipeline_state == "pending"
    assert conversation.status == "open" and conversation.waiting_since == T0 + timedelta(minutes=1)
    assert identity.platform_user_id == "42" and identity.display_name == "Giulia Rossi"
    assert list(events) == ["created", "received"]


async def test_redelivery_changes_nothing(store: Store) -> None:
    await store.ingest([customer_message(1), customer_message(2)])
    before = [await count(store, m) for m in (Message, Event, Contact, Conversation)]
    again = await store.ingest([customer_message(2), customer_message(1)])
    assert again.stored == [] and again.duplicates == 2
    assert [await count(store, m) for m in (Message, Event, Contact, Conversation)] == before


async def test_the_same_message_delivered_five_times_concurrently_is_stored_once(
    store: Store,
) -> None:
    results = await asyncio.gather(
        *(store.ingest([customer_message(7, chat=99)]) for _ in range(5))
    )
    assert sum(len(r.stored) for r in results) == 1
    assert sum(r.duplicates for r in results) == 4
    assert await count(store, Message) == 1
    assert await count(store, Conversation) == 1
    assert await count(store, Contact) == 1


async def test_many_customers_concurrently_each_get_one_conversation(store: Store) -> None:
    batches = [[customer_message(n, chat=chat)] for chat in range(500, 510) for n in (1, 2)] * 2
    await asyncio.gather(*(store.ingest(b) for b in batches))
    assert await count(store, Message) == 20
    assert await count(store, Conversation) == 10
    assert await count(store, Contact) == 10


async def test_an_edit_updates_the_text_and_keeps_the_previous_version(store: Store) -> None:
    first = await store.ingest([customer_message(3, text="The parcel never arived")])
    edit = customer_message(3, text="The parcel never arrived", edited_at=T0 + timedelta(hours=1))
    result = await store.ingest([edit])
    assert result.edited == first.stored
    stale = customer_message(3, text="older edit", edited_at=T0 + timedelta(minutes=30))
    assert (await store.ingest([stale])).duplicates == 1
    assert (await store.ingest([edit])).duplicates == 1  # the same edit redelivered
    async with store.db.read() as session:
        message = await session.get(Message, first.stored[0])
        edits = (await session.scalars(select(Event).where(Event.kind == "edited"))).all()
    assert message.text == "The parcel never arrived"
    assert message.pipeline_state == "pending"  # triaged again
    assert [e.data["previous_text"] for e in edits] == ["The parcel never arived"]


async def test_messages_of_one_chat_share_a_conversation_others_do_not(store: Store) -> None:
    await store.ingest(
        [customer_message(1, chat=1), customer_message(2, chat=1), customer_message(1, chat=2)]
    )
    async with store.db.read() as session:
        rows = (
            await session.execute(select(Message.conversation_id, Message.platform_message_id))
        ).all()
    by_id = {pid: conv for conv, pid in rows}
    assert by_id["1:1"] == by_id["1:2"] != by_id["2:1"]


async def test_a_customer_writing_after_resolution_reopens_recent_conversations(
    store: Store,
) -> None:
    first = await store.ingest([customer_message(1)])
    async with store.db.write() as session:
        message = await session.get(Message, first.stored[0])
        conversation = await session.get(Conversation, message.conversation_id)
        conversation.status = "resolved"
        conversation.resolved_at = utcnow()
        conversation.waiting_since = None
        conversation_id = conversation.id
    second = await store.ingest([customer_message(2)])
    async with store.db.read() as session:
        message = await session.get(Message, second.stored[0])
        conversation = await session.get(Conversation, conversation_id)
        kinds = (
            await session.scalars(
                select(Event.kind).where(Event.conversation_id == conversation_id)
            )
        ).all()
    assert message.conversation_id == conversation_id
    assert conversation.status == "open" and conversation.waiting_since == T0 + timedelta(minutes=2)
    assert "reopened" in kinds


async def test_an_old_resolved_conversation_is_not_reopened(store: Store) -> None:
    first = await store.ingest([customer_message(1)])
    async with store.db.write() as session:
        message = await session.get(Message, first.stored[0])
        conversation = await session.get(Conversation, message.conversation_id)
        conversation.status = "resolved"
        conversation.resolved_at = utcnow() - timedelta(days=30)
        old_id = conversation.id
    second = await store.ingest([customer_message(2)])
    async with store.db.read() as session:
        message = await session.get(Message, second.stored[0])
    assert message.conversation_id != old_id
    assert await count(store, Contact) == 1  # same customer, new conversation


async def test_the_cursor_moves_in_the_same_transaction_as_the_messages(store: Store) -> None:
    cursor = CursorUpdate("telegram", "acme", "offset", "1002")
    await store.ingest([customer_message(1)], cursor=cursor)
    assert await read_cursor(store.db, store.channels, "telegram", "acme", "offset") == "1002"
    broken = customer_message(2)
    object.__setattr__(broken, "raw", {"not json": object()})  # fails at flush, inside the transaction
    with pytest.raises(Exception):
        await store.ingest(
            [customer_message(3), broken], cursor=CursorUpdate("telegram", "acme", "offset", "1004")
        )
    assert await read_cursor(store.db, store.channels, "telegram", "acme", "offset") == "1002"
    assert await count(store, Message) == 1  # nothing of the failed batch was kept


async def test_blocking_the_bot_is_an_event_recorded_once(store: Store) -> None:
    await store.ingest([customer_message(1)])
    signal = ContactSignal(
        "telegram",
        "acme",
        Author("42", "Giulia Rossi"),
        SignalKind.BLOCKED,
        T0 + timedelta(hours=2),
    )
    assert (await store.ingest([signal])).signals == 1
    assert (await store.ingest([signal])).signals == 0
    async with store.db.read() as session:
        kinds = (await session.scalars(select(Event.kind).where(Event.kind == "blocked"))).all()
        identity = await session.scalar(select(Identity))
    assert kinds == ["blocked"] and identity.blocked


async def test_a_message_for_an_unknown_channel_is_refused(store: Store) -> None:
    message = customer_message(1)
    object.__setattr__(message, "channel_key", "not-configured")
    with pytest.raises(LookupError):
        await store.ingest([message])
    assert await count(store, Message) == 0


async def test_a_reply_joins_the_conversation_of_the_message_it_answers(store: Store) -> None:
    await store.ingest([customer_message(1, chat=5)])
    reply = customer_message(2, chat=6)  # another thread key, as a payload without thread ids would give
    object.__setattr__(reply, "in_reply_to", "5:1")
    await store.ingest([reply])
    async with store.db.read() as session:
        conversations = (await session.scalars(select(Message.conversation_id))).all()
    assert len(set(conversations)) == 1
