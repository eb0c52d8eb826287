"""Fixtures for the console: a migrated store with Telegram and X channels, agents, and a context."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.auth import SessionSigner
from console.canned import load_canned
from console.commands import Commands
from console.context import ConsoleContext, SessionAgent
from console.i18n import Translator
from console.presence import Presence
from social_care.bus import Bus
from social_care.domain import Author, InboundMessage, MessageKind
from social_care.store.agents import add_agent, set_password
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor
from social_care.store.migrate import upgrade
from social_care.store.models import Agent, Message
from triage import TriageInput, Triager, TriageRules

PASSWORD = "correct horse battery"


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait for a live update to land (the bus and the session's next tick are asynchronous)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def _kill_panel_servers() -> Iterator[None]:
    """Panel servers left running keep pytest from exiting (CONSOLE.md)."""
    yield
    from panel.io.state import state

    state.kill_all_servers()


@dataclass
class Clock:
    """A settable clock for both the store side (datetime) and the session side (epoch seconds)."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def epoch(self) -> float:
        return self.at.timestamp()

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class World:
    db: Database
    bus: Bus
    ingest: Ingestor
    context: ConsoleContext
    clock: Clock
    agents: dict[str, Agent]
    published: list[tuple[str, dict[str, Any]]]
    _n: int = 0

    def session_agent(self, name: str, *, language: str = "en", ttl: float = 3600) -> SessionAgent:
        agent = self.agents[name]
        return SessionAgent(agent.id, agent.name, agent.display_name or agent.name, agent.role, language,
                            self.clock.epoch() + ttl)

    async def triage_all(self) -> None:
        """Triage every stored customer message the way the pipeline does (flags, queue, priority)."""
        from sqlalchemy import select

        from social_care.pipeline.conversation_state import refresh_conversation

        triager = Triager(TriageRules.from_dict({}))
        async with self.db.write() as session:
            messages = (await session.scalars(select(Message).where(Message.direction == "inbound"))).all()
            for message in messages:
                result = triager.triage(TriageInput(text=message.text, public=message.public))
                message.triage = result.as_json()
                message.pipeline_state = "done"
                message.sentiment, message.sentiment_label = result.sentiment, result.sentiment_label
            await session.flush()
            for conversation_id in {m.conversation_id for m in messages}:
                await refresh_conversation(session, conversation_id, TriageRules.from_dict({}), now=self.clock.now())

    async def customer_writes(self, text: str, *, chat: int = 42, name: str = "Giulia Rossi", handle: str = "giuliar",
                              platform: str = "telegram", public: bool = False, followers: int | None = None,
                              at: datetime | None = None) -> None:
        self._n += 1
        await self.ingest([InboundMessage(
            platform=platform, channel_key="acme", source_id=f"{chat}:{self._n}", thread_key=f"chat:{chat}",
            author=Author(platform_id=str(chat), name=name, handle=handle, followers=followers),
            text=text, sent_at=at or self.clock.now(), public=public,
            kind=MessageKind.MENTION if public else MessageKind.DIRECT,
        )])


T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def build_world(url: str) -> World:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    channels = ChannelDirectory(db)
    await channels.register("telegram", "acme", "ACME Telegram")
    await channels.register("x", "acme", "ACME on X")
    bus = Bus()
    published: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe(lambda topic, data: published.append((topic, data)))
    agents = {}
    for name, role in (("giulia", "agent"), ("luca", "agent"), ("sara", "marketing"), ("marco", "manager")):
        agent, _token = await add_agent(db, name, role, display_name=name.capitalize())
        await set_password(db, name, PASSWORD)
        agents[name] = agent
    clock = Clock(T0 + timedelta(hours=1))
    context = ConsoleContext(db=db, bus=bus, commands=Commands(db, bus, TriageRules.from_dict({})), presence=Presence(),
                             signer=SessionSigner(b"x" * 32, clock=clock.epoch), brand="ACME", default_language="en",
                             canned=load_canned(), now=clock.now)
    return World(db, bus, Ingestor(db, channels), context, clock, agents, published)


@pytest.fixture
async def world(sqlite_url: str) -> AsyncIterator[World]:
    built = await build_world(sqlite_url)
    yield built
    await built.db.dispose()


@pytest.fixture
def en() -> Translator:
    return Translator("en")
