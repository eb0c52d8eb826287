"""aiohttp receiver for X Account Activity webhooks: answer CRC, verify the signature, parse, store, then 200."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from connectors.webhooks import json_error, read_limited

from connectors.base import IngestSink
from connectors.x.parse import MAX_DELIVERY_EVENTS, PLATFORM, ParseContext, Parsed, activity_account, parse_activity
from social_care.errors import PayloadError
from social_care.secrets import Secret

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_BODY = 1024 * 1024
# A CRC answer is HMAC(consumer secret, token), the same function that signs a delivery body, so a
# token is answered only when it can never be a delivery: X's tokens are short opaque base64 strings
# (the docs show no grammar: https://docs.x.com/x-api/webhooks/quickstart), a delivery is a JSON
# object and starts with "{", which this alphabet lacks.
CRC_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{8,128}")
CRC_TOKEN_RULE = "crc_token must be 8 to 128 characters of A-Z a-z 0-9 + / = _ -"
# Per delivery: malformed events logged one by one, then one line with the count of the others;
# the same number of reasons is returned in the answer.
MAX_REPORTED_FAILURES = 5

Handler = Callable[[web.Request], Awaitable[web.Response]]


def webhook_path(channel_key: str) -> str:
    """The URL path registered with X for this channel (CRC GETs and event POSTs)."""
    return f"/webhooks/{PLATFORM}/{channel_key}"


def _digest(consumer_secret: Secret, message: bytes) -> str:
    mac = hmac.new(consumer_secret.reveal().encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode("ascii")


def is_crc_token(token: str) -> bool:
    """Whether `token` has the shape of X's crc tokens (and so can never be a delivery body)."""
    return CRC_TOKEN.fullmatch(token) is not None


def crc_response_token(consumer_secret: Secret, crc_token: str) -> str:
    """The `response_token` X expects for a CRC challenge: sha256=base64(HMAC-SHA256(secret, token))."""
    # https://docs.x.com/x-api/webhooks/introduction (challenge-response check)
    if not is_crc_token(crc_token):
        raise ValueError(CRC_TOKEN_RULE)
    return _digest(consumer_secret, crc_token.encode())


def sign_body(consumer_secret: Secret, body: bytes) -> str:
    """The `x-twitter-webhooks-signature` value X sends with `body`."""
    return _digest(consumer_secret, body)


def signature_matches(consumer_secret: Secret, body: bytes, header: str | None) -> bool:
    """Constant-time check of a delivery's signature header against the raw body."""
    if header is None:
        return False
    expected = sign_body(consumer_secret, body).encode()
    # aiohttp decodes header bytes with surrogateescape; encode them back the same way.
    return hmac.compare_digest(expected, header.encode("utf-8", "surrogateescape"))


def make_crc_handler(*, channel_key: str, consumer_secret: Secret | None) -> Handler:
    """GET handler answering X's challenge-response check."""

    async def crc(request: web.Request) -> web.Response:
        if consumer_secret is None:
            logger.error("x %s: CRC check received but no consumer secret is configured", channel_key)
            return json_error(503, "Account Activity is not configured for this channel (no consumer secret)")
        token = request.query.get("crc_token")
        if not token:
            return json_error(400, "missing crc_token")
        if not is_crc_token(token):
            # Never answered: the answer would be the signature of a delivery whose body is the token.
            logger.warning("x %s: CRC check refused (%d-character crc_token not shaped like X's)", channel_key,
                           len(token))
            return json_error(400, CRC_TOKEN_RULE)
        logger.info("x %s: answered a CRC check", channel_key)
        return web.json_response({"response_token": crc_response_token(consumer_secret, token)})

    return crc


