"""Replies go out through the real python-telegram-bot; platform failures become the project's errors."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import unused_port
from telegram import Bot

from connectors.telegram.sandbox import TelegramSandbox
from connectors.telegram.send import send_reply
from social_care.domain import OutboundReply
from social_care.errors import AuthError, PlatformError, RateLimited, TransientError
from tests.connectors.telegram.helpers import sandbox_bot

TOKEN = "123456789:SANDBOX-token"
ANNA = 424242424


@pytest.fixture
async def sandbox() -> AsyncIterator[TelegramSandbox]:
    async with TelegramSandbox(TOKEN) as sandbox:
        yield sandbox


@pytest.fixture
async def bot(sandbox: TelegramSandbox) -> AsyncIterator[Bot]:
    async with sandbox_bot(sandbox.base_url, read_timeout=1.0) as bot:
        yield bot


def reply(text: str = "It is on its way, sorry for the wait!", *, to: str | None = None,
          recipient: int | str = ANNA) -> OutboundReply:
    return OutboundReply(outbox_id="0b5e1c9e-1", channel_key="acme", recipient_id=str(recipient), text=text,
                         reply_to_source_id=to)


def customer_message(sandbox: TelegramSandbox, text: str = "Where is my parcel?") -> str:
    update = sandbox.customer_writes(ANNA, text, first_name="Anna", username="anna_r")
    return f"{ANNA}:{update['message']['message_id']}"


async def test_reply_quotes_the_customer_and_returns_the_platform_id(sandbox: TelegramSandbox, bot: Bot) -> None:
    source_id = customer_message(sandbox)

    platform_id = await send_reply(bot, reply(to=source_id))

    (sent,) = sandbox.sent_messages(ANNA)
    assert sent["text"] == "It is on its way, sorry for the wait!"
    assert sent["reply_to_message"]["message_id"] == int(source_id.split(":")[1])
    assert sent["reply_to_message"]["text"] == "Where is my parcel?"
    assert platform_id == f"{ANNA}:{sent['message_id']}"
    assert platform_id != source_id
    (call,) = [c for c in sandbox.requests if c.method == "sendMessage"]
    assert call.params["reply_parameters"]["allow_sending_without_reply"] is True


async def test_reply_without_a_quote_and_to_a_deleted_message_still_arrives(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    customer_message(sandbox)
    first = await send_reply(bot, reply("Hello!"))
    second = await send_reply(bot, reply("Following up", to=f"{ANNA}:9999"))

    sent = sandbox.sent_messages(ANNA)
    assert [m["text"] for m in sent] == ["Hello!", "Following up"]
    assert all("reply_to_message" not in m for m in sent)
    assert [first, second] == [f"{ANNA}:{m['message_id']}" for m in sent]


@pytest.mark.parametrize("timedelta_mode", [False, True], ids=["int", "PTB_TIMEDELTA"])
async def test_flood_control_becomes_rate_limited_with_the_wait(
    sandbox: TelegramSandbox, bot: Bot, monkeypatch: pytest.MonkeyPatch, timedelta_mode: bool
) -> None:
    if timedelta_mode:
        monkeypatch.setenv("PTB_TIMEDELTA", "1")
    customer_message(sandbox)
    sandbox.inject_fault("sendMessage", "429", retry_after=7)

    with pytest.raises(RateLimited) as err:
        await send_reply(bot, reply())

    assert err.value.retry_after == 7.0
    assert sandbox.sent_messages() == []
    await send_reply(bot, reply())  # the fault was one-off: the retry goes through
    assert len(sandbox.sent_messages()) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_is_transient_and_known_not_delivered(
    sandbox: TelegramSandbox, bot: Bot, status: int
) -> None:
    customer_message(sandbox)
    sandbox.inject_fault("sendMessage", "5xx", status=status)

    with pytest.raises(TransientError) as err:
        await send_reply(bot, reply())

    assert err.value.maybe_delivered is False  # safe to retry: no duplicate possible
    assert sandbox.sent_messages() == []


async def test_gateway_timeout_may_have_been_delivered(sandbox: TelegramSandbox, bot: Bot) -> None:
    customer_message(sandbox)
    sandbox.inject_fault("sendMessage", "5xx", status=504)
    with pytest.raises(TransientError) as err:
        await send_reply(bot, reply())
    assert err.value.maybe_delivered is True


async def test_customer_who_blocked_the_bot_is_a_permanent_403(sandbox: TelegramSandbox, bot: Bot) -> None:
    customer_message(sandbox)
    sandbox.customer_blocks(ANNA)

    with pytest.raises(PlatformError) as err:
        await send_reply(bot, reply())

    assert err.value.status == 403
    assert "blocked" in str(err.value)
    assert not isinstance(err.value, (RateLimited, TransientError))


async def test_connection_dropped_after_telegram_acted_may_have_been_delivered(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    customer_message(sandbox)
    sandbox.inject_fault("sendMessage", "drop_after")

    with pytest.raises(TransientError) as err:
        await send_reply(bot, reply())

    assert err.value.maybe_delivered is True
    # ...and indeed the customer got it: a blind retry would have duplicated it.
    assert len(sandbox.sent_messages(ANNA)) == 1


async def test_connection_dropped_before_an_answer_is_reported_as_maybe_delivered(
    sandbox: TelegramSandbox, bot: Bot
) -> None:
    # From the client's side a drop before and after processing look the same; assume the worst.
    customer_message(sandbox)
    sandbox.inject_fault("sendMessage", "drop")
    with pytest.raises(TransientError) as err:
        await send_reply(bot, reply())
    assert err.value.maybe_delivered is True
    assert sandbox.sent_messages() == []


async def test_read_timeout_may_have_been_delivered(sandbox: TelegramSandbox) -> None:
    customer_message(sandbox)
    sandbox.inject_fault("sendMessage", "slow", delay=0.5)

    async with sandbox_bot(sandbox.base_url, read_timeout=0.2) as impatient:
        with pytest.raises(TransientError) as err:
            await send_reply(impatient, reply())

    assert err.value.maybe_delivered is True
    await sandbox.wait_sent(1, chat_id=ANNA, timeout=3)  # Telegram finished the send after we gave up


async def test_unreachable_server_is_transient_and_known_not_delivered() -> None:
    bot = sandbox_bot(f"http://127.0.0.1:{unused_port()}/bot")
    await bot.request.initialize()
    try:
        with pytest.raises(TransientError) as err:
            await send_reply(bot, reply())
    finally:
        await bot.request.shutdown()
    assert err.value.maybe_delivered is False


async def test_rejected_token_is_an_auth_error(sandbox: TelegramSandbox) -> None:
    customer_message(sandbox)
    bot = sandbox_bot(sandbox.base_url, token="123456789:WRONG-token")
    with pytest.raises(AuthError):
        await send_reply(bot, reply())
    await bot.request.shutdown()
    assert sandbox.sent_messages() == []


async def test_unknown_chat_is_a_permanent_400(sandbox: TelegramSandbox, bot: Bot) -> None:
    with pytest.raises(PlatformError) as err:
        await send_reply(bot, reply(recipient=777000111))
    assert err.value.status == 400
    assert "chat not found" in str(err.value).lower()


@pytest.mark.parametrize(("recipient", "to"), [("@anna", None), (str(ANNA), "17"), (str(ANNA), "chat:x")])
async def test_malformed_ids_fail_before_any_request(
    sandbox: TelegramSandbox, bot: Bot, recipient: str, to: str | None
) -> None:
    before = len(sandbox.requests)
    with pytest.raises(PlatformError):
        await send_reply(bot, reply(recipient=recipient, to=to))
    assert len(sandbox.requests) == before
