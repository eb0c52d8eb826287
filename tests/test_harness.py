"""The test harness itself: real PostgreSQL, isolated per-test databases, SQLite with WAL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import postgres, real_parts


async def test_server_is_postgresql_15_through_asyncpg(postgres_server_url: str) -> None:
    """The session's server accepts an SQLAlchemy async connection and is PostgreSQL 15."""
    assert make_url(postgres_server_url).drivername == "postgresql+asyncpg"
    if (given := postgres.external_url()) is not None:
        assert postgres_server_url == given  # CI's own server is used, not a second one
    engine = create_async_engine(postgres_server_url)
    try:
        async with engine.connect() as conn:
            version_num = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
            database = (await conn.execute(text("SELECT current_database()"))).scalar_one()
    finally:
        await engine.dispose()
    assert int(version_num) // 10000 == postgres.PG_MAJOR
    assert database == postgres.TEST_DATABASE


async def test_fresh_databases_are_isolated(postgres_server_url: str, postgres_url: str) -> None:
    """A table created in one fresh database is absent from another; both are new and empty."""
    assert postgres_url != postgres_server_url
    with postgres.fresh_database(postgres_server_url) as other_url:
        assert make_url(other_url).database != make_url(postgres_url).database
        first = create_async_engine(postgres_url)
        second = create_async_engine(other_url)
        try:
            async with first.begin() as conn:
                await conn.execute(text("CREATE TABLE only_here (id int PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO only_here VALUES (1)"))
            async with first.connect() as conn:
                rows = await conn.execute(text("SELECT count(*) FROM only_here"))
                assert rows.scalar_one() == 1
            async with second.connect() as conn:
                found = await conn.execute(text("SELECT to_regclass('public.only_here')"))
                assert found.scalar_one() is None
        finally:
            await first.dispose()
            await second.dispose()


async def test_dropped_database_is_gone(postgres_server_url: str) -> None:
    """fresh_database drops its database afterwards, even with a connection still open to it."""
    with postgres.fresh_database(postgres_server_url) as url:
        name = make_url(url).database
        leaked = create_async_engine(url)
        leaked_conn = await leaked.connect()  # left open on purpose: the drop must force it
    engine = create_async_engine(postgres_server_url)
    try:
        async with engine.connect() as conn:
            left = await conn.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            )
            assert left.scalar_one() == 0
    finally:
        await engine.dispose()
        await leaked_conn.invalidate()
        await leaked.dispose()


async def test_sqlite_url_works_with_wal(sqlite_url: str, tmp_path: Path) -> None:
    """The SQLite URL points into the test's tmp dir and the file database runs in WAL mode."""
    engine = create_async_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode=WAL"))).scalar_one()
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES (1), (2)"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
            assert (tmp_path / "test.db-wal").exists()
    finally:
        await engine.dispose()
    assert mode == "wal"


async def test_database_url_runs_on_both_backends(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    """Each database_url param is a working, empty database; only the postgres one is marked."""
    backend = make_url(database_url).get_backend_name()
    assert backend == request.node.callspec.params["database_url"].replace("postgres", "postgresql")
    is_marked = request.node.get_closest_marker("postgres") is not None
    assert is_marked == (backend == "postgresql")
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 'hello')"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT body FROM t"))).scalar_one() == "hello"
    finally:
        await engine.dispose()


def test_missing_real_part_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """require() is a no-op when the part is there; skips without CI; fails with CI=true."""
    real_parts.require(True, "something present")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        real_parts.require(False, "chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium"):
        real_parts.require(False, "chromium")
