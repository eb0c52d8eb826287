"""Canned replies in the console: a live library read from the store, search, and {variables} filled in.

The store is the source of truth (`social_care.store.canned`); the shipped TOML file, or
$SOCIAL_CARE_CANNED_REPLIES, only seeds an empty store the first time the console starts.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import tomllib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from social_care import actions
from social_care.bus import Bus
from social_care.store import canned as store
from social_care.store.db import Database
from social_care.store.models import Agent

logger = logging.getLogger(__name__)

DEFAULT_FILE = Path(__file__).with_name("canned_replies.toml")
ENV_FILE = "SOCIAL_CARE_CANNED_REPLIES"
VARIABLES = ("customer_name", "agent_name", "brand")
TOPIC = store.TOPIC
_VARIABLE = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class CannedReply:
    name: str
    text: str
    language: str | None = None
    id: int | None = None
    version: int = 1
    updated_by: str | None = None
    updated_at: datetime | None = None


def seed_file(path: str | Path | None = None) -> Path:
    """`path`, $SOCIAL_CARE_CANNED_REPLIES, or the shipped file."""
    return Path(path or os.environ.get(ENV_FILE) or DEFAULT_FILE)


def load_canned(path: str | Path | None = None) -> list[CannedReply]:
    """The replies in `path`, $SOCIAL_CARE_CANNED_REPLIES, or the shipped file."""
    source = seed_file(path)
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    replies = []
    for index, entry in enumerate(data.get("reply", [])):
        name, text = entry.get("name"), entry.get("text")
        if not isinstance(name, str) or not isinstance(text, str) or not name.strip() or not text.strip():
            raise ValueError(f"{source}: reply[{index}] needs a name and a text")
        language = entry.get("language")
        replies.append(CannedReply(name.strip(), text, language if isinstance(language, str) else None))
    return replies


def search(replies: Iterable[CannedReply], query: str, *, language: str | None = None) -> list[CannedReply]:
    """Replies whose name contains every word of `query`; the agent's language first."""
    words = query.lower().split()
    found = [r for r in replies if all(word in r.name.lower() for word in words)]
    return sorted(found, key=lambda r: (r.language not in (None, language), r.name.lower()))


