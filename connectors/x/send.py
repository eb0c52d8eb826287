"""Deliver replies through tweepy's AsyncClient (public replies and DMs) and translate its errors."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from tweepy import (
    BadRequest,
    Forbidden,
    HTTPException,
    NotFound,
    TooManyRequests,
    TwitterServerError,
    Unauthorized,
)
from tweepy.asynchronous import AsyncClient

from connectors.x.budget import RateBudget, int_header
from connectors.x.text import MAX_DM, MAX_TWEET, weighted_length
from social_care.domain import OutboundReply
from social_care.errors import (
    AuthError,
    PlatformError,
    RateLimited,
    SocialCareError,
    TransientError,
)

logger = logging.getLogger(__name__)

CREATE_TWEET = "create_tweet"
CREATE_DM = "create_dm"

# aiohttp errors raised before the request left this process: resending cannot duplicate anything.
_NOT_SENT: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError,
                                              aiohttp.InvalidURL)


async def send_reply(
    client: AsyncClient,
    reply: OutboundReply,
    *,
    budgets: Mapping[str, RateBudget],
    clock: Callable[[], float] = time.time,
) -> str:
    """Send `reply` as a public reply ("tweet:<id>") or a DM ("dm:<dm_event_id>")."""
    if reply.mode == "public":
        return await _reply_publicly(client, reply, budgets[CREATE_TWEET], clock)
    if reply.mode == "private":
        return await _send_dm(client, reply, budgets[CREATE_DM], clock)
    raise PlatformError(f"unknown reply mode {reply.mode!r} (X has 'public' and 'private')", code="bad_mode")


async def _reply_publicly(client: AsyncClient, reply: OutboundReply, budget: RateBudget,
                          clock: Callable[[], float]) -> str:
    length = weighted_length(reply.text)
    if length > MAX_TWEET:
        raise PlatformError(
            f"public reply is {length} of {MAX_TWEET} characters as X counts them; shorten it or move to DM",
            status=400, code="too_long",
        )
    if not reply.text.strip():
        raise PlatformError("public reply is empty", status=400, code="empty")
    tweet_id = tweet_to_answer(reply)
    data = await _call(budget, clock, lambda: client.create_tweet(
        text=reply.text, in_reply_to_tweet_id=tweet_id, user_auth=True))
    sent = _field(data, "id")
    logger.info("x %s: outbox %s delivered as tweet %s in reply to %s", reply.channel_key, reply.outbox_id, sent,
                tweet_id)
    return f"tweet:{sent}"


async def _send_dm(client: AsyncClient, reply: OutboundReply, budget: RateBudget,
                   clock: Callable[[], float]) -> str:
    if not reply.recipient_id.isdigit():
        raise PlatformError(f"not an X user id: {reply.recipient_id!r}", status=400, code="bad_recipient")
    if len(reply.text) > MAX_DM:
        raise PlatformError(f"DM is {len(reply.text)} of {MAX_DM} characters", status=400, code="too_long")
    if not reply.text.strip():
        raise PlatformError("DM is empty", status=400, code="empty")
    data = await _call(budget, clock, lambda: client.create_direct_message(
        participant_id=reply.recipient_id, text=reply.text, user_auth=True))
    sent = _field(data, "dm_event_id")
    logger.info("x %s: outbox %s delivered as DM event %s to user %s", reply.channel_key, reply.outbox_id, sent,
                reply.recipient_id)
    return f"dm:{sent}"


def tweet_to_answer(reply: OutboundReply) -> str:
    """The tweet id a public reply answers: the message replied to, else the conversation's root."""
    for candidate in (reply.reply_to_source_id, reply.thread_key):
        if candidate and candidate.startswith("tweet:") and candidate[len("tweet:"):].isdigit():
            return candidate[len("tweet:"):]
    raise PlatformError(
        "a public reply needs a tweet to answer (this conversation has none: reply by DM)", status=400,
        code="no_tweet",
    )


