"""The attacks of issue 11 on the REST API, one by one: each is a 4xx with a JSON reason, never a 500."""
from __future__ import annotations

from sqlalchemy import func, select, text

from social_care.config import Settings
from social_care.service import build_app, build_runtime
from social_care.store.models import Message
from tests.social_care.api.raw_http import RawResponse, send
from tests.social_care.api.test_routes import Api, api, seed  # noqa: F401 (fixture)

DEEP = 100_000


async def _raw(api: Api, method: str, target: bytes | str, body: bytes = b"", *, who: str | None = "alice",
               headers: list[tuple[bytes, bytes]] | None = None) -> RawResponse:
    sent = list(headers or [])
    if who is not None:
        sent.append((b"Authorization", f"Bearer {api.tokens[who]}".encode()))
    if method != "GET":
        sent.append((b"Content-Type", b"application/json"))
    server = api.client.server
    return await send(server.host, server.port, method, target, headers=sent, body=body)


def _reason(response: RawResponse) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.body[:200]
    body = response.strict_json()
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]
    return body["error"]


async def _messages(api: Api) -> int:
    async with api.runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


HOSTILE_BODIES = [  # (route under /api/conversations/{id}/, raw body, part of the reason)
    ("notes", b"[" * DEEP, "nested"),
    ("notes", b'{"text": ' + b"[" * 40 + b"]" * 40 + b"}", "nested"),
    ("status", b'{"status": []}', "status must be a string"),
    ("status", b'{"status": {"$ne": 1}}', "status must be a string"),
    ("assign", b'{"assignee": ["max"]}', "assignee must be a string"),
    ("forward", b'{"queue": ["marketing"]}', "queue must be a string"),
    ("notes", b'{"text": "hi \\ud800 there"}', "surrogate"),
    ("notes", b'{"text": "\\udfff"}', "surrogate"),
    ("notes", b'{"text": "a\\u0000b"}', "NUL"),
    ("notes", b'{"text\\u0000": "a"}', "NUL"),
    ("replies", b'{"text": "hi", "reply_to_message_id": 99999999999999999999999}', "64 bits"),
    ("replies", b'{"text": "hi", "reply_to_message_id": 9223372036854775808}', "64 bits"),
    ("replies", b'{"text": "hi", "reply_to_message_id": ' + b"9" * 5000 + b"}", "64 bits"),
    ("replies", b'{"text": "hi", "reply_to_message_id": 2147483648}', "id between 1 and 2147483647"),
    ("replies", b'{"text": "hi", "reply_to_message_id": 1.5}', "must be an integer"),
    ("replies", b'{"text": "hi", "reply_to_message_id": true}', "must be an integer"),
    ("replies", b'{"text": NaN}', "NaN"),
    ("replies", b'{"text": "hi", "reply_to_message_id": -Infinity}', "Infinity"),
    ("replies", b'{"text": "hi", "reply_to_message_id": 1e999}', "out of range"),
    ("notes", '{"text": "caffè"}'.encode("latin-1"), "UTF-8"),
    ("notes", '{"text": "hi"}'.encode("utf-16"), "UTF-8"),
    ("notes", b"", "Malformed JSON"),
    ("notes", b'{"text": "hi", "txet": "typo"}', "unknown field(s): txet"),
    ("snooze", b'{"until": "9999-12-31T23:59:59-23:59"}', "out of range"),
    ("snooze", b'{"until": "0001-01-01T00:00:00+23:59"}', "out of range"),
]


async def test_hostile_bodies_are_400_with_a_reason_and_store_nothing(api: Api) -> None:
    (cid,) = await seed(api, 1)
    before = await _messages(api)
    for route, body, reason in HOSTILE_BODIES:
        response = await _raw(api, "POST", f"/api/conversations/{cid}/{route}", body)
        assert response.status == 400, (route, body[:80], response.body[:300])
        assert reason in _reason(response), (route, body[:80])
    assert await _messages(api) == before


BAD_IDS = [  # (method, path, status, part of the reason)
    ("GET", "/api/conversations/99999999999999999999999", 400, "positive integer"),
    ("GET", "/api/conversations/9223372036854775808", 400, "positive integer"),
    ("GET", "/api/conversations/abc", 400, "positive integer"),
    ("GET", "/api/conversations/0", 400, "positive integer"),
    ("GET", "/api/conversations/-1", 400, "positive integer"),
    ("GET", "/api/conversations/1.0", 400, "positive integer"),
    ("GET", "/api/conversations/%D9%A1", 400, "positive integer"),  # ARABIC-INDIC DIGIT ONE: int() takes it
    ("GET", "/api/conversations/%00", 400, "positive integer"),
    ("GET", "/api/conversations/2147483647", 404, "not found"),
    ("GET", "/api/conversations/2147483648", 400, "positive integer"),  # ids are 32-bit on PostgreSQL
    ("GET", "/api/conversations/9223372036854775807", 400, "positive integer"),
    ("POST", "/api/conversations/99999999999999999999999/notes", 400, "positive integer"),
    ("GET", "/api/messages/99999999999999999999999", 400, "positive integer"),
    ("POST", "/api/messages/x/retry", 400, "positive integer"),
    ("DELETE", "/api/canned-replies/1e3", 400, "positive integer"),
    ("PATCH", "/api/canned-replies/18446744073709551616", 400, "positive integer"),
]