def fill(text: str, values: dict[str, str]) -> str:
    """Replace known {variables}; unknown braces stay as typed, so the agent sees and edits them."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return values[key] if values.get(key) else match.group(0)

    return _VARIABLE.sub(replace, text)


def unknown_variables(text: str) -> list[str]:
    """The {words} in `text` that `fill` does not know, in order, once each."""
    return list(dict.fromkeys(v for v in _VARIABLE.findall(text) if v not in VARIABLES))


Listener = Callable[[], None]


class CannedLibrary:
    """The store's canned replies held in memory for every session, reloaded when the bus says they changed.

    Iterating gives `CannedReply` values; `on_change` listeners run on the event loop after each reload
    (a page must hop to its own document with `doc.add_next_tick_callback`).
    """

    def __init__(self, db: Database | None = None, bus: Bus | None = None,
                 replies: Iterable[CannedReply] = ()) -> None:
        self.db = db
        self.bus = bus
        self._replies: tuple[CannedReply, ...] = tuple(replies)
        self._listeners: list[Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reload_scheduled = False
        self._started = self._applied = 0  # reload tickets: a slow, older read never overwrites a newer one
        self._unsubscribe: Callable[[], None] = lambda: None

    # --- reading -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[CannedReply]:
        return iter(self._replies)

    def __len__(self) -> int:
        return len(self._replies)

    def names(self) -> list[str]:
        """Every name, in display order."""
        return [r.name for r in self._replies]

    def find(self, name: str) -> CannedReply | None:
        """The reply with exactly this name."""
        return next((r for r in self._replies if r.name == name), None)

    def get(self, reply_id: int) -> CannedReply | None:
        """The reply with this id."""
        return next((r for r in self._replies if r.id == reply_id), None)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, seed_from: str | Path | None = None, seed: bool = True) -> None:
        """Seed an empty store once (first start), load, and follow the bus."""
        self._loop = asyncio.get_running_loop()
        if seed and self.db is not None:
            await self.seed(seed_from)
        await self.reload()
        if self.bus is not None:
            self._unsubscribe = self.bus.subscribe(self.on_bus)

    async def seed(self, path: str | Path | None = None) -> int:
        """Copy the TOML file into an empty store, the first time only; returns how many were added."""
        assert self.db is not None
        source = seed_file(path)

        def read() -> list[tuple[str, str, str | None]]:
            return [(r.name, r.text, r.language) for r in load_canned(source)]

        async with self.db.write() as session:
            added = await store.seed_once(session, read, source=source.name)
        if added:
            logger.info("seeded %d canned replies from %s", added, source.name)
            if self.bus is not None:
                self.bus.publish(TOPIC, ids=[])
        return added

    def stop(self) -> None:
        """Stop following the bus."""
        self._unsubscribe()

    async def reload(self) -> None:
        """Read the replies again and tell the listeners."""
        if self.db is None:
            return
        self._started += 1
        ticket = self._started
        async with self.db.read() as session:
            rows = await store.list_replies(session)
            names = dict((await session.execute(
                select(Agent.id, Agent.display_name).where(Agent.id.in_({r.updated_by for r in rows if r.updated_by}))
            )).all()) if rows else {}
        if ticket < self._applied:
            return
        self._applied = ticket
        self._replies = tuple(CannedReply(r.name, r.text, r.language, r.id, r.version, names.get(r.updated_by),
                                          r.updated_at) for r in rows)
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                logger.exception("canned-reply listener failed")

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call `listener()` after every reload; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def on_bus(self, topic: str, _data: dict[str, Any]) -> None:
        """Bus listener (any thread): a burst of changes becomes one reload on the loop."""
        if topic != TOPIC or self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        if self._reload_scheduled:
            return
        self._reload_scheduled = True

        async def run() -> None:
            self._reload_scheduled = False
            try:
                await self.reload()
            except Exception:
                logger.exception("reloading canned replies failed")

        asyncio.ensure_future(run())

    # --- writing (managers and admins; the store checks the role) -------------------------------

    async def create(self, agent_id: int, name: str, text: str, language: str | None) -> CannedReply:
        """Add a reply as `agent_id`."""
        async with self._write(agent_id) as (session, agent):
            row = await store.create_reply(session, agent, name, text, language)
            reply_id = row.id
        await self._announce(reply_id)
        return self._current(reply_id)

    async def update(self, agent_id: int, reply_id: int, changes: dict[str, object], *,
                     version: int | None = None) -> CannedReply:
        """Change a reply as `agent_id`; `version` is the one the editor started from."""
        async with self._write(agent_id) as (session, agent):
            await store.update_reply(session, agent, reply_id, changes, version=version)
        await self._announce(reply_id)
        return self._current(reply_id)

    async def delete(self, agent_id: int, reply_id: int, *, version: int | None = None) -> None:
        """Remove a reply as `agent_id`."""
        async with self._write(agent_id) as (session, agent):
            await store.delete_reply(session, agent, reply_id, version=version)
        await self._announce(reply_id)

    @asynccontextmanager
    async def _write(self, agent_id: int) -> AsyncIterator[tuple[AsyncSession, Agent]]:
        # The agent is read again: a role change or deactivation applies at once.
        if self.db is None:
            raise actions.Conflict("canned replies are not connected to the store here")
        async with self.db.write() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None or not agent.active:
                raise actions.Forbidden("your account is no longer active")
            yield session, agent

    async def _announce(self, reply_id: int | None) -> None:
        if self.bus is not None:
            self.bus.publish(TOPIC, ids=[reply_id] if reply_id is not None else [])
        await self.reload()

    def _current(self, reply_id: int) -> CannedReply:
        reply = self.get(reply_id)
        if reply is None:  # deleted by someone else in between
            raise actions.NotFound(f"canned reply {reply_id} not found")
        return reply
