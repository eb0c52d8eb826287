"""A console session's writes stop the moment its agent signs out or changes password (SQLite and PostgreSQL)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from console.commands import SessionEnded
from console.live_sessions import LiveSessions
from social_care.store.agents import set_password, sign_in
from social_care.store.models import Message, OutboxItem
from social_care.store.sessions import end_sessions, session_epochs
from tests.console.conftest import PASSWORD, World, build_world


@pytest.fixture
async def world_on(database_url: str) -> AsyncIterator[World]:
    built = await build_world(database_url)
    yield built
    await built.db.dispose()


async def _outbound(world: World) -> int:
    async with world.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxItem)) or 0)


async def _epoch(world: World, name: str) -> int:
    signed_in = await sign_in(world.db, name, PASSWORD)
    assert signed_in is not None
    return signed_in.session_epoch


async def test_a_signed_out_session_cannot_reply_or_act(world_on: World) -> None:
    world = world_on
    await world.customer_writes("Where is my order?")
    async with world.db.read() as session:
        conversation_id = int(await session.scalar(select(Message.conversation_id)) or 0)
    giulia = world.agents["giulia"].id
    tab = world.context.commands.for_session(giulia, await _epoch(world, "giulia"))
    await tab.reply(giulia, conversation_id, "Checking now")
    assert await _outbound(world) == 1

    await end_sessions(world.db, giulia)  # she signed out in another tab, maybe in another console process
    with pytest.raises(SessionEnded, match="signed out"):
        await tab.reply(giulia, conversation_id, "This must not reach the customer")
    with pytest.raises(SessionEnded):
        await tab.set_status(giulia, conversation_id, "resolved")
    assert await _outbound(world) == 1

    # Signed in again: the new session works; a password change ends it as well.
    again = world.context.commands.for_session(giulia, await _epoch(world, "giulia"))
    await again.note(giulia, conversation_id, "back")
    await set_password(world.db, "giulia", "another long password")
    with pytest.raises(SessionEnded):
        await again.reply(giulia, conversation_id, "Nor this one")
    with pytest.raises(SessionEnded):  # a session cannot act as someone else either
        await world.context.commands.for_session(world.agents["luca"].id, 0).reply(giulia, conversation_id, "x")
    assert await _outbound(world) == 1


def test_live_sessions_end_only_the_signed_out_ones() -> None:
    live = LiveSessions()
    ended: list[str] = []
    live.add(1, 0, lambda: ended.append("giulia laptop"))
    live.add(1, 0, lambda: ended.append("giulia phone"))
    live.add(1, 1, lambda: ended.append("giulia signed in again"))
    forget = live.add(2, 0, lambda: ended.append("luca"))
    assert live.agent_ids() == {1, 2}
    assert live.end_stale({1: 1}, [1]) == 2 and ended == ["giulia laptop", "giulia phone"]
    assert live.end_stale({1: 1}, [1]) == 0  # ended once
    forget()
    assert live.agent_ids() == {1} and live.end_stale({}, [2]) == 0
    assert live.end_stale({}, [1]) == 1  # deactivated: every session ends


async def test_session_epochs_skip_inactive_agents(world_on: World) -> None:
    from sqlalchemy import update

    from social_care.store.models import Agent

    world = world_on
    ids = [world.agents[name].id for name in ("giulia", "luca")]
    async with world.db.write() as session:
        await session.execute(update(Agent).where(Agent.id == ids[1]).values(active=False))
    await end_sessions(world.db, ids[0])
    assert await session_epochs(world.db, ids) == {ids[0]: (await _epoch(world, "giulia"))}
