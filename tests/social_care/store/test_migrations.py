"""The schema is built by Alembic migrations and matches the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import create_async_engine

from social_care.cli import main
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor
from social_care.store.migrate import current_revision, upgrade
from social_care.store.models import Base, Event, Message
from social_care.store.text_search import is_search_object
from social_care.store.types import utcnow
from tests.social_care.conftest import customer_message


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not is_search_object(name)  # the search index is built by hand in migration 0004


async def test_upgrade_builds_the_schema_the_models_describe(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"include_object": include_object}),
                                           Base.metadata)
            )
    finally:
        await engine.dispose()
    assert {
        "channels",
        "contacts",
        "identities",
        "conversations",
        "messages",
        "events",
        "outbox",
        "agents",
        "cursors",
    } <= tables
    assert diff == [], f"models and migrations disagree: {diff}"


async def test_upgrade_twice_is_harmless(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(upgrade, database_url)
    assert await asyncio.to_thread(current_revision, database_url) is not None


def test_cli_db_upgrade_reports_the_database(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/cli.db"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert "latest schema" in capsys.readouterr().out
    assert current_revision(url) is not None


async def test_0006_gives_old_triage_corrections_their_message(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "0005")
    db = Database(database_url)
    try:
        channels = ChannelDirectory(db)
        await channels.register("telegram", "acme", "ACME Telegram")
        (message_id,) = (await Ingestor(db, channels)([customer_message(1)])).stored
        async with db.write() as session:
            message = await session.get(Message, message_id)
            assert message is not None
            # As revision 0005's code wrote a correction: the message only inside `data`.
            session.add(Event(conversation_id=message.conversation_id, kind="triage_corrected", at=utcnow(),
                              data={"message_id": message_id, "changes": {"queue": "marketing"}}))
            session.add(Event(conversation_id=message.conversation_id, kind="note_added", at=utcnow(),
                              data={"message_id": message_id}))
        await asyncio.to_thread(upgrade, database_url)
        async with db.read() as session:
            columns = dict((await session.execute(select(Event.kind, Event.message_id)
                                                  .where(Event.kind.in_(("triage_corrected", "note_added"))))).all())
    finally:
        await db.dispose()
    assert columns == {"triage_corrected": message_id, "note_added": None}
