"""Deliver replies through python-telegram-bot and translate its errors into the project's own."""
from __future__ import annotations

import logging
import warnings
from datetime import timedelta

import httpx
from telegram import Bot, ReplyParameters
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from social_care.domain import OutboundReply
from social_care.errors import AuthError, PlatformError, RateLimited, TransientError

logger = logging.getLogger(__name__)

# httpx errors raised before a single byte of the request left this process.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError, httpx.UnsupportedProtocol)


def split_source_id(source_id: str) -> tuple[int, int]:
    """Split our "chat_id:message_id" id back into its two Telegram integers."""
    chat_id, sep, message_id = source_id.rpartition(":")
    try:
        if not sep:
            raise ValueError(source_id)
        return int(chat_id), int(message_id)
    except ValueError as err:
        raise PlatformError(f"not a Telegram message id: {source_id!r}", status=None, code="bad_id") from err


def retry_after_seconds(err: RetryAfter) -> float:
    """RetryAfter.retry_after in seconds, whether PTB gives an int or (PTB_TIMEDELTA=1) a timedelta."""
    with warnings.catch_warnings():
        # Reading the int form warns that it will become a timedelta; both are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = err.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


async def send_reply(bot: Bot, reply: OutboundReply) -> str:
    """Send `reply` as a Telegram message; return its id as "chat_id:message_id"."""
    try:
        chat_id = int(reply.recipient_id)
    except ValueError as err:
        raise PlatformError(f"not a Telegram chat id: {reply.recipient_id!r}", code="bad_recipient") from err
    reply_parameters = None
    if reply.reply_to_source_id:
        quoted_chat, quoted_message = split_source_id(reply.reply_to_source_id)
        # Only quote inside the same chat; allow_sending_without_reply keeps the reply going
        # out when the customer deleted the message it answers.
        reply_parameters = ReplyParameters(
            message_id=quoted_message,
            chat_id=None if quoted_chat == chat_id else quoted_chat,
            allow_sending_without_reply=True,
        )
    try:
        sent = await bot.send_message(chat_id=chat_id, text=reply.text, reply_parameters=reply_parameters)
    except TelegramError as err:
        raise translate_error(err) from err
    logger.info("telegram: outbox %s delivered as %s:%s", reply.outbox_id, sent.chat_id, sent.message_id)
    return f"{sent.chat_id}:{sent.message_id}"


def translate_error(err: TelegramError) -> Exception:
    """Map a python-telegram-bot error onto RateLimited, AuthError, PlatformError or TransientError."""
    if isinstance(err, RetryAfter):
        return RateLimited(f"telegram flood control: {err.message}", retry_after=retry_after_seconds(err))
    if isinstance(err, InvalidToken):
        # PTB's message quotes the token itself, so it must not travel any further.
        return AuthError("telegram rejected the bot token (Unauthorized); check the channel's token")
    if isinstance(err, Forbidden):
        return PlatformError(f"telegram refused: {err.message}", status=403, code="forbidden")
    if isinstance(err, ChatMigrated):
        return PlatformError(
            f"group moved to supergroup {err.new_chat_id}", status=400, code="chat_migrated"
        )
    if isinstance(err, BadRequest):
        return PlatformError(f"telegram rejected the request: {err.message}", status=400, code="bad_request")
    if isinstance(err, Conflict):
        return PlatformError(f"telegram conflict: {err.message}", status=409, code="conflict")
    if isinstance(err, NetworkError):
        return TransientError(f"telegram unreachable: {err.message}", maybe_delivered=maybe_delivered(err))
    return PlatformError(f"telegram error: {err.message}")


def maybe_delivered(err: NetworkError) -> bool:
    """Whether Telegram may have acted on a request that failed with this network error."""
    # sendMessage has no idempotency key, so a blind retry after a request reached Telegram can
    # duplicate the reply (https://core.telegram.org/bots/api#sendmessage has no dedup field).
    # PTB raises TimedOut/NetworkError chained to the httpx error for transport failures
    # (https://docs.python-telegram-bot.org/en/stable/telegram.error.html#telegram.error.NetworkError):
    # connect/pool failures mean nothing left this process; a read timeout or a dropped
    # connection may come after Telegram processed the request. Without an httpx cause the
    # server answered with an error status (5xx, "Bad Gateway"), i.e. it did not send the
    # message -- except 504, where a gateway gave up waiting on a backend that may still act.
    cause = err.__cause__
    if isinstance(cause, _NOT_SENT):
        return False
    if isinstance(cause, httpx.HTTPError) or isinstance(err, TimedOut):
        return True
    if cause is not None and not isinstance(cause, TelegramError):
        # PTB wraps unknown failures of the HTTP layer; we cannot tell, so assume the worst.
        return True
    return "Gateway Timeout" in err.message or "(504)" in err.message
