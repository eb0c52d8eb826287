"""Engines and sessions: embedded SQLite (WAL, foreign keys, serialized writers) or PostgreSQL."""
from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

DEFAULT_URL = "sqlite+aiosqlite:///social-care.db"


def normalize_url(url: str) -> str:
    """Pick the async driver for plain sqlite:// and postgresql:// URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite's implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(conn: Any) -> None:
    # A deferred transaction that reads then writes can fail with "database is locked" when
    # another writer got there first; taking the write lock up front serializes writers cleanly.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


class Database:
    """The store's connection: `write()` for transactions that change data, `read()` for queries."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            # One writer connection: SQLite allows one writer at a time anyway, and waiting on
            # the pool is cheaper than sqlite's busy-loop.
            self.write_engine = create_async_engine(self.url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=120)
            self.read_engine = create_async_engine(self.url, echo=echo, pool_size=4, max_overflow=4)
            for engine, begin in ((self.write_engine, _begin_immediate), (self.read_engine, _begin_deferred)):
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
                event.listen(engine.sync_engine, "begin", begin)
            # Hot write paths (ingest) run whole transactions on one thread with the plain sqlite3
            # driver: one thread hop per transaction instead of one per statement.
            sync_url = make_url(self.url).set(drivername="sqlite+pysqlite")
            self._sync_engine = create_engine(sync_url, pool_size=1, max_overflow=0,
                                              connect_args={"check_same_thread": False})
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)
            event.listen(self._sync_engine, "begin", _begin_immediate)
            self._sync_sessions = sessionmaker(self._sync_engine, expire_on_commit=False)
            self._writer_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        else:
            self.write_engine = create_async_engine(self.url, echo=echo, pool_size=10, max_overflow=10)
            self.read_engine = self.write_engine
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success and rolled back on error."""
        if self._write_lock is None:
            async with self._write_sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._write_sessions() as session, session.begin():
            yield session

    async def run_write(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` as one transaction, committed on success; `work` is synchronous code."""
        if self._write_lock is None:
            async with self._write_sessions() as session, session.begin():
                return await session.run_sync(work)
        async with self._write_lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._writer_thread, self._run_sync_transaction, work)

    def _run_sync_transaction(self, work: Callable[[Session], T]) -> T:
        with self._sync_sessions() as session, session.begin():
            return work(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; closing it ends the transaction without expiring what was loaded."""
        async with self._read_sessions() as session:
            yield session

    async def dispose(self) -> None:
        if self._write_lock is not None:
            await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._sync_engine.dispose)
            self._writer_thread.shutdown(wait=True)
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()

    def engine(self) -> AsyncEngine:
        return self.write_engine
