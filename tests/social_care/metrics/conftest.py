"""Fixtures for the metrics tests: a fake clock for the code that stamps events, and the scripted week."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from social_care.store.db import Database
from social_care.store.migrate import upgrade
from tests.social_care.metrics.scenario import FakeClock, Scenario, play


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every module that writes events reads this clock instead of the real one."""
    return FakeClock(monkeypatch)


@pytest.fixture
async def scenario(database_url: str, clock: FakeClock) -> AsyncIterator[Scenario]:
    """The week of scenario.py written into a fresh SQLite or PostgreSQL store."""
    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    try:
        yield Scenario(db, database_url, await play(db, clock))
    finally:
        await db.dispose()
