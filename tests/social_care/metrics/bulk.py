"""Bulk inserts for synthetic data: the drivers' executemany (SQLite) or COPY (PostgreSQL), no per-row typing."""
from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from social_care.store.types import UTCDateTime

_Convert = Callable[[Any], Any]


def _utc(value: datetime) -> datetime:
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).replace(tzinfo=None)


def _sqlite_instant(value: datetime | None) -> str | None:
    # The text SQLAlchemy's SQLite DateTime writes, so the store cannot tell these rows from the ORM's.
    return None if value is None else _utc(value).isoformat(" ", "microseconds")


def _naive_instant(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _json_text(value: Any) -> str:
    # Most JSON cells are {} or []: skip the encoder for them.
    if not value and isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


def _converter(column: Column[Any], postgres: bool) -> _Convert | None:
    """How a Python value becomes a driver value for this column; None when the driver takes it as is."""
    if isinstance(column.type, UTCDateTime):
        return _naive_instant if postgres else _sqlite_instant
    if isinstance(column.type, JSON):
        return _json_text
    return None


def _default(column: Column[Any]) -> Any:
    arg = column.default.arg if column.default is not None else None  # type: ignore[attr-defined]
    if callable(arg):
        try:
            arg = arg()
        except TypeError:  # SQLAlchemy wraps defaults as one-argument callables (the execution context)
            arg = arg(None)
    return arg.value if isinstance(arg, enum.Enum) else arg


async def bulk_insert(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert dict rows (ORM-style Python values; missing keys get the column's default) in one driver call."""
    if not rows:
        return
    postgres = conn.dialect.name == "postgresql"
    given = [column for column in table.columns if column.name in rows[0]]
    defaulted = [column for column in table.columns if column.name not in rows[0] and column.default is not None]
    fixed = tuple(_default(column) for column in defaulted)
    converters = [(index, convert) for index, column in enumerate([*given, *defaulted])
                  if (convert := _converter(column, postgres)) is not None]
    records: list[tuple[Any, ...]] = []
    for row in rows:
        record = [row[column.name] for column in given]
        record.extend(fixed)
        for index, convert in converters:
            record[index] = convert(record[index])
        records.append(tuple(record))
    names = [column.name for column in (*given, *defaulted)]
    if postgres:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        await driver.copy_records_to_table(table.name, columns=names, records=records)  # type: ignore[union-attr]
        return
    quoted = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    await conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', records)
