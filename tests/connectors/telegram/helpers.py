"""Real parts for the Telegram tests: platform-shaped fixtures and a migrated SQLite store."""
from __future__ import annotations

import asyncio
import atexit
import copy
import functools
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from telegram import Bot
from telegram.request import HTTPXRequest

from connectors.base import CursorSource
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor, read_cursor
from social_care.store.migrate import upgrade
from social_care.store.models import Conversation, Event, Identity, Message

FIXTURES = Path(__file__).with_name("fixtures")
CHANNEL = "acme"


def fixture(name: str) -> dict[str, Any]:
    """A recorded-style Telegram update from fixtures/<name>.json (a fresh copy each call)."""
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


@dataclass
class Store:
    """The real store, the real Ingestor and small queries for assertions."""

    db: Database
    channels: ChannelDirectory
    ingest: Ingestor

    @property
    def cursors(self) -> CursorSource:
        """read_cursor bound to this store, shaped like connectors.base.CursorSource."""
        return functools.partial(read_cursor, self.db, self.channels)

    async def offset(self) -> str | None:
        """The Telegram poller's persisted offset."""
        return await read_cursor(self.db, self.channels, "telegram", CHANNEL, "offset")

    async def messages(self) -> list[Message]:
        """Every stored message, oldest first."""
        async with self.db.read() as session:
            return list(await session.scalars(select(Message).order_by(Message.id)))

    async def message(self, source_id: str) -> Message | None:
        """The stored message with this platform id."""
        async with self.db.read() as session:
            return await session.scalar(select(Message).where(Message.platform_message_id == source_id))

    async def events(self, kind: str | None = None) -> list[Event]:
        """Timeline events, optionally of one kind."""
        query = select(Event).order_by(Event.id)
        if kind is not None:
            query = query.where(Event.kind == kind)
        async with self.db.read() as session:
            return list(await session.scalars(query))

    async def identities(self) -> list[Identity]:
        """Every customer identity."""
        async with self.db.read() as session:
            return list(await session.scalars(select(Identity).order_by(Identity.id)))

    async def count(self, model: type) -> int:
        """Rows in a table (messages, conversations, events...)."""
        async with self.db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def conversations(self) -> list[Conversation]:
        """Every conversation."""
        async with self.db.read() as session:
            return list(await session.scalars(select(Conversation).order_by(Conversation.id)))


_template: Path | None = None


async def _migrated_template() -> Path:
    # Migrating takes ~0.3 s; do it once per test session and copy the file for each test.
    global _template
    if _template is None:
        directory = Path(tempfile.mkdtemp(prefix="social-care-telegram-tests-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = directory / "template.db"
        await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")  # alembic's API is synchronous
        _template = path
    return _template


async def open_store(directory: Path, name: str = "t.db") -> Store:
    """A freshly migrated SQLite file in `directory` with the telegram:acme channel registered."""
    path = directory / name
    shutil.copyfile(await _migrated_template(), path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    channels = ChannelDirectory(db)
    await channels.register("telegram", CHANNEL)
    return Store(db=db, channels=channels, ingest=Ingestor(db, channels))


def sandbox_bot(base_url: str, *, token: str = "123456789:SANDBOX-token", read_timeout: float = 5.0) -> Bot:
    """A real python-telegram-bot Bot talking to a sandbox (or any base URL), with short timeouts.

    One request object serves both getUpdates and the other calls, so `bot.request.shutdown()`
    closes everything even when the bot was never initialized.
    """
    request = HTTPXRequest(connect_timeout=2.0, read_timeout=read_timeout, write_timeout=2.0, pool_timeout=2.0)
    return Bot(token, base_url=base_url, request=request, get_updates_request=request)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until `check()` is true, polling; fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