async def test_path_ids_must_be_row_ids_else_400(api: Api) -> None:
    for method, path, status, reason in BAD_IDS:
        response = await _raw(api, method, path, b'{"text": "hi"}' if method != "GET" else b"", who="max")
        assert response.status == status, (method, path, response.body[:300])
        assert reason in _reason(response), (method, path)


HOSTILE_QUERIES = ["channel=%00", "channel=telegram:%00", "assignee=a%00b", "status=open%00",
                   "limit=99999999999999999999999", "offset=%00", "limit=%D9%A1", "channel=" + "x" * 5000]


async def test_hostile_query_strings_are_400(api: Api) -> None:
    await seed(api, 1)
    for query in HOSTILE_QUERIES:
        response = await _raw(api, "GET", f"/api/conversations?{query}")
        assert response.status == 400, (query[:80], response.body[:300])
        _reason(response)


BAD_AUTHORIZATION = [b"Bearer sc_\xff\xfe\xfd", b"Bearer \xc3\x28", b"Bearer sc_t\xc3\xb6ken", b"\xff\xfe sc_x",
                     b"Bearer " + b"a" * 4000, b"Bearer sc_\x80\x81"]


async def test_a_malformed_authorization_header_is_a_401_not_a_500(api: Api) -> None:
    for value in BAD_AUTHORIZATION:
        response = await _raw(api, "GET", "/api/me", who=None, headers=[(b"Authorization", value)])
        assert response.status == 401, (value[:40], response.body[:300])
        assert response.headers["www-authenticate"].startswith("Bearer")
        _reason(response)


async def test_non_finite_numbers_in_the_store_are_served_as_null(api: Api) -> None:
    """Older versions could store NaN (and PostgreSQL floats hold it); the API must still emit valid JSON."""
    (cid,) = await seed(api, 1)
    async with api.runtime.db.write() as session:
        message_id = await session.scalar(select(Message.id).where(Message.conversation_id == cid))
        if api.runtime.db.dialect == "sqlite":
            # Raw SQL on purpose: the store's own serializer may refuse NaN, but old rows hold it.
            await session.execute(text("UPDATE messages SET triage = :triage, attachments = :attachments "
                                       "WHERE id = :id"),
                                  {"triage": '{"queue": "support", "score": NaN, "sentiment": -Infinity}',
                                   "attachments": '[{"kind": "photo", "size": Infinity}]', "id": message_id})
            await session.execute(text("UPDATE conversations SET sentiment = 9e999 WHERE id = :id"), {"id": cid})
        else:
            await session.execute(text("UPDATE messages SET sentiment = 'NaN'::float8 WHERE id = :id"),
                                  {"id": message_id})
            await session.execute(text("UPDATE conversations SET sentiment = '-Infinity'::float8 WHERE id = :id"),
                                  {"id": cid})
    for path in (f"/api/conversations/{cid}", "/api/conversations", f"/api/messages/{message_id}"):
        response = await _raw(api, "GET", path)
        assert response.status == 200
        body = response.strict_json()  # raises on NaN / Infinity
        assert isinstance(body, dict)
    detail = (await _raw(api, "GET", f"/api/conversations/{cid}")).strict_json()
    assert isinstance(detail, dict) and detail["sentiment"] is None
    message = detail["messages"][0]
    if api.runtime.db.dialect == "sqlite":
        assert message["analysis"]["triage"]["score"] is None and message["attachments"][0]["size"] is None
        assert message["analysis"]["triage"]["queue"] == "support"
    else:
        assert message["analysis"]["sentiment"] is None


def _matches(template: str, path: str) -> bool:
    """Whether an OpenAPI path template (`/api/messages/{id}`) covers an app path (`/webhooks/x/acme`)."""
    wanted, given = template.split("/"), path.split("/")
    return len(wanted) == len(given) and all(w == g or w.startswith("{") for w, g in zip(wanted, given, strict=True))


async def test_the_openapi_document_lists_every_route_of_the_app(sqlite_url: str, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    channels = (
        {"platform": "telegram", "key": "acme", "token": "1:x", "mode": "webhook", "secret_token": "s3cret"},
        {"platform": "x", "key": "acme", "user_id": "1000", "webhooks": True, "consumer_key": "ck",
         "consumer_secret": "cs", "access_token": "at", "access_token_secret": "ats"},
    )
    runtime = await build_runtime(Settings(database_url=sqlite_url, channels=channels), stages=[])
    try:
        client = await aiohttp_client(build_app(runtime, background=False))
        document = await (await client.get("/api/openapi.json")).json()
        registered = [(route.method.lower(), route.resource.canonical) for route in client.app.router.routes()
                      if route.method != "HEAD" and route.resource is not None]
        assert ("post", "/webhooks/telegram/acme") in registered and ("get", "/webhooks/x/acme") in registered
        undocumented = []
        for method, canonical in registered:
            documented = [path for path in document["paths"] if _matches(path, canonical)]
            if not any(method in document["paths"][path] for path in documented):
                undocumented.append(f"{method.upper()} {canonical}")
        assert undocumented == []
        reply = document["paths"]["/api/conversations/{id}/replies"]["post"]["requestBody"]
        properties = reply["content"]["application/json"]["schema"]["properties"]
        assert set(properties["mode"]["enum"]) == {"private", "public", "move_to_dm"}
        assert "public_text" in properties
        assert properties["reply_to_message_id"]["maximum"] == 2**31 - 1
        assert "400" in document["paths"]["/api/conversations/{id}"]["get"]["responses"]
    finally:
        await runtime.db.dispose()
