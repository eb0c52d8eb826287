"""Alembic migrations run programmatically (`social-care db upgrade`)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from social_care.store.db import normalize_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database schema to `revision`; safe to run on every start, from any thread."""
    import asyncio
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(alembic_config(url), revision)
        return
    # Alembic's async env runs its own event loop, which cannot nest inside the caller's.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(url), revision).result()


def current_revision(url: str) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> str | None:
        engine = create_async_engine(normalize_url(url))
        try:
            async with engine.connect() as conn:
                def get(sync_conn):  # type: ignore[no-untyped-def]
                    from alembic.runtime.migration import MigrationContext

                    return MigrationContext.configure(sync_conn).get_current_revision()

                return await conn.run_sync(get)
        finally:
            await engine.dispose()

    return asyncio.run(read())
