"""Hostile bodies on the Telegram webhook, on SQLite and PostgreSQL: never a 5xx; poison is stored once and acked."""
from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from connectors.telegram.webhook import SECRET_HEADER
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor
from social_care.store.migrate import upgrade
from social_care.store.models import Conversation, Event, Identity, Message
from social_care.store.sanitize import MAX_DEPTH
from tests.connectors.telegram.helpers import CHANNEL, Store, fixture
from tests.connectors.telegram.test_webhook import SECRET, URL, make_app

ClientFactory = Callable[..., Awaitable[TestClient]]
HEADERS = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
LONE_HIGH, LONE_LOW = "\ud83d", "\udfff"
BIG = 10**30  # beyond 64 bits
HUGE = 10**200  # its digits alone are longer than any id column


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """The real store on SQLite and on PostgreSQL, with the telegram:acme channel."""
    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    channels = ChannelDirectory(db)
    await channels.register("telegram", CHANNEL)
    yield Store(db=db, channels=channels, ingest=Ingestor(db, channels))
    await db.dispose()


@pytest.fixture
async def client(aiohttp_client: ClientFactory, store: Store) -> TestClient:
    return await aiohttp_client(make_app(store.ingest))


async def post(client: TestClient, body: bytes | str) -> tuple[int, Any]:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    resp = await client.post(URL, data=data, headers=HEADERS)
    assert resp.content_type == "application/json", (resp.status, await resp.text())
    return resp.status, await resp.json()


def encode(update: Any) -> str:
    """JSON as an attacker writes it: NaN and Infinity allowed, surrogates escaped as \\uXXXX."""
    return json.dumps(update, allow_nan=True)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = {"n": value} if i % 2 else [value]
    return value