def make_event_handler(*, ctx: ParseContext, consumer_secret: Secret | None, ingest: IngestSink) -> Handler:
    """POST handler that stores each verified delivery before acknowledging it."""
    key = ctx.channel_key

    async def events(request: web.Request) -> web.Response:
        if consumer_secret is None:
            logger.error("x %s: delivery received but no consumer secret is configured", key)
            return json_error(503, "Account Activity is not configured for this channel (no consumer secret)")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return json_error(413, f"body larger than {MAX_BODY} bytes")
        body = await read_limited(request, MAX_BODY)
        if body is None:
            return json_error(413, f"body larger than {MAX_BODY} bytes")
        # The signature covers the exact bytes received; nothing is parsed before it is checked.
        header = request.headers.get(SIGNATURE_HEADER)
        if not signature_matches(consumer_secret, body, header):
            reason = "missing signature" if header is None else "wrong signature"
            logger.warning("x %s: delivery rejected (%s)", key, reason)
            return json_error(403, reason)
        if request.content_type != "application/json":
            return json_error(415, "content type must be application/json")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return json_error(400, "malformed JSON")
        if not isinstance(payload, dict):
            # Also what keeps a CRC answer from signing a delivery: no crc token is a JSON object.
            return json_error(400, "delivery must be a JSON object")
        try:
            account = activity_account(payload)
            if account != ctx.brand_id:
                # Signed by our app, so genuine: one app's webhook serves every account subscribed to
                # it. A 200 keeps X from counting it as a failed delivery; nothing is stored here.
                reason = f"events for account {account}, not this channel's account {ctx.brand_id}"
                logger.warning("x %s: delivery ignored: %s", key, reason)
                return web.json_response({"ok": True, "ignored": reason})
            parsed = parse_activity(payload, ctx)
        except PayloadError as err:
            logger.info("x %s: delivery rejected: %s", key, err)
            return json_error(400, str(err))
        _log_unusable(key, parsed)
        if parsed.failed and not parsed.records and not parsed.ignored:
            return json_error(400, _failures(parsed))
        if parsed.records:
            try:
                await ingest(parsed.records)
            except Exception:
                # A 5xx lets X retry (Enterprise tiers); polling reconciles on the others.
                logger.exception("x %s: could not store a delivery of %d records", key, len(parsed.records))
                return json_error(500, "could not store the delivery")
        counts = Counter(parsed.ignored)
        logger.info(
            "x %s: delivery stored %s; ignored %d (%s); malformed %d",
            key,
            ", ".join(r.source_id for r in parsed.records) or "nothing",
            len(parsed.ignored),
            ", ".join(f"{reason}: {n}" for reason, n in counts.items()) or "-",
            len(parsed.failed),
        )
        answer: dict[str, object] = {"ok": True, "records": len(parsed.records)}
        if parsed.ignored:
            answer["ignored"] = "; ".join(f"{reason} ({n})" if n > 1 else reason for reason, n in counts.items())
        if parsed.failed:
            answer["malformed"] = list(parsed.failed[:MAX_REPORTED_FAILURES])  # the first few reasons
            answer["malformed_count"] = len(parsed.failed)
        if parsed.unread:
            answer["unread"] = parsed.unread
        return web.json_response(answer)

    return events


def _log_unusable(key: str, parsed: Parsed) -> None:
    """A bounded number of lines for the events of one delivery that were malformed or not read."""
    for failure in parsed.failed[:MAX_REPORTED_FAILURES]:
        logger.error("x %s: malformed event skipped: %s", key, failure)
    if len(parsed.failed) > MAX_REPORTED_FAILURES:
        logger.error("x %s: %d more malformed events skipped in the same delivery", key,
                     len(parsed.failed) - MAX_REPORTED_FAILURES)
    if parsed.unread:
        logger.error("x %s: delivery carries %d events, more than %d; %d not read", key,
                     MAX_DELIVERY_EVENTS + parsed.unread, MAX_DELIVERY_EVENTS, parsed.unread)


def _failures(parsed: Parsed) -> str:
    """The reason of a delivery with nothing usable: the first few failures and how many there were."""
    shown = "; ".join(parsed.failed[:MAX_REPORTED_FAILURES])
    more = len(parsed.failed) - MAX_REPORTED_FAILURES
    if more > 0:
        shown += f"; and {more} more malformed events"
    if parsed.unread:
        shown += f"; {parsed.unread} events beyond the first {MAX_DELIVERY_EVENTS} not read"
    return shown


def webhook_routes(*, ctx: ParseContext, consumer_secret: Secret | None, ingest: IngestSink) -> Sequence[web.RouteDef]:
    """`GET` (CRC) and `POST` (events) on /webhooks/x/{channel_key}."""
    path = webhook_path(ctx.channel_key)
    return [
        web.get(path, make_crc_handler(channel_key=ctx.channel_key, consumer_secret=consumer_secret),
                allow_head=False),
        web.post(path, make_event_handler(ctx=ctx, consumer_secret=consumer_secret, ingest=ingest)),
    ]

