"""The Telegram sandbox, driven by the real python-telegram-bot client and over its HTTP control API."""
from __future__ import annotations

import asyncio
import datetime as dtm
import socket
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, ReplyParameters, Update
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from connectors.telegram.sandbox import (
    DEFAULT_GROUP_MEMBER_ID,
    SandboxError,
    TelegramSandbox,
    run_sandbox,
)

CUSTOMER = 424242


@pytest.fixture
async def sandbox() -> AsyncIterator[TelegramSandbox]:
    async with TelegramSandbox(webhook_retry_delay=0.05) as running:
        yield running


@pytest.fixture
async def bot(sandbox: TelegramSandbox) -> AsyncIterator[Bot]:
    async with _bot_for(sandbox) as client:
        yield client


@pytest.fixture
async def http(sandbox: TelegramSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(sandbox.url) as session:
        yield session


def _bot_for(sandbox: TelegramSandbox) -> Bot:
    return Bot(sandbox.token, base_url=sandbox.base_url, base_file_url=sandbox.base_file_url)


def _retry_seconds(err: RetryAfter) -> float:
    """RetryAfter.retry_after is an int (deprecated) unless PTB_TIMEDELTA is set, then a timedelta."""
    with warnings.catch_warnings():
        # The int form warns about its own deprecation; both forms are handled here.
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def _until_asked(sandbox: TelegramSandbox, method: str, *, after: int) -> None:
    """Wait until the sandbox has received a call past its first `after` (it registers a long poll as it logs it)."""
    for _ in range(250):
        if any(call.method == method for call in sandbox.requests[after:]):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the sandbox never received {method}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Receiver:
    """A webhook endpoint that answers scripted statuses, then 200."""

    statuses: list[int]
    delay: float = 0.0
    url: str = ""
    calls: list[tuple[str | None, dict[str, Any], int]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            body = await request.json()
            await asyncio.sleep(self.delay)
            status = self.statuses.pop(0) if self.statuses else 200
            self.calls.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), body, status))
            return web.Response(status=status)
        finally:
            self.active -= 1


@asynccontextmanager
async def _receiver(statuses: Sequence[int] = (), delay: float = 0.0) -> AsyncIterator[Receiver]:
    receiver = Receiver(list(statuses), delay)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- Bot API basics


async def test_get_me_identifies_the_configured_bot() -> None:
    sandbox = TelegramSandbox("987654:other-TOKEN", bot_username="shop_bot", bot_first_name="Shop")
    async with sandbox, _bot_for(sandbox) as bot:
        me = await bot.get_me()
    assert (me.id, me.username, me.first_name, me.is_bot) == (987654, "shop_bot", "Shop", True)
    assert sandbox.bot_id == 987654
    assert sandbox.base_url == f"{sandbox.url}/bot"
    assert sandbox.base_file_url == f"{sandbox.url}/file/bot"


async def test_wrong_token_is_unauthorized(sandbox: TelegramSandbox, http: aiohttp.ClientSession) -> None:
    stranger = Bot("123456789:WRONG-token", base_url=sandbox.base_url)
    with pytest.raises(InvalidToken):
        await stranger.initialize()
    async with http.post("/bot123456789:WRONG-token/getMe") as resp:
        assert resp.status == 401
        assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_is_not_found_and_method_names_ignore_case(
    sandbox: TelegramSandbox, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"/bot{sandbox.token}/sendTelepathy") as resp:
        assert resp.status == 404
        assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    async with http.get(f"/bot{sandbox.token}/GETME") as resp:
        assert resp.status == 200
        assert (await resp.json())["result"]["id"] == sandbox.bot_id


