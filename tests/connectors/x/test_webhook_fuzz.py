"""Signed X deliveries of hostile and odd shapes, on SQLite and PostgreSQL: never a 5xx, always a JSON answer."""
from __future__ import annotations

import copy
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from connectors.x.webhook import MAX_BODY, SIGNATURE_HEADER, sign_body, webhook_path, webhook_routes
from social_care.secrets import Secret
from tests.connectors.x.helpers import BRAND_ID, CONSUMER_SECRET, CTX, Store, fixture, open_store_at

PATH = webhook_path(CTX.channel_key)
SECRET = Secret(CONSUMER_SECRET)

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = await open_store_at(database_url)
    yield store
    await store.db.dispose()


@pytest.fixture
async def client(aiohttp_client: ClientFactory, store: Store) -> TestClient:
    app = web.Application(client_max_size=4 * MAX_BODY)
    app.router.add_routes(webhook_routes(ctx=CTX, consumer_secret=SECRET, ingest=store.ingest))
    return await aiohttp_client(app)


_ids = itertools.count(1790000000000500000)


def _mention() -> dict[str, Any]:
    """A customer's mention with ids of its own, so that dedup never hides what a case changed."""
    payload = fixture("aaa_tweet_create")
    tweet = payload["tweet_create_events"][0]
    tweet["id"] = next(_ids)
    tweet["id_str"] = str(tweet["id"])
    tweet["user"]["id"] = next(_ids)
    tweet["user"]["id_str"] = str(tweet["user"]["id"])
    return payload


def _dm() -> dict[str, Any]:
    """A customer's DM (and the brand's echo) with ids of its own."""
    payload = fixture("aaa_dm")
    for event in payload["direct_message_events"]:
        event["id"] = str(next(_ids))
    return payload


