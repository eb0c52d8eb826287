"""Console sessions ended by logout, kept until their cookies expire so a restart does not revive them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from social_care.store.db import Database
from social_care.store.models import RevokedSession
from social_care.store.types import utcnow


async def revoke_session(db: Database, sid: str, expires_at: datetime) -> None:
    """Record that session `sid` ended; records of sessions that have expired anyway are dropped."""
    async with db.write() as session:
        await session.execute(delete(RevokedSession).where(RevokedSession.expires_at <= utcnow()))
        if await session.get(RevokedSession, sid) is None:
            session.add(RevokedSession(sid=sid, expires_at=expires_at))


async def revoked_sessions(db: Database, now: datetime | None = None) -> dict[str, datetime]:
    """The ended sessions whose cookies have not expired yet, with their expiry."""
    async with db.read() as session:
        rows = await session.execute(
            select(RevokedSession.sid, RevokedSession.expires_at).where(RevokedSession.expires_at > (now or utcnow()))
        )
        return {sid: expires_at for sid, expires_at in rows}
