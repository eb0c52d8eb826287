"""Console sessions: the per-agent session epoch that logout and password changes bump.

A console cookie carries the agent's `session_epoch` at sign-in. Bumping the column ends every cookie
issued before, in every console process at once, because requests and writes compare the two.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Boolean, Integer, String, column, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from social_care.store.db import Database

# The columns of `agents` this module reads and writes (Core, so it does not depend on the ORM mapping).
AGENT_SESSIONS = table("agents", column("id", Integer), column("session_epoch", Integer),
                       column("active", Boolean), column("role", String))


async def current_epoch(session: AsyncSession, agent_id: int, *, lock: bool = False) -> int | None:
    """The session epoch of the active agent `agent_id`, or None if there is no such active agent.

    `lock=True` takes a shared row lock (PostgreSQL) so a concurrent bump waits until this transaction
    ends: a write that checked the epoch cannot commit after a logout it raced with.
    """
    query = select(AGENT_SESSIONS.c.session_epoch).where(AGENT_SESSIONS.c.id == agent_id,
                                                         AGENT_SESSIONS.c.active.is_(True))
    if lock:
        query = query.with_for_update(read=True)
    epoch = await session.scalar(query)
    return int(epoch) if epoch is not None else None


async def session_state(db: Database, agent_id: int) -> tuple[int, str] | None:
    """(session epoch, role) of the active agent `agent_id`, or None."""
    async with db.read() as session:
        row = (await session.execute(
            select(AGENT_SESSIONS.c.session_epoch, AGENT_SESSIONS.c.role)
            .where(AGENT_SESSIONS.c.id == agent_id, AGENT_SESSIONS.c.active.is_(True))
        )).first()
    return (int(row[0]), str(row[1])) if row is not None else None


async def session_epochs(db: Database, agent_ids: Iterable[int]) -> dict[int, int]:
    """The session epoch of each active agent among `agent_ids` (inactive or unknown ones are missing)."""
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    async with db.read() as session:
        rows = await session.execute(
            select(AGENT_SESSIONS.c.id, AGENT_SESSIONS.c.session_epoch)
            .where(AGENT_SESSIONS.c.id.in_(ids), AGENT_SESSIONS.c.active.is_(True))
        )
        return {int(agent_id): int(epoch) for agent_id, epoch in rows}


async def bump_epoch(session: AsyncSession, agent_id: int) -> None:
    """End every console session of `agent_id` (inside the caller's write transaction)."""
    await session.execute(update(AGENT_SESSIONS).where(AGENT_SESSIONS.c.id == agent_id)
                          .values(session_epoch=AGENT_SESSIONS.c.session_epoch + 1))


async def end_sessions(db: Database, agent_id: int) -> None:
    """End every console session of `agent_id`, in every console process (logout)."""
    async with db.write() as session:
        await bump_epoch(session, agent_id)

