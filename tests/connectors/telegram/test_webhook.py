"""The Telegram webhook receiver: verify, parse, store in the real store, then acknowledge."""
from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, unused_port

from connectors.telegram.connector import TelegramConfigError, TelegramConnector
from connectors.telegram.sandbox import TelegramSandbox
from connectors.telegram.webhook import MAX_BODY, SECRET_HEADER, webhook_route
from social_care.domain import CursorUpdate, Inbound
from social_care.secrets import Secret
from social_care.store.models import Conversation, Event, Identity, Message
from tests.connectors.telegram.helpers import CHANNEL, Store, fixture, open_store

SECRET = "s3cr3t-TOKEN_for-acme"
URL = f"/webhooks/telegram/{CHANNEL}"
TOKEN = "123456789:SANDBOX-token"
ANNA = 424242424

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    store = await open_store(tmp_path)
    yield store
    await store.db.dispose()


def make_app(ingest: Any, *, include_groups: bool = False, client_max_size: int = 1024**2) -> web.Application:
    app = web.Application(client_max_size=client_max_size)
    app.router.add_routes(
        [webhook_route(channel_key=CHANNEL, secret_token=Secret(SECRET), ingest=ingest, include_groups=include_groups)]
    )
    return app


@pytest.fixture
async def client(aiohttp_client: ClientFactory, store: Store) -> TestClient:
    return await aiohttp_client(make_app(store.ingest))


async def deliver(client: TestClient, update: Any, *, secret: str | None = SECRET, **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", {})
    if secret is not None:
        headers[SECRET_HEADER] = secret
    if "data" not in kwargs and "json" not in kwargs:
        kwargs["json"] = update
    return await client.post(URL, headers=headers, **kwargs)


async def assert_nothing_stored(store: Store) -> None:
    for model in (Message, Conversation, Identity, Event):
        assert await store.count(model) == 0, model.__name__


async def test_verified_update_is_stored_before_the_200(client: TestClient, store: Store) -> None:
    resp = await deliver(client, fixture("private_text"))

    assert resp.status == 200
    assert await resp.json() == {"ok": True}
    (message,) = await store.messages()
    assert message.platform_message_id == f"{ANNA}:17"
    assert message.text == "Hello, my order #5521 never arrived"
    assert message.direction == "inbound"
    assert message.raw == fixture("private_text")
    (identity,) = await store.identities()
    assert (identity.platform_user_id, identity.display_name, identity.handle) == (str(ANNA), "Anna Rossi", "anna_r")
    (conversation,) = await store.conversations()
    assert conversation.thread_key == f"chat:{ANNA}"
    assert [e.kind for e in await store.events()] == ["created", "received"]


@pytest.mark.parametrize(
    ("secret", "error"), [("not-the-secret", "wrong secret token"), (None, "missing secret token"), ("", "wrong secret token")]
)
async def test_wrong_or_missing_secret_is_refused_and_nothing_is_stored(
    client: TestClient, store: Store, secret: str | None, error: str
) -> None:
    resp = await deliver(client, fixture("private_text"), secret=secret)
    assert resp.status == 403
    assert await resp.json() == {"error": error}
    await assert_nothing_stored(store)


async def test_secret_is_checked_before_the_body_is_looked_at(client: TestClient, store: Store) -> None:
    # Garbage with a wrong secret is a 403, not a 400/415: an attacker learns nothing about parsing.
    resp = await deliver(client, None, secret="nope", data=b"{not json", headers={"Content-Type": "text/plain"})
    assert resp.status == 403
    await assert_nothing_stored(store)


async def test_secret_header_with_non_utf8_bytes_is_a_403_not_a_500(client: TestClient, store: Store) -> None:
    body = json.dumps(fixture("private_text")).encode()
    request = (
        f"POST {URL} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    ).encode() + SECRET_HEADER.encode() + b": \xff\xfe" + SECRET.encode() + b"\r\n\r\n" + body
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"403"
    await assert_nothing_stored(store)


async def test_the_same_update_delivered_five_times_at_once_is_stored_once(client: TestClient, store: Store) -> None:
    update = fixture("private_text")
    responses = await asyncio.gather(*(deliver(client, update) for _ in range(5)))

    assert [r.status for r in responses] == [200] * 5
    assert len(await store.messages()) == 1
    assert len(await store.events("received")) == 1
    assert len(await store.conversations()) == 1


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"data": b'{"update_id": 1, "message": {', "headers": {"Content-Type": "application/json"}}, 400,
         "malformed JSON"),
        ({"data": b"\xff\xfe\x00garbage", "headers": {"Content-Type": "application/json"}}, 400, "malformed JSON"),
        ({"data": b"[" * 100_000 + b"]" * 100_000, "headers": {"Content-Type": "application/json"}}, 400,
         "malformed JSON"),
        ({"data": json.dumps(fixture("private_text")).encode(), "headers": {"Content-Type": "text/plain"}}, 415,
         "content type must be application/json"),
        ({"data": json.dumps(fixture("private_text")).encode()}, 415, "content type must be application/json"),
        ({"json": {"update_id": 5, "message": {"message_id": 1, "date": 1731400000, "text": "hi"}}}, 400,
         "update 5: message.chat is missing"),
        ({"json": {"message": {"message_id": 1}}}, 400, "update: missing field 'update_id'"),
        ({"json": [fixture("private_text")]}, 400, "update must be a JSON object"),
    ],
    ids=["truncated", "not-utf8", "deeply-nested", "text-plain", "no-content-type", "no-chat", "no-update-id",
         "array"],
)
async def test_bad_input_is_a_4xx_json_error_and_nothing_is_stored(
    client: TestClient, store: Store, kwargs: dict[str, Any], status: int, error: str
) -> None:
    resp = await deliver(client, None, **kwargs)
    assert resp.status == status
    assert await resp.json() == {"error": error}
    await assert_nothing_stored(store)


