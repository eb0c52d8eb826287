"""Logged-out console sessions are recorded until their cookies expire."""
from __future__ import annotations

from datetime import timedelta

from social_care.store.sessions import revoke_session, revoked_sessions
from social_care.store.types import utcnow


async def test_a_logout_is_kept_until_the_cookie_expires_and_then_dropped(store) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    await revoke_session(store.db, "sid-1", now + timedelta(hours=12))
    await revoke_session(store.db, "sid-1", now + timedelta(hours=12))  # a second logout of one cookie
    await revoke_session(store.db, "sid-old", now + timedelta(seconds=1))
    ended = await revoked_sessions(store.db, now)
    assert set(ended) == {"sid-1", "sid-old"}
    assert abs((ended["sid-1"] - (now + timedelta(hours=12))).total_seconds()) < 1e-3
    assert set(await revoked_sessions(store.db, now + timedelta(seconds=2))) == {"sid-1"}
    await revoke_session(store.db, "sid-past", now - timedelta(seconds=1))
    assert "sid-past" in await revoked_sessions(store.db, now - timedelta(days=1))
    await revoke_session(store.db, "sid-2", now + timedelta(hours=1))  # records already expired are dropped
    assert set(await revoked_sessions(store.db, now - timedelta(days=1))) == {"sid-1", "sid-2", "sid-old"}