def _with(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of `base` with the value at `path` replaced."""
    payload = copy.deepcopy(base)
    target: Any = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return payload


TWEET = ("tweet_create_events", 0)
DM = ("direct_message_events", 0)
ODD_VALUES: list[Any] = [None, True, 0, -1, 2**64, 10**30, 1.5, float("inf"), "", "²", "١٢٣", "x" * 5000,
                         [], {}, [None], {"a": {"b": []}}]
ODD_TEXTS = ["\u202eevil\u202c", "zero\u200bwidth", "emoji 👩‍👩‍👧‍👦" * 50, "<script>alert(1)</script>",
             "\ud800 lone surrogate", "nul \x00 byte", "x" * 200_000]


def _bodies() -> Iterator[tuple[str, bytes]]:
    """(name, raw body) of every hostile delivery, each to be signed with the real secret."""
    for name, body in [("empty object", b"{}"), ("array", b"[]"), ("string", b'"abcdefgh"'), ("null", b"null"),
                       ("number", b"12345678"), ("NaN", b"NaN"), ("deep array", b"[" * 100_000),
                       ("deep object", b'{"a":' * 50_000), ("utf-16", json.dumps(_dm()).encode("utf-16")),
                       ("latin-1", '{"for_user_id": "1000", "x": "caf\xe9"}'.encode("latin-1")),
                       ("huge int", b'{"for_user_id": ' + b"9" * 5000 + b"}"),
                       ("duplicate keys", b'{"for_user_id": "1000", "for_user_id": "2000"}')]:
        yield name, body
    for value in ODD_VALUES:
        yield f"for_user_id={value!r:.20}", json.dumps({"for_user_id": value, "tweet_create_events": []}).encode()
        yield f"tweet_create_events={value!r:.20}", json.dumps({"for_user_id": BRAND_ID,
                                                                "tweet_create_events": value}).encode()
        yield f"direct_message_events={value!r:.20}", json.dumps({"for_user_id": BRAND_ID,
                                                                  "direct_message_events": value}).encode()
        yield f"users={value!r:.20}", json.dumps(_with(_dm(), ("users",), value)).encode()
        for field in ("id_str", "id", "created_at", "timestamp_ms", "text", "user", "truncated", "extended_tweet",
                      "entities", "extended_entities", "edit_history", "retweeted_status", "quoted_status_id_str",
                      "in_reply_to_status_id_str"):
            yield f"tweet.{field}={value!r:.20}", json.dumps(_with(_mention(), (*TWEET, field), value)).encode()
        for field in ("id_str", "screen_name", "name", "followers_count", "verified"):
            yield (f"tweet.user.{field}={value!r:.20}",
                   json.dumps(_with(_mention(), (*TWEET, "user", field), value)).encode())
        for field in ("id", "type", "created_timestamp", "message_create"):
            yield f"dm.{field}={value!r:.20}", json.dumps(_with(_dm(), (*DM, field), value)).encode()
        for field in ("sender_id", "message_data", "target"):
            yield (f"dm.message_create.{field}={value!r:.20}",
                   json.dumps(_with(_dm(), (*DM, "message_create", field), value)).encode())
        yield (f"dm.attachment={value!r:.20}",
               json.dumps(_with(_dm(), (*DM, "message_create", "message_data", "attachment"), value)).encode())
    for text in ODD_TEXTS:
        yield f"tweet text {text[:12]!r}", json.dumps(_with(_mention(), (*TWEET, "text"), text)).encode()
        yield f"dm text {text[:12]!r}", json.dumps(
            _with(_dm(), (*DM, "message_create", "message_data", "text"), text)).encode()
        yield f"author name {text[:12]!r}", json.dumps(_with(_mention(), (*TWEET, "user", "name"), text)).encode()
    for created_at in ["Mon Jan 01 00:00:00 +0100 0001", "Fri Dec 31 23:59:59 -0100 9999", "yesterday"]:
        payload = _with(_mention(), (*TWEET, "timestamp_ms"), None)
        yield f"created_at {created_at}", json.dumps(_with(payload, (*TWEET, "created_at"), created_at)).encode()
    yield "media as a number", json.dumps(_with(_mention(), (*TWEET, "entities"), {"media": 5})).encode()
    yield "10,000 media", json.dumps(_with(_mention(), (*TWEET, "entities"),
                                           {"media": [{"type": "photo", "id_str": str(n)}
                                                      for n in range(10_000)]})).encode()
    yield "nesting 900 deep in an event", (json.dumps(_mention())[:-3] + ', "deep": ' + "[" * 900 + "]" * 900
                                           + "}]}").encode()
    yield "NaN and Infinity in an event", json.dumps(_with(_mention(), (*TWEET, "odd"), [float("nan"),
                                                                                        float("inf")])).encode()
    yield "edit from another author", json.dumps(_with(_mention(), (*TWEET, "edit_history"),
                                                       {"edit_tweet_ids": ["1", "2"]})).encode()


BODIES = list(_bodies())


async def test_hostile_signed_deliveries_never_get_a_5xx(client: TestClient, store: Store) -> None:
    failures: list[str] = []
    for name, body in BODIES:
        resp = await client.post(PATH, data=body, headers={"Content-Type": "application/json",
                                                           SIGNATURE_HEADER: sign_body(SECRET, body)})
        text = await resp.text()
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if resp.status >= 500 or not isinstance(answer, dict) or not ({"ok", "error"} & answer.keys()):
            failures.append(f"{name}: {resp.status} {text[:200]}")
    assert not failures, f"{len(failures)} of {len(BODIES)} deliveries failed:\n" + "\n".join(failures)
    # The well-formed ones among them still reached the store, so the store kept working.
    assert await store.source_ids()


async def test_hostile_crc_tokens_never_get_a_5xx(client: TestClient) -> None:
    tokens = ["", " ", "a" * 5000, "\x00" * 8, "%ff%fe" * 4, "é" * 10, json.dumps(_dm()), "\ud800" * 8]
    for token in tokens:
        resp = await client.get(PATH, params={"crc_token": token})
        assert resp.status == 400, (token[:20], resp.status)
        assert "error" in await resp.json()
    for raw in ["crc_token=%ff%fe%fd%fc%fb%fa%f9%f8", "crc_token=a&crc_token=%7B%7D", "crc_token"]:
        resp = await client.get(f"{PATH}?{raw}")
        assert resp.status == 400, (raw, resp.status)