async def test_send_message_accepts_form_json_and_multipart_bodies(
    sandbox: TelegramSandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.customer_writes(CUSTOMER, "hello")
    url = f"/bot{sandbox.token}/sendMessage"
    async with http.post(url, data={"chat_id": str(CUSTOMER), "text": "form",
                                    "reply_parameters": '{"message_id": 1}'}) as resp:
        form_reply = await resp.json()
    as_json = {"chat_id": CUSTOMER, "text": "json", "reply_parameters": {"message_id": 1}}
    async with http.post(url, json=as_json) as resp:
        json_reply = await resp.json()
    multipart = aiohttp.FormData()
    multipart.add_field("chat_id", str(CUSTOMER))
    multipart.add_field("text", "12345")  # a numeric text must stay a string
    multipart.add_field("attachment", b"bytes", filename="a.txt")
    async with http.post(url, data=multipart) as resp:
        multipart_reply = await resp.json()
    assert form_reply["ok"] and form_reply["result"]["reply_to_message"]["text"] == "hello"
    assert json_reply["ok"] and json_reply["result"]["reply_to_message"]["message_id"] == 1
    assert multipart_reply["result"]["text"] == "12345"
    assert [m["text"] for m in sandbox.sent_messages(CUSTOMER)] == ["form", "json", "12345"]


async def test_missing_chat_id_is_a_bad_request(sandbox: TelegramSandbox, http: aiohttp.ClientSession) -> None:
    async with http.post(f"/bot{sandbox.token}/sendMessage", data={"text": "hi"}) as resp:
        assert resp.status == 400
        assert await resp.json() == {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"}


# --------------------------------------------------------------------------- receiving by polling


async def test_customer_message_reaches_get_updates_as_a_telegram_update(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    queued = sandbox.customer_writes(CUSTOMER, "/start my order is late", first_name="Ann", last_name="Lee",
                                     username="annlee", language_code="it")
    (update,) = await bot.get_updates()
    assert isinstance(update, Update)
    assert update.update_id == queued["update_id"]
    message = update.message
    assert message is not None and message.text == "/start my order is late"
    assert message.chat.id == CUSTOMER and message.chat.type == ChatType.PRIVATE
    assert message.from_user is not None
    assert (message.from_user.id, message.from_user.first_name, message.from_user.last_name,
            message.from_user.username, message.from_user.language_code, message.from_user.is_bot) == (
        CUSTOMER, "Ann", "Lee", "annlee", "it", False)
    assert [e.type for e in message.entities] == [MessageEntityType.BOT_COMMAND]
    assert message.entities[0].length == len("/start")
    assert abs(message.date.timestamp() - time.time()) < 5


async def test_offset_confirms_earlier_updates(sandbox: TelegramSandbox, bot: Bot) -> None:
    first = sandbox.customer_writes(CUSTOMER, "one")
    second = sandbox.customer_writes(CUSTOMER, "two")
    assert second["update_id"] == first["update_id"] + 1
    assert [u.update_id for u in await bot.get_updates()] == [first["update_id"], second["update_id"]]
    # Unconfirmed updates are served again...
    assert len(await bot.get_updates()) == 2
    # ...until a higher offset confirms them, after which they are gone for good.
    assert [u.message.text for u in await bot.get_updates(offset=first["update_id"] + 1)] == ["two"]
    assert [u.message.text for u in await bot.get_updates()] == ["two"]
    assert sandbox.webhook_info()["pending_update_count"] == 1
    assert await bot.get_updates(offset=second["update_id"] + 1) == ()


async def test_limit_caps_the_batch(sandbox: TelegramSandbox, bot: Bot) -> None:
    for n in range(5):
        sandbox.customer_writes(CUSTOMER, f"m{n}")
    assert [u.message.text for u in await bot.get_updates(limit=2)] == ["m0", "m1"]


async def test_long_poll_returns_as_soon_as_a_customer_writes(sandbox: TelegramSandbox, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    written_at = time.monotonic()
    sandbox.customer_writes(CUSTOMER, "anyone there?")
    updates = await asyncio.wait_for(poll, 3)
    assert time.monotonic() - written_at < 1.0
    assert [u.message.text for u in updates] == ["anyone there?"]


async def test_long_poll_without_updates_waits_for_the_timeout(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3


async def test_newer_get_updates_terminates_a_waiting_one(sandbox: TelegramSandbox, bot: Bot) -> None:
    asked = len(sandbox.requests)
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await _until_asked(sandbox, "getUpdates", after=asked)
    async with _bot_for(sandbox) as second_instance:
        await second_instance.get_updates(timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(waiting, 2)


async def test_allowed_updates_filters_updates_created_afterwards(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "before")
    await bot.get_updates(allowed_updates=["message"])
    sandbox.customer_edits(CUSTOMER, 1, "before (edited)")
    sandbox.customer_writes(CUSTOMER, "after")
    updates = await bot.get_updates()
    assert [u.message.text for u in updates] == ["before", "after"]
    assert sandbox.webhook_info()["allowed_updates"] == ["message"]


async def test_stop_answers_pending_long_polls_instead_of_hanging(sandbox: TelegramSandbox, bot: Bot) -> None:
    asked = len(sandbox.requests)
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await _until_asked(sandbox, "getUpdates", after=asked)
    started = time.monotonic()
    await asyncio.wait_for(sandbox.stop(), 5)
    assert time.monotonic() - started < 2
    assert await asyncio.wait_for(poll, 2) == ()


async def test_ptb_application_polls_and_replies_through_the_sandbox(sandbox: TelegramSandbox) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"echo: {update.message.text}", do_quote=True)

    app = Application.builder().token(sandbox.token).base_url(sandbox.base_url).base_file_url(
        sandbox.base_file_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.updater.start_polling(timeout=1, poll_interval=0)
        await app.start()
        sandbox.customer_writes(CUSTOMER, "where is my parcel?")
        (reply,) = await sandbox.wait_sent(1, chat_id=CUSTOMER, timeout=5)
        await app.updater.stop()
        await app.stop()
    assert reply["text"] == "echo: where is my parcel?"
    assert reply["reply_to_message"]["message_id"] == 1
    methods = [call.method for call in sandbox.requests]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert "sendMessage" in methods


# --------------------------------------------------------------------------- simulated customers


async def test_media_messages_parse_and_their_files_download(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, photo=True, caption="the box arrived broken")
    sandbox.customer_writes(CUSTOMER, document={"file_name": "invoice.pdf", "content": "%PDF-1.4 fake"})
    sandbox.customer_writes(CUSTOMER, sticker="😡")
    sandbox.customer_writes(CUSTOMER, voice=7)
    sandbox.customer_writes(CUSTOMER, location=(45.4642, 9.19))
    photo, document, sticker, voice, location = [u.message for u in await bot.get_updates()]

    assert photo.caption == "the box arrived broken" and photo.text is None
    assert [p.width for p in photo.photo] == [90, 320, 800]
    biggest = await photo.photo[-1].get_file()
    assert len(await biggest.download_as_bytearray()) == photo.photo[-1].file_size
    assert (document.document.file_name, document.document.mime_type) == ("invoice.pdf", "application/pdf")
    assert bytes(await (await document.document.get_file()).download_as_bytearray()) == b"%PDF-1.4 fake"
    assert sticker.sticker.emoji == "😡"
    assert voice.voice.to_dict()["duration"] == 7  # the attribute itself warns about int vs timedelta
    assert (location.location.latitude, location.location.longitude) == (45.4642, 9.19)
    assert [m.message_id for m in (photo, document, sticker, voice, location)] == [1, 2, 3, 4, 5]


async def test_groups_and_channels_look_like_telegram_sends_them(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(-4001, "hi all", chat_type="group", title="Beta testers")
    sandbox.customer_writes(-1001234, "support?", chat_type="supergroup", title="Fans", user_id=5555)
    sandbox.customer_writes(-1009999, "new collection!", chat_type="channel", title="ACME news", username="acmenews")
    group, supergroup, channel = await bot.get_updates()
    assert (group.message.chat.type, group.message.chat.title) == (ChatType.GROUP, "Beta testers")
    assert group.message.from_user.id == DEFAULT_GROUP_MEMBER_ID
    assert (supergroup.message.chat.type, supergroup.message.from_user.id) == (ChatType.SUPERGROUP, 5555)
    assert channel.message is None and channel.channel_post is not None
    assert channel.channel_post.sender_chat.id == -1009999 and channel.channel_post.from_user is None
    sent = await bot.send_message("@acmenews", "posted by the bot")
    assert sent.chat.id == -1009999


async def test_customer_edit_arrives_as_edited_message(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "my order 123 is late", date=int(time.time()) - 60)
    sandbox.customer_edits(CUSTOMER, 1, "my order 124 is late")
    original, edit = await bot.get_updates()
    assert edit.message is None and edit.edited_message is not None
    assert (edit.edited_message.message_id, edit.edited_message.text) == (1, "my order 124 is late")
    assert edit.edited_message.edit_date > original.message.date
    with pytest.raises(SandboxError):
        sandbox.customer_edits(CUSTOMER, 99, "no such message")


async def test_customer_writes_rejects_unrealistic_messages(sandbox: TelegramSandbox) -> None:
    with pytest.raises(SandboxError, match="positive"):
        sandbox.customer_writes(-5, "private chats have positive ids")
    with pytest.raises(SandboxError, match="caption"):
        sandbox.customer_writes(CUSTOMER, "text", photo=True)
    with pytest.raises(SandboxError, match="empty"):
        sandbox.customer_writes(CUSTOMER, "   ")
    with pytest.raises(SandboxError, match="does not exist"):
        sandbox.customer_writes(CUSTOMER, "quoting nothing", reply_to_message_id=7)
    with pytest.raises(SandboxError, match="latitude"):
        sandbox.customer_writes(CUSTOMER, location=(100.0, 0.0))
    assert sandbox.pending_updates() == []
    # A rejected message leaves no trace: the chat's first real message is still number 1.
    assert sandbox.customer_writes(CUSTOMER, "ok")["message"]["message_id"] == 1


async def test_push_update_passes_unknown_kinds_through(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hello")
    pushed = sandbox.push_update({"business_frobnication": {"id": "x1", "level": 3}})
    explicit = sandbox.push_update({"update_id": 500, "message": {
        "message_id": 9, "date": 1_700_000_000, "chat": {"id": 777, "type": "private", "first_name": "Raw"},
        "from": {"id": 777, "is_bot": False, "first_name": "Raw"}, "text": "raw"}})
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [1, 2, 500]
    assert pushed["update_id"] == 2 and explicit["update_id"] == 500
    assert updates[1].api_kwargs == {"business_frobnication": {"id": "x1", "level": 3}}
    assert sandbox.customer_writes(CUSTOMER, "next")["update_id"] == 501
    # A chat seen in a raw update can be answered.
    assert (await bot.send_message(777, "hi Raw")).chat.first_name == "Raw"


# --------------------------------------------------------------------------- sending


async def test_reply_quotes_the_customer_message_and_shares_the_chat_sequence(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    sandbox.customer_writes(CUSTOMER, "my parcel never arrived")
    reply = await bot.send_message(CUSTOMER, "Sorry! Checking now.",
                                   reply_parameters=ReplyParameters(message_id=1, quote="parcel"))
    assert reply.message_id == 2
    assert reply.from_user.id == sandbox.bot_id and reply.from_user.is_bot
    assert reply.chat.id == CUSTOMER
    assert reply.reply_to_message.message_id == 1
    assert reply.reply_to_message.text == "my parcel never arrived"
    assert (reply.quote.text, reply.quote.position) == ("parcel", 3)
    assert sandbox.customer_writes(CUSTOMER, "thanks")["message"]["message_id"] == 3
    assert [m["text"] for m in sandbox.sent_messages(CUSTOMER)] == ["Sorry! Checking now."]
    assert sandbox.sent_messages(CUSTOMER + 1) == []
    call = sandbox.requests[-1]
    assert call.method == "sendMessage"
    assert call.params["chat_id"] == CUSTOMER
    assert call.params["reply_parameters"] == {"message_id": 1, "quote": "parcel"}


async def test_reply_to_a_missing_message_fails_unless_allowed(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(CUSTOMER, "x", reply_parameters=ReplyParameters(message_id=99))
    sent = await bot.send_message(CUSTOMER, "x", reply_parameters=ReplyParameters(
        message_id=99, allow_sending_without_reply=True))
    assert sent.reply_to_message is None


async def test_bad_texts_and_unknown_chats_are_bad_requests(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(CUSTOMER, "")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(CUSTOMER, " \n ")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(CUSTOMER, "x" * 4097)
    assert len((await bot.send_message(CUSTOMER, "x" * 4096)).text) == 4096
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(CUSTOMER + 1, "who are you?")
    assert len(sandbox.sent_messages()) == 1


async def test_parse_modes_strip_markup_and_reject_what_telegram_rejects(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    with pytest.raises(BadRequest, match=r"(?i)character '.' is reserved"):
        await bot.send_message(CUSTOMER, "Order 12.5 is ready", parse_mode="MarkdownV2")
    ok = await bot.send_message(CUSTOMER, r"Order 12\.5 is *ready*\!", parse_mode="MarkdownV2")
    assert ok.text == "Order 12.5 is ready!"
    assert (await bot.send_message(CUSTOMER, "<b>Hi</b> &amp; bye", parse_mode="HTML")).text == "Hi & bye"
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(CUSTOMER, "<div>nope</div>", parse_mode="HTML")


async def test_blocked_customer_makes_sends_forbidden_until_unblocked(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "stop writing me")
    sandbox.customer_blocks(CUSTOMER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CUSTOMER, "one more offer")
    sandbox.customer_unblocks(CUSTOMER)
    assert (await bot.send_message(CUSTOMER, "welcome back")).text == "welcome back"
    _, blocked, unblocked = await bot.get_updates()
    assert blocked.my_chat_member.new_chat_member.status == ChatMemberStatus.BANNED  # "kicked"
    assert blocked.my_chat_member.new_chat_member.user.id == sandbox.bot_id
    assert blocked.my_chat_member.from_user.id == CUSTOMER
    assert unblocked.my_chat_member.new_chat_member.status == ChatMemberStatus.MEMBER
    assert [m["text"] for m in sandbox.sent_messages()] == ["welcome back"]


# --------------------------------------------------------------------------- faults


async def test_429_raises_retry_after_and_sends_nothing(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    sandbox.inject_fault("sendMessage", "429", retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CUSTOMER, "first try")
    assert _retry_seconds(caught.value) == 3
    assert sandbox.sent_messages() == []
    assert (await bot.send_message(CUSTOMER, "second try")).text == "second try"
    assert [c.method for c in sandbox.requests if c.method == "sendMessage"] == ["sendMessage", "sendMessage"]


async def test_5xx_raises_network_error_and_sends_nothing(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    sandbox.inject_fault("sendMessage", "5xx", status=502)
    sandbox.inject_fault("sendmessage", "5xx")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(CUSTOMER, "a")
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(CUSTOMER, "b")
    assert sandbox.sent_messages() == []


async def test_faults_fire_in_order_and_forever_until_cleared(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    sandbox.inject_fault("sendMessage", "429", retry_after=2)
    sandbox.inject_fault("sendMessage", "403", count=None)
    with pytest.raises(RetryAfter):
        await bot.send_message(CUSTOMER, "a")
    for _ in range(3):
        with pytest.raises(Forbidden):
            await bot.send_message(CUSTOMER, "b")
    sandbox.clear_faults()
    await bot.send_message(CUSTOMER, "c")
    sandbox.inject_fault("*", "5xx", status=503)
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.get_me()
    with pytest.raises(ValueError, match="unknown Bot API method"):
        sandbox.inject_fault("sendMesage", "429")
    assert [m["text"] for m in sandbox.sent_messages()] == ["c"]


async def test_drop_sends_nothing_but_drop_after_is_the_ambiguous_case(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    sandbox.inject_fault("sendMessage", "drop")
    with pytest.raises(NetworkError):
        await bot.send_message(CUSTOMER, "lost before sending")
    assert sandbox.sent_messages() == []
    sandbox.inject_fault("sendMessage", "drop_after")
    with pytest.raises(NetworkError):
        await bot.send_message(CUSTOMER, "sent, but nobody heard back")
    assert [m["text"] for m in sandbox.sent_messages()] == ["sent, but nobody heard back"]


async def test_slow_answer_times_out_the_client_yet_still_sends(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "hi")
    sandbox.inject_fault("sendMessage", "slow", delay=0.6)
    with pytest.raises(TimedOut):
        await bot.send_message(CUSTOMER, "slow one", read_timeout=0.2)
    assert sandbox.sent_messages() == []
    (sent,) = await sandbox.wait_sent(1, timeout=2)
    assert sent["text"] == "slow one"


# --------------------------------------------------------------------------- webhook


async def test_get_updates_conflicts_while_a_webhook_is_set(sandbox: TelegramSandbox, bot: Bot) -> None:
    dead_url = f"http://127.0.0.1:{_free_port()}/hook"
    assert await bot.set_webhook(dead_url)
    queued = sandbox.customer_writes(CUSTOMER, "nobody home")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    for _ in range(100):
        info = await bot.get_webhook_info()
        if info.last_error_date is not None:
            break
        await asyncio.sleep(0.05)
    assert info.url == dead_url and info.pending_update_count == 1
    assert info.last_error_message == "Connection refused" and info.last_error_date is not None
    assert await bot.delete_webhook()
    # Undelivered updates are still there for polling.
    assert [u.update_id for u in await bot.get_updates()] == [queued["update_id"]]


async def test_webhook_delivers_with_secret_and_retries_a_500(sandbox: TelegramSandbox, bot: Bot) -> None:
    async with _receiver(statuses=[500]) as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cret_Token-1")
        first = sandbox.customer_writes(CUSTOMER, "one")
        second = sandbox.customer_writes(CUSTOMER, "two")
        await sandbox.wait_delivered(timeout=3)
        info = await bot.get_webhook_info()
    assert {secret for secret, _, _ in receiver.calls} == {"s3cret_Token-1"}
    failed = [body["update_id"] for _, body, status in receiver.calls if status == 500]
    acked = [body for _, body, status in receiver.calls if status == 200]
    assert len(failed) == 1 and failed[0] in [body["update_id"] for body in acked]
    assert sorted(acked, key=lambda b: b["update_id"]) == [first, second]
    assert sorted(sandbox.webhook_acked_update_ids) == [first["update_id"], second["update_id"]]
    assert info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


async def test_set_webhook_can_drop_pending_updates(sandbox: TelegramSandbox, bot: Bot) -> None:
    sandbox.customer_writes(CUSTOMER, "stale")
    async with _receiver() as receiver:
        await bot.set_webhook(receiver.url, drop_pending_updates=True)
        sandbox.customer_writes(CUSTOMER, "fresh")
        await sandbox.wait_delivered(timeout=3)
    assert [body["message"]["text"] for _, body, _ in receiver.calls] == ["fresh"]
    assert receiver.calls[0][0] is None  # no secret set, no header


async def test_webhook_respects_max_connections(sandbox: TelegramSandbox, bot: Bot) -> None:
    async with _receiver(delay=0.15) as receiver:
        await bot.set_webhook(receiver.url, max_connections=2)
        for n in range(5):
            sandbox.customer_writes(CUSTOMER, f"m{n}")
        await sandbox.wait_delivered(timeout=5)
    assert receiver.max_active == 2
    assert len(sandbox.webhook_acked_update_ids) == 5


async def test_webhook_secret_must_be_telegram_shaped(sandbox: TelegramSandbox, bot: Bot) -> None:
    with pytest.raises(BadRequest):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="has spaces!")
    with pytest.raises(BadRequest):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="x" * 257)
    assert (await bot.get_webhook_info()).url == ""


async def test_wait_delivered_times_out_while_the_receiver_keeps_failing(sandbox: TelegramSandbox, bot: Bot) -> None:
    async with _receiver(statuses=[503] * 1000) as receiver:
        await bot.set_webhook(receiver.url)
        sandbox.customer_writes(CUSTOMER, "hello?")
        with pytest.raises(TimeoutError, match="1 update"):
            await sandbox.wait_delivered(timeout=0.4)
    assert len(receiver.calls) >= 3  # kept retrying
    assert sandbox.webhook_acked_update_ids == []


# --------------------------------------------------------------------------- control API and CLI entry


async def test_control_api_drives_customers_and_reports(
    sandbox: TelegramSandbox, bot: Bot, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"/sandbox/chats/{CUSTOMER}/messages",
                         json={"text": "hello from the demo", "first_name": "Ann", "username": "ann"}) as resp:
        assert resp.status == 200
        written = await resp.json()
    async with http.post(f"/sandbox/chats/{CUSTOMER}/edits", json={"message_id": 1, "text": "hello!"}) as resp:
        assert resp.status == 200
    async with http.post("/sandbox/updates", json={"survey_answer": {"id": "p1"}}) as resp:
        assert (await resp.json())["update_id"] == written["update_id"] + 2
    message, edit, raw = await bot.get_updates()
    assert (message.message.text, message.message.from_user.first_name) == ("hello from the demo", "Ann")
    assert edit.edited_message.text == "hello!"
    assert raw.api_kwargs == {"survey_answer": {"id": "p1"}}

    await bot.send_message(CUSTOMER, "hi Ann")
    async with http.get("/sandbox/sent", params={"chat_id": str(CUSTOMER)}) as resp:
        assert [m["text"] for m in (await resp.json())["messages"]] == ["hi Ann"]

    async with http.post(f"/sandbox/chats/{CUSTOMER}/block") as resp:
        assert (await resp.json())["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    with pytest.raises(Forbidden):
        await bot.send_message(CUSTOMER, "blocked")
    async with http.post(f"/sandbox/chats/{CUSTOMER}/unblock") as resp:
        assert resp.status == 200

    async with http.post("/sandbox/faults", json={"method": "sendMessage", "kind": "429", "retry_after": 2}) as resp:
        assert (await resp.json())["faults"][0]["kind"] == "429"
    async with http.get("/sandbox/state") as resp:
        state = await resp.json()
    assert state["pending_update_count"] == 5 and state["sent_count"] == 1
    assert state["webhook"]["url"] == "" and len(state["faults"]) == 1
    async with http.delete("/sandbox/faults") as resp:
        assert resp.status == 200
    assert (await bot.send_message(CUSTOMER, "after clearing")).text == "after clearing"


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("POST", f"/sandbox/chats/{CUSTOMER}/messages", {"text": "hi", "colour": "red"}, "unknown field(s): colour"),
        ("POST", f"/sandbox/chats/{CUSTOMER}/messages", {"text": 5}, "text must be str or null"),
        ("POST", "/sandbox/chats/abc/messages", {"text": "hi"}, "chat_id in the path must be an integer"),
        ("POST", "/sandbox/chats/-5/messages", {"text": "hi"}, "private chat ids are positive"),
        ("POST", f"/sandbox/chats/{CUSTOMER}/edits", {"message_id": 1}, "missing field(s): text"),
        ("POST", f"/sandbox/chats/{CUSTOMER}/block", None, "does not exist yet"),
        ("POST", "/sandbox/faults", {"method": "sendMessage", "kind": "boom"}, "fault kind must be one of"),
        ("POST", "/sandbox/faults", {"method": "sendMessage", "kind": "429", "count": True}, "count must be"),
        ("POST", "/sandbox/updates", [1, 2], "the body must be a JSON object"),
        ("GET", "/sandbox/sent?chat_id=x", None, "chat_id must be an integer"),
    ],
)
async def test_control_api_rejects_bad_input_with_json_400(
    http: aiohttp.ClientSession, method: str, path: str, body: Any, error: str
) -> None:
    async with http.request(method, path, json=body) as resp:
        assert resp.status == 400
        assert resp.content_type == "application/json"
        assert error in (await resp.json())["error"]


async def test_control_api_rejects_a_body_that_is_not_json(http: aiohttp.ClientSession) -> None:
    async with http.post(f"/sandbox/chats/{CUSTOMER}/messages", data=b"{not json",
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "the body must be a JSON object"


async def test_run_sandbox_serves_until_cancelled() -> None:
    ready: asyncio.Future[TelegramSandbox] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_sandbox("127.0.0.1", 0, "42:RUN-token", on_ready=ready.set_result))
    sandbox = await asyncio.wait_for(ready, 5)
    async with _bot_for(sandbox) as bot:
        assert (await bot.get_me()).id == 42
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get(f"{sandbox.url}/sandbox/state")