async def _call(budget: RateBudget, clock: Callable[[], float], request: Callable[[], Any]) -> Mapping[str, Any]:
    # Known to be over budget (a 429 or a spent 24-hour cap): say so without spending a request.
    wait = budget.blocked_for(clock())
    if wait > 0:
        raise RateLimited(f"X {budget.endpoint} budget spent until the reset", retry_after=wait)
    try:
        response = await request()
        budget.observe(response.headers, clock())
        data = await response.json()
    except TooManyRequests as err:
        headers = err.response.headers
        wait = budget.on_rate_limited(headers, clock())
        has_reset = int_header(headers, "x-rate-limit-reset") is not None
        raise RateLimited(f"X rate limit on {budget.endpoint}: {_detail(err)}",
                          retry_after=wait if has_reset else None) from err
    except (TimeoutError, HTTPException, aiohttp.ClientError) as err:
        raise translate_error(err) from err
    created = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(created, Mapping):
        # 2xx means X acted; without an id the reply cannot be matched, so a human must look.
        raise TransientError(f"X accepted {budget.endpoint} but sent no id", maybe_delivered=True)
    return created


def _field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TransientError(f"X accepted the request but sent no '{key}'", maybe_delivered=True)
    return str(value)


def translate_error(err: BaseException) -> SocialCareError:
    """Map a tweepy or aiohttp error onto RateLimited, AuthError, PlatformError or TransientError."""
    if isinstance(err, TooManyRequests):
        reset = getattr(err, "reset_time", None)
        retry = max(0.0, reset - time.time()) + 1.0 if isinstance(reset, int) else None
        return RateLimited(f"X rate limit: {_detail(err)}", retry_after=retry)
    if isinstance(err, Unauthorized):
        return AuthError(f"X rejected the credentials: {_detail(err)}")
    if isinstance(err, Forbidden):
        # e.g. the user does not accept DMs from us, a duplicate tweet, or the tier lacks the endpoint.
        return PlatformError(f"X refused: {_detail(err)}", status=403, code=_code(err) or "forbidden")
    if isinstance(err, BadRequest):
        return PlatformError(f"X rejected the request: {_detail(err)}", status=400, code=_code(err) or "bad_request")
    if isinstance(err, NotFound):
        return PlatformError(f"X: not found: {_detail(err)}", status=404, code=_code(err) or "not_found")
    if isinstance(err, TwitterServerError):
        status = err.response.status
        # A gateway timeout may come after the backend created the tweet; other 5xx mean it did not.
        return TransientError(f"X server error {status}", maybe_delivered=status == 504)
    if isinstance(err, HTTPException):
        status = err.response.status
        return PlatformError(f"X answered {status}: {_detail(err)}", status=status, code=_code(err))
    if isinstance(err, aiohttp.ContentTypeError):
        # tweepy reads every error body as JSON; a proxy's HTML error page lands here.
        return _from_status(err.status, err.headers or {})
    if isinstance(err, _NOT_SENT):
        return TransientError(f"X unreachable: {type(err).__name__}", maybe_delivered=False)
    # Read timeouts, connections dropped after sending, truncated answers: X may have acted.
    return TransientError(f"X did not answer: {type(err).__name__}", maybe_delivered=True)


def _from_status(status: int, headers: Mapping[str, Any]) -> SocialCareError:
    if status == 429:
        reset = int_header(headers, "x-rate-limit-reset")
        return RateLimited("X rate limit", retry_after=max(0.0, reset - time.time()) + 1.0 if reset else None)
    if status == 401:
        return AuthError("X rejected the credentials")
    if status >= 500:
        return TransientError(f"X server error {status}", maybe_delivered=status == 504)
    return PlatformError(f"X answered {status}", status=status)


def _detail(err: HTTPException) -> str:
    return "; ".join(str(m) for m in err.api_messages) or f"HTTP {err.response.status}"


def _code(err: HTTPException) -> str | None:
    if err.api_codes:
        return str(err.api_codes[0])
    errors = getattr(err, "api_errors", None) or []
    for error in errors:
        kind = error.get("type") if isinstance(error, Mapping) else None
        if isinstance(kind, str):
            return kind.rsplit("/", 1)[-1]
    return None
