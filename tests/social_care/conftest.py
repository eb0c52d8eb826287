"""Fixtures for the core: a migrated store with one Telegram channel, and message builders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from social_care.domain import Author, InboundMessage
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor
from social_care.store.migrate import upgrade

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Store:
    db: Database
    channels: ChannelDirectory
    ingest: Ingestor
    channel_id: int
    url: str


async def open_store(url: str) -> Store:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    channels = ChannelDirectory(db)
    channel_id = await channels.register("telegram", "acme", "ACME Telegram")
    return Store(db, channels, Ingestor(db, channels), channel_id, url)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated store on SQLite and on PostgreSQL."""
    opened = await open_store(database_url)
    yield opened
    await opened.db.dispose()


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    opened = await open_store(sqlite_url)
    yield opened
    await opened.db.dispose()


def customer_message(
    n: int,
    *,
    chat: int = 42,
    text: str | None = None,
    name: str = "Giulia Rossi",
    edited_at: datetime | None = None,
    at: datetime | None = None,
) -> InboundMessage:
    """A normalized Telegram message number `n` from chat `chat`."""
    return InboundMessage(
        platform="telegram",
        channel_key="acme",
        source_id=f"{chat}:{n}",
        thread_key=f"chat:{chat}",
        author=Author(platform_id=str(chat), name=name, handle=f"user{chat}"),
        text=text if text is not None else f"message {n}",
        sent_at=at or T0 + timedelta(minutes=n),
        edited_at=edited_at,
        raw={"update_id": 1000 + n, "message": {"message_id": n, "text": text or f"message {n}"}},
    )
