"""A reply the platform accepted is recorded even when the database refuses the write for a while, and never sent twice."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from social_care.store.models import Event
from tests.social_care.conftest import Store
from tests.social_care.outbox.helpers import (
    Rig,
    customer_writes_and_agent_replies,
    outbox_state,
    reaches,
    run_until,
    send_calls,
    telegram_channel,
    wait_for,
)

SENDER_LOG = "social_care.outbox.sender"


def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    # The store waits 30 s on a lock before failing; the failures under test come after 100 ms.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=100")
    cursor.close()


class ForeignWriter:
    """Another connection to the SQLite file holding its write lock: every write of ours fails meanwhile."""

    def __init__(self, url: str) -> None:
        path = make_url(url).database
        assert path
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)

    async def lock(self) -> None:
        await asyncio.to_thread(self.connection.execute, "BEGIN IMMEDIATE")

    async def unlock(self) -> None:
        await asyncio.to_thread(self.connection.execute, "ROLLBACK")


@pytest.fixture
async def rig(sqlite_store: Store) -> AsyncIterator[Rig]:
    db = sqlite_store.db
    await db.write_engine.dispose()  # the next connection gets the short busy timeout too
    event.listen(db.write_engine.sync_engine, "connect", _short_busy_timeout)
    async with telegram_channel(sqlite_store) as rig:
        yield rig


@pytest.fixture
def writer(sqlite_store: Store) -> Iterator[ForeignWriter]:
    writer = ForeignWriter(sqlite_store.url)
    yield writer
    writer.connection.close()


def failed_recordings(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.name == SENDER_LOG and r.getMessage().startswith("recording outbox"))


async def locked_after_the_platform_accepted(rig: Rig, writer: ForeignWriter, caplog: pytest.LogCaptureFixture,
                                            message_id: int) -> None:
    """The send reaches Telegram slowly; the database locks meanwhile; recording the result fails, again."""
    async def request_arrived() -> bool:
        return len(send_calls(rig.sandbox)) == 1

    async def accepted() -> bool:
        return len(rig.sandbox.sent_messages(42)) == 1

    async def retried() -> bool:
        return failed_recordings(caplog) >= 3

    await wait_for(request_arrived)
    await writer.lock()  # the slow call gives 2 s for this; the failures below prove it came in time
    await wait_for(accepted)
    await wait_for(retried)
    item = await outbox_state(rig, message_id)
    assert item.state == "pending" and item.in_flight  # not lost, not free to be sent again


async def test_a_sent_reply_is_recorded_sent_once_the_database_takes_writes_again(
    rig: Rig, writer: ForeignWriter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=SENDER_LOG)
    message_id = await customer_writes_and_agent_replies(rig)
    rig.sandbox.inject_fault("sendMessage", "slow", count=1, delay=2.0)
    task = asyncio.create_task(rig.sender().run())
    try:
        await locked_after_the_platform_accepted(rig, writer, caplog, message_id)
        await writer.unlock()
        item = await reaches(rig, message_id, {"sent", "unknown", "failed"})
        later = await customer_writes_and_agent_replies(rig, chat=7, text="next")
        await reaches(rig, later, {"sent"})  # the sender went on with more rounds
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    (sent,) = rig.sandbox.sent_messages(42)  # never twice
    assert item.state == "sent" and item.platform_message_id == f"42:{sent['message_id']}"
    async with rig.store.db.read() as session:
        delivered = await session.scalar(select(func.count()).select_from(Event).where(Event.kind == "delivered"))
    assert delivered == 2  # this reply's and the later one's


async def test_a_sender_stopped_before_the_database_healed_leaves_the_reply_unknown_not_resent(
    rig: Rig, writer: ForeignWriter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=SENDER_LOG)
    message_id = await customer_writes_and_agent_replies(rig)
    rig.sandbox.inject_fault("sendMessage", "slow", count=1, delay=2.0)
    task = asyncio.create_task(rig.sender().run())
    try:
        await locked_after_the_platform_accepted(rig, writer, caplog, message_id)
    finally:
        task.cancel()  # the service stops while the database is still locked
        await asyncio.gather(task, return_exceptions=True)
    await writer.unlock()
    restarted = rig.sender()
    item = await run_until(rig, restarted, message_id, {"sent", "unknown", "failed"})
    assert item.state == "unknown" and "check the conversation on the platform" in item.last_error
    assert await restarted.run_once() == 0
    assert len(rig.sandbox.sent_messages(42)) == 1


async def test_an_outcome_the_database_keeps_refusing_ends_unknown_with_the_reason(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    async def refresh_fails(session: Any, conversation_id: int) -> None:
        raise RuntimeError("the triage rules could not be applied")

    caplog.set_level(logging.WARNING, logger=SENDER_LOG)
    message_id = await customer_writes_and_agent_replies(rig)
    item = await run_until(rig, rig.sender(after_delivery=refresh_fails), message_id, {"sent", "unknown", "failed"})
    (sent,) = rig.sandbox.sent_messages(42)
    assert item.state == "unknown" and not item.in_flight
    assert f"sent as 42:{sent['message_id']}" in item.last_error
    assert "the triage rules could not be applied" in item.last_error and "check" in item.last_error
    assert failed_recordings(caplog) >= 3  # retried before settling for "unknown"
