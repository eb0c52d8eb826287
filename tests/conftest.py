"""Shared fixtures: a real PostgreSQL server for the session, fresh databases per test, SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres, real_parts

_POSTGRES_FIXTURE = "postgres_server_url"

os.environ.setdefault("PTB_TIMEDELTA", "1")  # as the CLI does: no deprecation path in PTB


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the PostgreSQL server `postgres`, so `-m` can select it."""
    for item in items:
        if _POSTGRES_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


# --- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """Yield the URL of the session's test database on a real PostgreSQL 15 server."""
    if postgres.external_url() is None and (lack := postgres.missing_part()) is not None:
        real_parts.missing(lack)
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """Yield the URL of a new, empty PostgreSQL database of this test's own, dropped afterwards."""
    with postgres.fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Return the URL of an SQLite file database in this test's temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """Return a fresh database URL, once for SQLite and once for PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


# Loggers `social_care.cli.main` tunes; tests that run main() in-process must not leak that to others.
_CLI_TUNED_LOGGERS = ("httpx", "alembic.runtime.plugins", "aiohttp.access")


@pytest.fixture(autouse=True)
def _restore_cli_logging() -> Iterator[None]:
    """Put back logger levels after each test, as the CLI sets them for a whole process."""
    import logging

    saved = {name: logging.getLogger(name).level for name in _CLI_TUNED_LOGGERS}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
