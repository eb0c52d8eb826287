"""Our getUpdates loop against the sandbox, storing into the real store with the offset in the same tx."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from telegram import Bot

from connectors.telegram.connector import TelegramConnector
from connectors.telegram.poller import TelegramPoller
from social_care.backoff import Backoff
from connectors.telegram.sandbox import TelegramSandbox
from social_care.domain import CursorUpdate, Inbound, OutboundReply
from social_care.errors import AuthError
from tests.connectors.telegram.helpers import CHANNEL, Store, eventually, open_store, sandbox_bot

TOKEN = "123456789:SANDBOX-token"
ANNA, LUCA, MARIA = 424242424, 616161616, 707070707


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    store = await open_store(tmp_path)
    yield store
    await store.db.dispose()


@pytest.fixture
async def sandbox() -> AsyncIterator[TelegramSandbox]:
    async with TelegramSandbox(TOKEN) as sandbox:
        yield sandbox


@pytest.fixture
async def bot(sandbox: TelegramSandbox) -> AsyncIterator[Bot]:
    async with sandbox_bot(sandbox.base_url) as bot:
        yield bot


def make_poller(bot: Bot, store: Store, ingest: Any = None, **kwargs: Any) -> TelegramPoller:
    return TelegramPoller(
        bot,
        channel_key=CHANNEL,
        ingest=ingest or store.ingest,
        cursors=store.cursors,
        poll_timeout=kwargs.pop("poll_timeout", 1),
        backoff=kwargs.pop("backoff", Backoff(initial=0.05, cap=0.2)),
        **kwargs,
    )


async def stored_texts(store: Store) -> list[str]:
    return [m.text for m in await store.messages()]


async def wait_for_texts(store: Store, expected: list[str], timeout: float = 5.0) -> None:
    async def done() -> bool:
        return len(await store.messages()) >= len(expected)

    await eventually(done, timeout=timeout, what=f"{len(expected)} stored messages")
    assert await stored_texts(store) == expected


def offsets_requested(sandbox: TelegramSandbox) -> list[int | None]:
    return [c.params.get("offset") for c in sandbox.requests if c.method == "getUpdates"]


async def test_customer_messages_are_stored_and_the_offset_is_persisted_with_them(
    sandbox: TelegramSandbox, bot: Bot, store: Store
) -> None:
    commits: list[tuple[float, str | None]] = []

    async def recording(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> Any:
        result = await store.ingest(records, cursor=cursor)
        commits.append((time.monotonic(), cursor.value if cursor else None))
        return result

    sandbox.customer_writes(ANNA, "My order never arrived", first_name="Anna", username="anna_r")
    sandbox.customer_writes(LUCA, "Can I change my delivery address?", first_name="Luca")
    last = sandbox.customer_writes(ANNA, caption="this is the box", photo=True, first_name="Anna")

    poller = make_poller(bot, store, recording)
    poller.start()
    try:
        await wait_for_texts(store, ["My order never arrived", "Can I change my delivery address?", "this is the box"])
        await eventually(lambda: _async(len(offsets_requested(sandbox)) >= 2), what="a confirming getUpdates")
    finally:
        await poller.stop()

    assert await store.offset() == str(last["update_id"] + 1)
    assert commits[0][1] == str(last["update_id"] + 1)
    # The offset that confirms the batch to Telegram is only sent after the batch was committed.
    confirm = next(c for c in sandbox.requests if c.method == "getUpdates" and c.params.get("offset") == last["update_id"] + 1)
    assert confirm.at >= commits[0][0]
    first = next(c for c in sandbox.requests if c.method == "getUpdates")
    assert first.params["allowed_updates"] == ["message", "edited_message", "my_chat_member"]
    assert first.params["timeout"] == 1
    assert sandbox.pending_updates() == []
    conversations = await store.conversations()
    assert sorted(c.thread_key for c in conversations) == [f"chat:{ANNA}", f"chat:{LUCA}"]


async def _async(value: bool) -> bool:
    return value


async def test_restart_resumes_from_the_stored_offset_without_duplicates_or_gaps(
    sandbox: TelegramSandbox, store: Store
) -> None:
    sandbox.customer_writes(ANNA, "one", first_name="Anna")
    sandbox.customer_writes(ANNA, "two", first_name="Anna")
    async with sandbox_bot(sandbox.base_url) as bot:
        first = make_poller(bot, store)
        first.start()
        await wait_for_texts(store, ["one", "two"])
        await first.stop()
    stored_offset = await store.offset()
    assert stored_offset is not None

    # While no poller runs, customers keep writing (and one edits).
    sandbox.customer_writes(LUCA, "three", first_name="Luca")
    sandbox.customer_edits(ANNA, 2, "two (edited)")
    sandbox.customer_writes(MARIA, "four", first_name="Maria")

    requests_before = len(sandbox.requests)
    async with sandbox_bot(sandbox.base_url) as bot:
        second = make_poller(bot, store)
        second.start()
        await wait_for_texts(store, ["one", "two (edited)", "three", "four"])
        await second.stop()

    resumed = [c for c in sandbox.requests[requests_before:] if c.method == "getUpdates"]
    assert resumed[0].params["offset"] == int(stored_offset)
    assert len(await store.events("received")) == 4
    assert len(await store.events("edited")) == 1


async def test_crash_while_storing_loses_nothing_because_the_batch_was_not_confirmed(
    sandbox: TelegramSandbox, store: Store
) -> None:
    crashed = asyncio.Event()

    async def crashing(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> Any:
        crashed.set()
        raise ConnectionError("disk full")

    sandbox.customer_writes(ANNA, "first", first_name="Anna")
    sandbox.customer_writes(LUCA, "second", first_name="Luca")
    async with sandbox_bot(sandbox.base_url) as bot:
        doomed = make_poller(bot, store, crashing, backoff=Backoff(initial=10, cap=10))
        doomed.start()
        await asyncio.wait_for(crashed.wait(), 5)
        await doomed.stop()  # the process dies here

    assert await stored_texts(store) == []
    assert await store.offset() is None
    assert len(sandbox.pending_updates()) == 2

    async with sandbox_bot(sandbox.base_url) as bot:
        restarted = make_poller(bot, store)
        restarted.start()
        await wait_for_texts(store, ["first", "second"])
        await restarted.stop()
    assert len(await store.events("received")) == 2


async def test_failed_store_is_retried_in_the_loop_with_the_same_batch(
    sandbox: TelegramSandbox, bot: Bot, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def flaky(records: Sequence[Inbound], *, cursor: CursorUpdate | None = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database is locked")
        return await store.ingest(records, cursor=cursor)

    update = sandbox.customer_writes(ANNA, "please call me back", first_name="Anna")
    poller = make_poller(bot, store, flaky)
    poller.start()
    try:
        await wait_for_texts(store, ["please call me back"])
    finally:
        await poller.stop()

    offsets = offsets_requested(sandbox)
    assert offsets[:2] == [None, None]  # the unconfirmed batch was fetched again
    assert await store.offset() == str(update["update_id"] + 1)
    failures = [r for r in caplog.records if r.name == "connectors.telegram.poller" and r.exc_info]
    assert len(failures) == 1
    assert "please call me back" not in caplog.text


async def test_flood_control_on_get_updates_is_honoured(sandbox: TelegramSandbox, bot: Bot, store: Store) -> None:
    sandbox.inject_fault("getUpdates", "429", retry_after=1)
    sandbox.customer_writes(ANNA, "hello?", first_name="Anna")

    poller = make_poller(bot, store)
    poller.start()
    try:
        await wait_for_texts(store, ["hello?"], timeout=5)
    finally:
        await poller.stop()

    calls = [c for c in sandbox.requests if c.method == "getUpdates"]
    assert calls[1].at - calls[0].at >= 0.95  # waited retry_after before asking again


async def test_one_malformed_update_is_skipped_and_the_rest_of_the_batch_is_kept(
    sandbox: TelegramSandbox, bot: Bot, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.customer_writes(ANNA, "before", first_name="Anna")
    bad = sandbox.push_update({"message": {"message_id": 90, "date": int(time.time()), "text": "odd",
                                           "chat": {"id": LUCA, "type": "private"},
                                           "from": {"id": str(LUCA), "is_bot": False, "first_name": "Luca"}}})
    last = sandbox.customer_writes(MARIA, "after", first_name="Maria")

    poller = make_poller(bot, store)
    poller.start()
    try:
        await wait_for_texts(store, ["before", "after"])
        await eventually(lambda: _async(sandbox.pending_updates() == []), what="the batch to be confirmed")
    finally:
        await poller.stop()

    assert await store.offset() == str(last["update_id"] + 1)
    skipped = [r for r in caplog.records if r.exc_info and str(bad["update_id"]) in r.getMessage()]
    assert len(skipped) == 1


async def test_update_python_telegram_bot_cannot_decode_does_not_stall_the_poller(
    sandbox: TelegramSandbox, bot: Bot, store: Store
) -> None:
    sandbox.customer_writes(ANNA, "first", first_name="Anna")
    sandbox.push_update({"message": {"message_id": 91, "date": "yesterday", "text": "broken date",
                                     "chat": {"id": LUCA, "type": "private"},
                                     "from": {"id": LUCA, "is_bot": False, "first_name": "Luca"}}})
    last = sandbox.customer_writes(MARIA, "third", first_name="Maria")

    poller = make_poller(bot, store)
    poller.start()
    try:
        await wait_for_texts(store, ["first", "third"])
    finally:
        await poller.stop()
    assert await store.offset() == str(last["update_id"] + 1)


async def test_batch_of_only_ignored_updates_still_moves_the_offset(
    sandbox: TelegramSandbox, bot: Bot, store: Store
) -> None:
    sandbox.customer_writes(-1001987654321, "anyone here?", chat_type="supergroup", user_id=LUCA, first_name="Luca")
    last = sandbox.customer_writes(-1001987654321, "hello group", chat_type="supergroup", user_id=LUCA)

    poller = make_poller(bot, store)
    poller.start()
    try:
        async def moved() -> bool:
            return await store.offset() == str(last["update_id"] + 1)
        await eventually(moved, what="the offset to move past ignored updates")
    finally:
        await poller.stop()
    assert await store.messages() == []


async def test_webhook_conflict_is_logged_and_polling_recovers_once_it_is_removed(
    sandbox: TelegramSandbox, bot: Bot, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.set_webhook("https://care.example.com/webhooks/telegram/acme", secret_token="abc")
    sandbox.customer_writes(ANNA, "is anyone there?", first_name="Anna")

    poller = make_poller(bot, store)
    poller.start()
    try:
        await eventually(lambda: _async("conflict" in caplog.text), what="a conflict log line")
        assert await store.messages() == []
        await bot.delete_webhook()
        await wait_for_texts(store, ["is anyone there?"])
    finally:
        await poller.stop()
    conflict = next(r for r in caplog.records if "conflict" in r.getMessage())
    assert conflict.levelno == logging.ERROR
    assert "webhook" in conflict.getMessage()


@pytest.mark.parametrize("fault", ["5xx", "drop"])
async def test_network_failures_are_retried_with_backoff(
    sandbox: TelegramSandbox, bot: Bot, store: Store, fault: str
) -> None:
    sandbox.inject_fault("getUpdates", fault, count=2)
    sandbox.customer_writes(ANNA, "still there?", first_name="Anna")
    poller = make_poller(bot, store)
    poller.start()
    try:
        await wait_for_texts(store, ["still there?"])
    finally:
        await poller.stop()
    calls = [c.at for c in sandbox.requests if c.method == "getUpdates"]
    assert len(calls) >= 3
    assert calls[1] - calls[0] >= 0.025 and calls[2] - calls[1] >= 0.025  # backed off, not hammering


@pytest.mark.parametrize("case", ["forbidden", "wrong token"])
async def test_auth_failure_stops_the_loop_with_an_error(
    sandbox: TelegramSandbox, store: Store, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    if case == "forbidden":
        sandbox.inject_fault("getUpdates", "403")
    token = TOKEN if case == "forbidden" else "123456789:REVOKED-token"
    bot = sandbox_bot(sandbox.base_url, token=token)
    await bot.request.initialize()
    try:
        poller = make_poller(bot, store)
        task = poller.start()
        await asyncio.wait_for(task, 5)
    finally:
        await bot.request.shutdown()
    assert not poller.running
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "polling stopped" in line.getMessage()
    assert "REVOKED" not in caplog.text


async def test_stop_interrupts_a_long_poll_promptly(sandbox: TelegramSandbox, bot: Bot, store: Store) -> None:
    poller = make_poller(bot, store, poll_timeout=25)
    task = poller.start()
    await eventually(lambda: _async(any(c.method == "getUpdates" for c in sandbox.requests)), what="a long poll")
    started = time.monotonic()
    await poller.stop()
    assert time.monotonic() - started < 1
    assert task.cancelled()
    assert not poller.running


# ------------------------------------------------------------- connector in polling mode


async def test_connector_polls_stores_and_replies_without_logging_the_token(
    sandbox: TelegramSandbox, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = TelegramConnector.from_config(
        CHANNEL, {"token": TOKEN, "poll_timeout": 1}, ingest=store.ingest, cursors=store.cursors,
        base_url=sandbox.base_url, base_file_url=sandbox.base_file_url,
    )
    await connector.start()
    try:
        question = sandbox.customer_writes(ANNA, "Do you ship to Malta?", first_name="Anna")
        await wait_for_texts(store, ["Do you ship to Malta?"])
        (message,) = await store.messages()
        platform_id = await connector.send(OutboundReply(
            outbox_id="a1", channel_key=CHANNEL, recipient_id=str(ANNA), text="Yes, in 3-5 days.",
            reply_to_source_id=message.platform_message_id))
    finally:
        await connector.stop()

    (sent,) = sandbox.sent_messages(ANNA)
    assert platform_id == f"{ANNA}:{sent['message_id']}"
    assert sent["reply_to_message"]["message_id"] == question["message"]["message_id"]
    methods = [c.method for c in sandbox.requests]
    assert methods[:2] == ["getMe", "deleteWebhook"]
    assert connector.bot is None and connector.poller is None
    secret_part = TOKEN.split(":")[1]
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and secret_part in r.getMessage()]
    assert any("<bot-token>" in r.getMessage() for r in caplog.records if r.name == "httpx")


async def test_connector_with_a_rejected_token_fails_to_start(sandbox: TelegramSandbox, store: Store) -> None:
    connector = TelegramConnector.from_config(
        CHANNEL, {"token": "123456789:REVOKED-token", "api_base_url": sandbox.base_url},
        ingest=store.ingest, cursors=store.cursors,
    )
    with pytest.raises(AuthError):
        await connector.start()
    assert connector.bot is None
    assert not any(c.method == "getUpdates" for c in sandbox.requests)