async def test_body_over_one_mebibyte_is_refused(client: TestClient, store: Store) -> None:
    update = fixture("private_text")
    update["message"]["text"] = "x" * MAX_BODY
    body = io.BytesIO(json.dumps(update).encode())
    resp = await deliver(client, None, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert "body larger than" in (await resp.json())["error"]
    await assert_nothing_stored(store)


async def test_chunked_body_over_one_mebibyte_is_refused_without_content_length(
    aiohttp_client: ClientFactory, store: Store
) -> None:
    # The app may allow bigger bodies for other platforms (WhatsApp sends up to 3 MB); the
    # Telegram route keeps its own limit and does not rely on a Content-Length header.
    client = await aiohttp_client(make_app(store.ingest, client_max_size=8 * MAX_BODY))
    body = json.dumps({**fixture("private_text"), "padding": "x" * MAX_BODY}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    resp = await deliver(client, None, data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert await resp.json() == {"error": f"body larger than {MAX_BODY} bytes"}
    await assert_nothing_stored(store)


async def test_body_of_exactly_one_mebibyte_is_accepted(client: TestClient, store: Store) -> None:
    update = fixture("private_text")
    skeleton = len(json.dumps({**update, "padding": ""}).encode())
    update["padding"] = "x" * (MAX_BODY - skeleton)
    body = json.dumps(update).encode()
    assert len(body) == MAX_BODY
    resp = await deliver(client, None, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert len(await store.messages()) == 1


async def test_unknown_update_kind_is_acknowledged_and_logged_by_id_only(
    client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.telegram")
    resp = await deliver(client, fixture("callback_query"))

    assert resp.status == 200
    assert await resp.json() == {"ok": True, "ignored": "unhandled update kind: callback_query"}
    await assert_nothing_stored(store)
    lines = [r for r in caplog.records if r.name == "connectors.telegram.webhook"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    assert "731500019" in lines[0].getMessage()
    assert "helpful" not in caplog.text and "csat" not in caplog.text


async def test_edit_replaces_the_text_and_keeps_the_previous_one_in_an_edited_event(
    client: TestClient, store: Store
) -> None:
    assert (await deliver(client, fixture("private_text"))).status == 200
    assert (await deliver(client, fixture("edited_message"))).status == 200
    # Telegram retries deliveries: the same edit again changes nothing.
    assert (await deliver(client, fixture("edited_message"))).status == 200

    (message,) = await store.messages()
    assert message.text == "Hello, my order #5521 never arrived and I am still waiting"
    assert message.edited_at is not None
    (edited,) = await store.events("edited")
    assert edited.message_id == message.id
    assert edited.data["previous_text"] == "Hello, my order #5521 never arrived"


async def test_edit_arriving_before_the_original_is_not_overwritten_by_it(client: TestClient, store: Store) -> None:
    # With max_connections > 1 Telegram may deliver out of order.
    assert (await deliver(client, fixture("edited_message"))).status == 200
    assert (await deliver(client, fixture("private_text"))).status == 200
    (message,) = await store.messages()
    assert message.text.endswith("still waiting")


@pytest.mark.parametrize(
    ("name", "text", "attachment"),
    [
        ("photo_caption", "The box arrived crushed",
         {"kind": "photo", "file_id": "AgACAgQAAxkBAAIBP2c0xS4", "size": 151020, "width": 1280, "height": 960,
          "file_unique_id": "AQADq7Ex4"}),
        ("sticker", "", {"kind": "sticker", "file_id": "CAACAgIAAxkBAAIBQGc0xbStk", "size": 23110,
                         "emoji": "\U0001F621", "set_name": "AngryCats", "file_unique_id": "AgADstk"}),
        ("document", "Here is the invoice", {"kind": "document", "file_id": "BQACAgQAAxkBAAIBQWc0xdoc",
                                             "name": "invoice-5521.pdf", "size": 48213,
                                             "mime_type": "application/pdf", "file_unique_id": "AgADdoc"}),
        ("voice", "", {"kind": "voice", "file_id": "AwACAgQAAxkBAAIBQmc0xvoice", "size": 27840,
                       "mime_type": "audio/ogg", "duration": 7, "file_unique_id": "AgADvoice"}),
        ("location", "", {"kind": "location", "latitude": 45.464211, "longitude": 9.191383}),
    ],
)
async def test_media_is_stored_with_its_attachment_metadata(
    client: TestClient, store: Store, name: str, text: str, attachment: dict[str, Any]
) -> None:
    assert (await deliver(client, fixture(name))).status == 200
    (message,) = await store.messages()
    assert message.text == text
    assert message.attachments == [attachment]


async def test_group_message_is_ignored_unless_groups_are_enabled(
    aiohttp_client: ClientFactory, client: TestClient, store: Store
) -> None:
    resp = await deliver(client, fixture("group_message"))
    assert resp.status == 200
    assert (await resp.json())["ignored"] == "group message (groups not enabled)"
    await assert_nothing_stored(store)

    opted_in = await aiohttp_client(make_app(store.ingest, include_groups=True))
    assert (await deliver(opted_in, fixture("group_message"))).status == 200
    (message,) = await store.messages()
    assert message.kind == "group"
    assert message.public is False
    (conversation,) = await store.conversations()
    assert conversation.thread_key == "chat:-1001987654321"


async def test_blocking_the_bot_records_a_blocked_event(client: TestClient, store: Store) -> None:
    assert (await deliver(client, fixture("private_text"))).status == 200
    assert (await deliver(client, fixture("my_chat_member_kicked"))).status == 200

    (identity,) = await store.identities()
    assert identity.blocked is True
    (blocked,) = await store.events("blocked")
    (conversation,) = await store.conversations()
    assert blocked.conversation_id == conversation.id
    assert blocked.data == {"platform_user_id": str(ANNA)}

    assert (await deliver(client, fixture("my_chat_member_unblocked"))).status == 200
    (identity,) = await store.identities()
    assert identity.blocked is False
    assert len(await store.events("unblocked")) == 1


async def test_storage_failure_is_a_500_so_telegram_retries_and_the_retry_is_stored(
    aiohttp_client: ClientFactory, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def flaky(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return await store.ingest(records, cursor=cursor)

    client = await aiohttp_client(make_app(flaky))
    first = await deliver(client, fixture("private_text"))
    assert first.status == 500
    assert await first.json() == {"error": "could not store the update"}
    await assert_nothing_stored(store)
    failure = [r for r in caplog.records if r.name == "connectors.telegram.webhook" and r.exc_info]
    assert len(failure) == 1 and "731500001" in failure[0].getMessage()
    assert "never arrived" not in caplog.text

    retry = await deliver(client, fixture("private_text"))
    assert retry.status == 200
    assert len(await store.messages()) == 1


# ------------------------------------------------------------- connector in webhook mode


def webhook_section(**overrides: Any) -> dict[str, Any]:
    return {"token": TOKEN, "mode": "webhook", "secret_token": SECRET, **overrides}


async def test_connector_registers_its_webhook_and_stores_what_telegram_delivers(
    aiohttp_server: Callable[..., Awaitable[Any]], store: Store
) -> None:
    port = unused_port()
    async with TelegramSandbox(TOKEN, webhook_retry_delay=0.05) as sandbox:
        connector = TelegramConnector.from_config(
            CHANNEL,
            webhook_section(public_url=f"http://127.0.0.1:{port}/", api_base_url=sandbox.base_url),
            ingest=store.ingest,
            cursors=store.cursors,
        )
        app = web.Application()
        app.router.add_routes(connector.webhook_routes())
        await aiohttp_server(app, port=port)
        await connector.start()
        try:
            info = sandbox.webhook_info()
            assert info["url"] == f"http://127.0.0.1:{port}/webhooks/telegram/{CHANNEL}"
            assert set(info["allowed_updates"]) == {"message", "edited_message", "my_chat_member"}
            (set_webhook,) = [c for c in sandbox.requests if c.method == "setWebhook"]
            assert set_webhook.params["secret_token"] == SECRET

            sandbox.customer_writes(ANNA, "Where is my parcel?", first_name="Anna", username="anna_r")
            sandbox.customer_writes(ANNA, caption="Look at this", photo=True, first_name="Anna")
            await sandbox.wait_delivered(timeout=5)
        finally:
            await connector.stop()

    messages = await store.messages()
    assert [m.text for m in messages] == ["Where is my parcel?", "Look at this"]
    assert messages[1].attachments[0]["kind"] == "photo"
    assert messages[1].attachments[0]["width"] == 800
    assert not any(c.method == "getUpdates" for c in sandbox.requests)


async def test_webhook_routes_are_only_exposed_in_webhook_mode(store: Store) -> None:
    webhook = TelegramConnector.from_config(CHANNEL, webhook_section(), ingest=store.ingest, cursors=store.cursors)
    (route,) = webhook.webhook_routes()
    assert (route.method, route.path) == ("POST", URL)
    polling = TelegramConnector.from_config(CHANNEL, {"token": TOKEN}, ingest=store.ingest, cursors=store.cursors)
    assert list(polling.webhook_routes()) == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"mode": "webhook"}, "set 'token' or 'token_env'"),
        (webhook_section(secret_token=None), "webhook mode needs 'secret_token'"),
        (webhook_section(secret_token="has spaces!"), "secret_token must be 1-256 characters"),
        (webhook_section(secret_token="x" * 257), "secret_token must be 1-256 characters"),
        (webhook_section(mode="push"), "mode must be one of polling, webhook"),
        (webhook_section(token="not-a-token"), "does not look like"),
        (webhook_section(token_env="SC_TEST_UNSET_TOKEN_VAR"), "either 'token' or 'token_env'"),
        ({"mode": "polling", "token_env": "SC_TEST_UNSET_TOKEN_VAR"}, "SC_TEST_UNSET_TOKEN_VAR"),
        (webhook_section(include_groups="yes"), "include_groups must be true or false"),
        (webhook_section(poll_timeout=0), "poll_timeout"),
    ],
)
def test_invalid_configuration_is_reported_without_leaking_secrets(
    store: Store, section: dict[str, Any], message: str
) -> None:
    section = {k: v for k, v in section.items() if v is not None}
    with pytest.raises(TelegramConfigError, match=message) as err:
        TelegramConnector.from_config(CHANNEL, section, ingest=store.ingest, cursors=store.cursors)
    assert "[telegram.acme]" in str(err.value)
    assert "SANDBOX-token" not in str(err.value) and SECRET not in str(err.value)


def test_secrets_can_come_from_the_environment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TG_TOKEN", TOKEN)
    monkeypatch.setenv("ACME_TG_SECRET", SECRET)
    connector = TelegramConnector.from_config(
        CHANNEL,
        {"token_env": "ACME_TG_TOKEN", "mode": "webhook", "secret_token_env": "ACME_TG_SECRET"},
        ingest=store.ingest,
        cursors=store.cursors,
    )
    assert connector.settings.token.reveal() == TOKEN
    assert connector.settings.secret_token is not None and connector.settings.secret_token.matches(SECRET)
    assert TOKEN not in repr(connector) and TOKEN not in repr(connector.settings)
    assert SECRET not in repr(connector.settings)
