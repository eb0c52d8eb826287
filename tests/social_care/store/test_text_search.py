"""Searching customer messages goes through the search index, and the index follows inserts and edits."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text, update

from console.queries import InboxQuery, inbox_page
from social_care.store.models import Message
from social_care.store.text_search import FTS_TABLE, PG_INDEX
from tests.console.conftest import World, build_world


@pytest.fixture
async def world_on(database_url: str) -> AsyncIterator[World]:
    built = await build_world(database_url)
    yield built
    await built.db.dispose()


async def _found(world: World, term: str) -> list[str]:
    async with world.db.read() as session:
        items, _ = await inbox_page(session, InboxQuery(agent_id=0, search=term), now=world.clock.now())
    return sorted(item.customer_name or "" for item in items)


async def test_search_finds_substrings_of_customer_messages_only(world_on: World) -> None:
    world = world_on
    await world.customer_writes("My parcel arrived 100% BROKEN", chat=1, name="Anna", handle="anna1")
    await world.customer_writes("Ciao, la spedizione è in ritardo", chat=2, name="Bruno", handle="bruno1")
    await world.customer_writes("Où est ma COMMANDE? École fermée", chat=3, name="Chloé", handle="chloe1")
    await world.context.commands.reply(world.agents["giulia"].id, 2, "Your parcel is on its way")
    assert await _found(world, "PARCEL") == ["Anna"]  # Bruno got "parcel" only in our reply
    assert await _found(world, "cel arr") == ["Anna"]  # any substring, across words
    assert await _found(world, "100%") == ["Anna"] and await _found(world, "1_0") == []  # wildcards are literal
    assert await _found(world, 'say "hi"') == []  # quotes are text, not query syntax
    assert await _found(world, "commande") == ["Chloé"]
    assert await _found(world, "ta") == ["Bruno"]  # too short for trigrams: still found, by a scan
    assert await _found(world, "bruno") == ["Bruno"]  # customer names are searched as before


async def test_an_edited_message_is_found_by_its_new_text(world_on: World) -> None:
    world = world_on
    await world.customer_writes("where is my refund", chat=1, name="Anna", handle="anna1")
    async with world.db.write() as session:
        await session.execute(update(Message).where(Message.direction == "inbound").values(text="where is my invoice"))
    assert await _found(world, "invoice") == ["Anna"]
    assert await _found(world, "refund") == []


async def test_the_index_exists_and_sqlite_queries_use_it(world_on: World) -> None:
    world = world_on
    await world.customer_writes("hello", chat=1, name="Anna")
    await world.context.commands.reply(world.agents["giulia"].id, 1, "hello Anna")
    async with world.db.read() as session:
        if session.get_bind().dialect.name == "sqlite":
            plan = (await session.execute(text(
                f"EXPLAIN QUERY PLAN SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH '\"parcel\"'"))).all()
            assert any("VIRTUAL TABLE INDEX" in str(row[-1]) for row in plan)
            # Customer messages only: our replies are not searched.
            assert await session.scalar(text(f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH '\"hello\"'")) == 1
        else:
            assert await session.scalar(text("SELECT indexname FROM pg_indexes WHERE indexname = :n"),
                                        {"n": PG_INDEX}) == PG_INDEX
