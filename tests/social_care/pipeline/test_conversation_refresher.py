"""The priority refresher touches only the threads whose waiting time crossed a whole hour."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from social_care.config import Settings
from social_care.domain import Author, InboundMessage, MessageKind
from social_care.pipeline.conversation_state import ConversationRefresher
from social_care.service import Runtime, build_runtime
from social_care.store.models import Conversation
from social_care.store.types import utcnow


@pytest.fixture
async def runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=sqlite_url, channels=({"platform": "telegram", "key": "acme", "token": "1:x"},))
    built = await build_runtime(settings)
    yield built
    await built.db.dispose()


def message(user: str, text: str, ago: timedelta) -> InboundMessage:
    return InboundMessage(platform="telegram", channel_key="acme", source_id=f"{user}:1", thread_key=f"chat:{user}",
                          author=Author(platform_id=user, name=f"Customer {user}"), text=text,
                          sent_at=utcnow() - ago, kind=MessageKind.DIRECT)


async def reasons(runtime: Runtime) -> dict[str, list[str]]:
    async with runtime.db.read() as session:
        rows = (await session.scalars(select(Conversation))).all()
    return {c.thread_key: list(c.priority_reasons) for c in rows}


async def test_only_threads_crossing_an_hour_are_refreshed(runtime: Runtime) -> None:
    await runtime.ingest([message("1", "where is my parcel?", timedelta(hours=2, minutes=59, seconds=30)),
                          message("2", "my order is late", timedelta(minutes=20))])
    assert runtime.pipeline is not None and runtime.rules is not None
    await runtime.pipeline.run_once()
    refresher = ConversationRefresher(runtime.db, runtime.rules)
    now = utcnow()
    await refresher.run_once(now)  # the first round looks at every thread that has waited an hour or more
    assert refresher.last_refreshed == 1 and "waiting 2 h" in (await reasons(runtime))["chat:1"]
    # A minute later chat 1 crossed into its third hour; chat 2 (21 min) crossed nothing and is not touched.
    assert await refresher.run_once(now + timedelta(minutes=1)) == 1 and refresher.last_refreshed == 1
    after = await reasons(runtime)
    assert "waiting 3 h" in after["chat:1"] and not any(r.startswith("waiting") for r in after["chat:2"])
    assert await refresher.run_once(now + timedelta(minutes=2)) == 0 and refresher.last_refreshed == 0
    # Chat 2 reaches its first hour 40 minutes later and gains the waiting reason.
    assert await refresher.run_once(now + timedelta(minutes=41)) == 1 and refresher.last_refreshed == 1
    assert "waiting 1 h" in (await reasons(runtime))["chat:2"]
