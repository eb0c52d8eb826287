"""The API's one input layer: JSON bodies, path ids and query strings, checked and typed before handlers see them."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, NoReturn

from aiohttp import web
from sqlalchemy import BigInteger

from social_care.actions import Invalid
from social_care.store.models import Conversation

# Refused here with a 400 and a reason, because the store could not hold it or a handler could not use
# it: malformed or non-UTF-8 JSON, NaN and Infinity, integers beyond 64 bits, nesting deeper than any
# request needs, lone UTF-16 surrogates and NUL characters, unknown fields, fields of the wrong type.
# The application layer (`social_care.actions`) then checks meaning (a known status, a visible
# conversation), not shape.

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Row ids are the store's INTEGER primary keys: 32-bit on PostgreSQL, so a larger id names no row, and
# passing it to the database is an error there rather than an empty result.
MAX_ID = 2**63 - 1 if isinstance(Conversation.__table__.c.id.type, BigInteger) else 2**31 - 1
MAX_DEPTH = 16  # the deepest body the API takes is an object holding a list; this leaves room without risk
MAX_QUERY_LENGTH = 1000
_ID = re.compile(r"[1-9][0-9]{0,18}")  # ASCII digits only: int() also takes " 1", "1_0" and "١"
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def _refuse(reason: str) -> NoReturn:
    raise Invalid(reason)


def _shown(value: str, limit: int = 40) -> str:
    """A client's value as a reason shows it: short, and quoted unless it is plainly printable."""
    cut = value[:limit] + ("..." if len(value) > limit else "")
    return cut if cut.isprintable() and cut.isascii() and cut.strip() == cut and cut else ascii(cut)


def check_text(value: str, where: str) -> str:
    """`value` unchanged, or Invalid when it holds a lone UTF-16 surrogate or a NUL character."""
    if "\x00" in value:
        _refuse(f"{where} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        _refuse(f"{where} contains a lone UTF-16 surrogate at character {err.start}")
    return value


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > 19:
        _refuse(f"the integer {literal[:24]}... does not fit in 64 bits")
    value = int(literal)
    if not INT64_MIN <= value <= INT64_MAX:
        _refuse(f"the integer {literal} does not fit in 64 bits")
    return value


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        _refuse(f"the number {literal[:24]} is out of range")
    return value


def _parse_constant(literal: str) -> NoReturn:
    _refuse(f"{literal} is not valid JSON")


def _walk(value: object) -> Iterator[tuple[object, int]]:
    """Every value inside `value` with its depth, iteratively (no recursion on hostile input)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def parse_json(raw: bytes) -> object:
    """Strict JSON: UTF-8, no NaN or Infinity, 64-bit integers, finite floats, shallow, clean strings."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        _refuse(f"Malformed JSON: the body is not UTF-8 (byte {err.start})")
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        _refuse(f"Malformed JSON: nested more than {MAX_DEPTH} levels")
    except json.JSONDecodeError as err:
        _refuse(f"Malformed JSON: {err}")
    for item, depth in _walk(value):
        if depth > MAX_DEPTH:
            _refuse(f"Malformed JSON: nested more than {MAX_DEPTH} levels")
        if isinstance(item, str):
            check_text(item, "a string in the body")
    return value


class Body(Mapping[str, Any]):
    """A request's JSON object whose getters return the type they name or answer 400 naming the field."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def _value(self, name: str, required: bool) -> object:
        if name not in self._data:
            if required:
                _refuse(f"missing field: {name}")
            return None
        return self._data[name]

    def required(self, name: str) -> object:
        """A field that must be present, of any JSON type, for a cleaner that explains its own types."""
        return self._value(name, True)

    def text(self, name: str, *, required: bool = False, nullable: bool = False) -> str | None:
        """A string field; None when absent (or null, if `nullable`)."""
        value = self._value(name, required)
        if value is None and (nullable or name not in self._data):
            return None
        if not isinstance(value, str):
            _refuse(f"{name} must be a string{' or null' if nullable else ''}")
        return value

    def required_text(self, name: str) -> str:
        """A string field that must be present."""
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, low: int = INT64_MIN, nullable: bool = True) -> int | None:
        """An integer field (not a boolean, not a float) at least `low`; None when absent or null."""
        value = self._value(name, False)
        if value is None and (nullable or name not in self._data):
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            _refuse(f"{name} must be an integer")
        if value < low:
            _refuse(f"{name} must be at least {low}")
        return value

    def row_id(self, name: str) -> int | None:
        """A field naming a row by id (1 to MAX_ID); None when absent or null."""
        value = self.integer(name, low=1)
        if value is not None and value > MAX_ID:
            _refuse(f"{name} must be an id between 1 and {MAX_ID}")
        return value

    def boolean(self, name: str) -> bool | None:
        """A true/false field; None when absent."""
        value = self._value(name, False)
        if name in self._data and not isinstance(value, bool):
            _refuse(f"{name} must be true or false")
        return value  # type: ignore[return-value]

    def strings(self, name: str, *, required: bool = False) -> list[str] | None:
        """A list of strings; None when absent."""
        value = self._value(name, required)
        if name not in self._data:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            _refuse(f"{name} must be a list of strings")
        return value


async def read_body(request: web.Request, *, fields: Collection[str] | None) -> Body:
    """The request's JSON object with only `fields` in it, or a 4xx saying what is wrong.

    `fields=None` leaves unknown names to a domain validator that explains them better.
    """
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="Content-Type must be application/json")
    value = parse_json(await request.read())
    if not isinstance(value, dict):
        _refuse("The body must be a JSON object")
    unknown = sorted(set(value) - set(fields)) if fields is not None else []
    if unknown:
        _refuse(f"unknown field(s): {', '.join(_shown(name) for name in unknown[:5])}; "
                f"this endpoint takes {', '.join(sorted(fields)) or 'no fields'}")
    return Body(value)


def path_id(request: web.Request, name: str = "id") -> int:
    """A path segment that must be a row id: an integer from 1 to MAX_ID in ASCII digits."""
    raw = request.match_info[name]
    if not _ID.fullmatch(raw) or int(raw) > MAX_ID:
        _refuse(f"{name} must be a positive integer id (1 to {MAX_ID}), not {_shown(raw)}")
    return int(raw)


def query_text(request: web.Request, name: str, *, limit: int = MAX_QUERY_LENGTH) -> str | None:
    """A query parameter as a clean string (at most `limit` characters), or None when absent."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if len(raw) > limit:
        _refuse(f"{name} is {len(raw)} characters; the limit is {limit}")
    return check_text(raw, name)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high], or `default` when absent."""
    raw = query_text(request, name, limit=24)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        _refuse(f"{name} must be an integer, not {_shown(raw)}")
    value = int(raw)
    if not low <= value <= high:
        _refuse(f"{name} must be between {low} and {high}")
    return value


def query_choices(request: web.Request, name: str, allowed: Collection[str]) -> tuple[str, ...] | None:
    """A comma-separated query parameter whose every item is in `allowed`; None when absent or empty."""
    raw = query_text(request, name)
    if not raw:
        return None
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    bad = [v for v in values if v not in allowed]
    if bad:
        _refuse(f"{name} must be among {', '.join(sorted(allowed))}; got {', '.join(_shown(v) for v in bad[:5])}")
    return values

