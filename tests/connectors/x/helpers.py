"""Real parts for the X tests: platform-shaped fixtures, a migrated SQLite store, a fake clock."""
from __future__ import annotations

import asyncio
import atexit
import copy
import functools
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from tweepy.asynchronous import AsyncClient

from connectors.base import CursorSource
from connectors.x.budget import RateBudget
from connectors.x.connector import ENDPOINTS, open_session
from connectors.x.parse import ParseContext
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor, read_cursor
from social_care.store.migrate import upgrade
from social_care.store.models import Conversation, Event, Identity, Message

FIXTURES = Path(__file__).with_name("fixtures")
CHANNEL = "acme"
BRAND_ID = "1000"
PAT = "4242"  # a customer who mentions the brand and writes DMs
NOOR = "5151"  # a customer with many followers
CTX = ParseContext(channel_key=CHANNEL, brand_id=BRAND_ID)

# The sandbox's default credentials.
BEARER = "sandbox-bearer"
CONSUMER_KEY = "sandbox-ck"
CONSUMER_SECRET = "sandbox-cs"
ACCESS_TOKEN = "1000-sandbox-at"
ACCESS_TOKEN_SECRET = "sandbox-ats"


def fixture(name: str) -> dict[str, Any]:
    """A platform-shaped payload from fixtures/<name>.json (a fresh copy each call)."""
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


def channel_section(**overrides: Any) -> dict[str, Any]:
    """A [x.acme] configuration table with the sandbox's credentials."""
    section: dict[str, Any] = {
        "user_id": BRAND_ID,
        "bearer_token": BEARER,
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "access_token": ACCESS_TOKEN,
        "access_token_secret": ACCESS_TOKEN_SECRET,
    }
    section.update(overrides)
    return section


def sandbox_client(base_url: str, *, timeout: float = 3.0, **credentials: str) -> AsyncClient:
    """The real tweepy AsyncClient, as the connector builds it, talking to a sandbox; close its session."""
    values = {"bearer_token": BEARER, "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
              "access_token": ACCESS_TOKEN, "access_token_secret": ACCESS_TOKEN_SECRET, **credentials}
    client = AsyncClient(**values, return_type=aiohttp.ClientResponse)
    client.session = open_session(base_url, timeout=timeout)
    return client


def fast_budgets(min_interval: float = 0.05, backoff_initial: float = 0.05, backoff_cap: float = 0.2,
                 **overrides: RateBudget) -> dict[str, RateBudget]:
    """Budgets for every endpoint with test-sized intervals."""
    budgets = {name: RateBudget(name, min_interval=min_interval, backoff_initial=backoff_initial,
                                backoff_cap=backoff_cap) for name in ENDPOINTS}
    budgets.update(overrides)
    return budgets


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

    async def cursor(self, name: str) -> str | None:
        """A persisted X poller cursor."""
        return await read_cursor(self.db, self.channels, "x", CHANNEL, name)

    async def messages(self) -> list[Message]:
        """Every stored message, oldest first."""
        async with self.db.read() as session:
            return list(await session.scalars(select(Message).order_by(Message.id)))

    async def source_ids(self) -> list[str | None]:
        """The platform ids of every stored message, in storage order."""
        return [m.platform_message_id for m in await self.messages()]

    async def message(self, source_id: str) -> Message | None:
        """The stored message with this platform id."""
        async with self.db.read() as session:
            return await session.scalar(select(Message).where(Message.platform_message_id == source_id))

    async def identities(self) -> list[Identity]:
        """Every customer identity."""
        async with self.db.read() as session:
            return list(await session.scalars(select(Identity).order_by(Identity.id)))

    async def conversations(self) -> list[Conversation]:
        """Every conversation."""
        async with self.db.read() as session:
            return list(await session.scalars(select(Conversation).order_by(Conversation.id)))

    async def count(self, model: type) -> int:
        """Rows in a table."""
        async with self.db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def assert_empty(self) -> None:
        """Nothing at all was stored."""
        for model in (Message, Conversation, Identity, Event):
            assert await self.count(model) == 0, model.__name__


_template: Path | None = None


async def _migrated_template() -> Path:
    # Migrating takes ~0.3 s; do it once per test session and copy the file for each test.
    global _template
    if _template is None:
        directory = Path(tempfile.mkdtemp(prefix="social-care-x-tests-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = directory / "template.db"
        await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{path}")  # alembic's API is synchronous
        _template = path
    return _template


async def open_store(directory: Path, name: str = "x.db") -> Store:
    """A freshly migrated SQLite file in `directory` with the x:acme channel registered."""
    path = directory / name
    shutil.copyfile(await _migrated_template(), path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    channels = ChannelDirectory(db)
    await channels.register("x", CHANNEL)
    return Store(db=db, channels=channels, ingest=Ingestor(db, channels))


async def open_store_at(url: str) -> Store:
    """A store migrated at `url` (SQLite or PostgreSQL) with the x:acme channel registered."""
    await asyncio.to_thread(upgrade, url)  # alembic's API is synchronous
    db = Database(url)
    channels = ChannelDirectory(db)
    await channels.register("x", CHANNEL)
    return Store(db=db, channels=channels, ingest=Ingestor(db, channels))


@dataclass
class FakeClock:
    """Wall-clock seconds that move only when the code under test sleeps (sleeps return at once).

    `offset` is added to the real time, so a sandbox that stamps real resets stays comparable.
    """

    real: Callable[[], float]
    offset: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[float], None] | None = None
    real_sleep: float = 0.0  # how long each sleep really lasts, to keep loops from spinning

    def __call__(self) -> float:
        return self.real() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        self.offset += max(seconds, 0.0)
        await asyncio.sleep(self.real_sleep)  # let other tasks run, as a real sleep would


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until `check()` is true, polling; fail the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