def assert_storable(value: Any) -> None:
    """Strict JSON (no NaN, no lone surrogates, no NUL) with integers a 64-bit reader can hold."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # raises on a lone surrogate
    assert "\\u0000" not in text and "\x00" not in text

    def walk(item: Any) -> None:
        if isinstance(item, bool):
            return
        if isinstance(item, int):
            assert -(2**63) <= item < 2**63
        elif isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)

    walk(value)


def poison_cases() -> Iterator[tuple[str, str, str]]:
    """(name, body, the source id the stored message gets) for valid updates carrying poison values."""
    def base(n: int, name: str = "private_text") -> dict[str, Any]:
        update = fixture(name)
        update["update_id"] += n
        update["message"]["message_id"] += 1000 + n
        return update

    def source(update: dict[str, Any]) -> str:
        body = update.get("message") or update["edited_message"]
        return f"{body['chat']['id']}:{body['message_id']}"

    update = base(1)
    update["message"]["text"] = f"broken {LONE_HIGH} emoji and a {LONE_LOW} too"
    yield "lone surrogates in the text", encode(update), source(update)
    update = base(2)
    update["message"]["from"]["first_name"] = "An" + LONE_LOW + "na"
    update["message"]["from"]["username"] = LONE_HIGH
    yield "lone surrogates in names", encode(update), source(update)
    update = base(3)
    update["message"]["text"] = "nul\x00inside"
    update["message"]["from"]["last_name"] = "Ro\x00ssi"
    yield "NUL characters", encode(update), source(update)
    update = base(4)
    update["message"]["from"]["first_name"] = "A" * 5000
    update["message"]["from"]["username"] = "u" * 1000
    yield "names longer than their column", encode(update), source(update)
    update = base(5)
    update["message"]["chat"]["id"] = update["message"]["from"]["id"] = BIG
    yield "ids beyond 64 bits", encode(update), source(update)
    update = base(6)
    update["message"]["chat"]["id"] = update["message"]["from"]["id"] = HUGE
    yield "ids longer than their column", encode(update), source(update)
    update = base(7, "location")
    update["message"]["location"] = {"latitude": float("nan"), "longitude": float("inf")}
    yield "NaN and Infinity coordinates", encode(update), source(update)
    update = base(8, "location")
    body = encode(update).replace("45.464211", "1" + "0" * 400)  # an integer too big for a float
    yield "a coordinate beyond a float", body, source(update)
    update = base(9)
    update["message"]["future_field"] = {"nan": float("nan"), "big": BIG, "deep": nested(300),
                                         LONE_HIGH + "key": "x", "nul\x00key": [-float("inf")]}
    yield "poison in fields nobody reads", encode(update), source(update)
    update = base(10, "document")
    update["message"]["document"]["file_size"] = BIG
    update["message"]["document"]["file_name"] = "report" + LONE_LOW + ".pdf"
    yield "a document with poison metadata", encode(update), source(update)
    update = base(11, "sticker")
    update["message"]["sticker"]["emoji"] = {"deep": nested(100), "nan": float("nan")}
    yield "a sticker with a nested emoji", encode(update), source(update)


POISON = list(poison_cases())


@pytest.mark.parametrize("body, source_id", [(b, s) for _, b, s in POISON], ids=[n for n, _, _ in POISON])
async def test_a_poison_but_valid_update_is_stored_once_and_acknowledged(
    client: TestClient, store: Store, body: str, source_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = await post(client, body)
    again = await post(client, body)  # Telegram's redelivery

    assert first == (200, {"ok": True}) and again == (200, {"ok": True})
    (message,) = await store.messages()
    stored_id = message.platform_message_id
    assert stored_id is not None and len(stored_id) <= 128
    if len(source_id) <= 128:
        assert stored_id == source_id
    assert_storable({"text": message.text, "raw": message.raw, "attachments": message.attachments})
    (identity,) = await store.identities()
    assert_storable([identity.display_name, identity.handle, identity.platform_user_id])
    (received,) = await store.events("received")
    assert received.data["sanitized"], "the timeline says what was changed"
    assert_storable(received.data)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Logs name ids, never the text of the message.
    assert not [r for r in caplog.records if "sanitized" in r.getMessage() and "broken" in r.getMessage()]


async def test_the_cleaned_copy_keeps_what_can_be_kept(client: TestClient, store: Store) -> None:
    by_name = {name: (body, source) for name, body, source in POISON}
    for name in ("lone surrogates in the text", "NaN and Infinity coordinates", "ids beyond 64 bits",
                 "ids longer than their column", "poison in fields nobody reads"):
        status, _ = await post(client, by_name[name][0])
        assert status == 200, name
    text_message, location, big, huge, future = await store.messages()

    assert text_message.text == "broken \ufffd emoji and a \ufffd too"
    assert location.attachments == [{"kind": "location", "latitude": None, "longitude": None}]
    assert big.platform_message_id == f"{BIG}:{1000 + 5 + 17}"
    assert big.raw["message"]["chat"]["id"] == str(BIG)  # the digits are kept, as text
    assert huge.platform_message_id.startswith(str(HUGE)[:20]) and len(huge.platform_message_id) == 128
    future_field = future.raw["message"]["future_field"]
    assert future_field["nan"] is None and future_field["big"] == str(BIG)
    assert "\ufffdkey" in future_field and "nul\ufffdkey" in future_field
    depth, node = 0, future_field["deep"]
    while isinstance(node, dict | list):
        node = node["n"] if isinstance(node, dict) else node[0]
        depth += 1
    assert node is None and depth < MAX_DEPTH  # cut where the nesting got absurd, and said so
    (event,) = [e for e in await store.events("received") if e.message_id == future.id]
    assert any("nested deeper" in change for change in event.data["sanitized"])


async def test_a_poison_edit_is_applied_once(client: TestClient, store: Store) -> None:
    original = fixture("private_text")
    assert (await post(client, encode(original)))[0] == 200
    edit = fixture("edited_message")
    edit["edited_message"]["message_id"] = original["message"]["message_id"]
    edit["edited_message"]["text"] = "edited with " + LONE_HIGH + "\x00"
    for _ in range(2):
        assert await post(client, encode(edit)) == (200, {"ok": True})

    (message,) = await store.messages()
    assert message.text == "edited with \ufffd\ufffd"
    (edited,) = await store.events("edited")
    assert edited.data["sanitized"]


# --- hostile bodies: nothing may answer 5xx ------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    None, True, 0, -1, BIG, -BIG, HUGE, 1.5, float("nan"), float("inf"), "", "x" * 10_000,
    LONE_HIGH, "\x00", [], {}, [[]], {"a": {}}, nested(200), "not a number", {"id": BIG, "type": "private"},
]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value, containers included."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, (*path, index))


def replaced(update: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(update)
    node = copied
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copied


def hostile_bodies() -> Iterator[bytes | str]:
    """Every field of several real updates replaced by each hostile value, then raw garbage."""
    rng = random.Random(11)
    for name in ("private_text", "photo_caption", "location", "contact", "edited_message", "my_chat_member_kicked",
                 "document", "private_reply", "channel_post"):
        update = fixture(name)
        for path in leaves(update):
            for value in rng.sample(HOSTILE_VALUES, 3):
                yield encode(replaced(update, path, value))
    yield from [
        b"", b"null", b"[]", b"\"text\"", b"123", b"{", b"{}", b"\xff\xfe\x00garbage", b"{\"update_id\": 1}",
        "[" * 100_000 + "]" * 100_000, "{\"a\":" * 50_000 + "1" + "}" * 50_000,
        "{\"update_id\": " + "9" * 5000 + ", \"message\": {}}",  # more digits than Python converts
        "{\"update_id\": 1, \"message\": " + json.dumps(nested(900)) + "}",
        b"{\"update_id\": 1, \"message\": {\"text\": \"\\ud800\"}}",
        "{\"update_id\": 1, \"" + LONE_LOW + "\": {}}",
    ]
    for _ in range(100):
        update = fixture(rng.choice(["private_text", "sticker", "voice", "video"]))
        for _ in range(rng.randint(2, 5)):
            path = rng.choice(list(leaves(update)))
            update = replaced(update, path, rng.choice(HOSTILE_VALUES))
        yield encode(update)


async def test_hostile_bodies_never_get_a_5xx(
    client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    statuses: dict[int, int] = {}
    for body in hostile_bodies():
        status, answer = await post(client, body)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (status, answer, body[:300])
        if status == 400:
            assert isinstance(answer.get("error"), str)
        # A redelivery of an acknowledged body stores nothing new.
        if status == 200:
            before = await store.count(Message)
            assert (await post(client, body))[0] == 200
            assert await store.count(Message) == before

    assert statuses.get(200, 0) > 50 and statuses.get(400, 0) > 50, statuses
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    async with store.db.read() as session:
        for model in (Message, Identity, Conversation, Event):
            rows = (await session.scalars(select(model))).all()
            for row in rows:
                assert_storable({c.name: getattr(row, c.name) for c in model.__table__.columns
                                 if isinstance(getattr(row, c.name), str | int | float | dict | list)})
