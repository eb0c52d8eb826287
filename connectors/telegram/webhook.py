"""aiohttp receiver for Telegram webhooks: verify the secret, parse, store, and only then answer 200."""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from connectors.webhooks import header_bytes, json_error, read_limited

from connectors.base import IngestSink
from connectors.telegram.parse import PLATFORM, parse_update
from social_care.errors import PayloadError
from social_care.secrets import Secret

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.Response]]


def webhook_path(channel_key: str) -> str:
    """The URL path Telegram posts this channel's updates to."""
    return f"/webhooks/{PLATFORM}/{channel_key}"


def make_webhook_handler(
    *, channel_key: str, secret_token: Secret, ingest: IngestSink, include_groups: bool = False
) -> Handler:
    """An aiohttp handler that stores each verified update before acknowledging it."""

    async def handle(request: web.Request) -> web.Response:
        # Checked before the body is even read: unauthenticated callers cost us nothing.
        if not secret_token.matches(header_bytes(request, SECRET_HEADER)):
            missing = SECRET_HEADER not in request.headers
            logger.warning("telegram %s: webhook rejected (%s secret token)", channel_key, "missing" if missing else "wrong")
            return json_error(403, "missing secret token" if missing else "wrong secret token")
        if request.content_type != "application/json":
            return json_error(415, "content type must be application/json")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return json_error(413, f"body larger than {MAX_BODY} bytes")
        body = await read_limited(request, MAX_BODY)
        if body is None:
            return json_error(413, f"body larger than {MAX_BODY} bytes")
        try:
            update = json.loads(body)
        except (ValueError, RecursionError):
            return json_error(400, "malformed JSON")
        try:
            parsed = parse_update(update, channel_key=channel_key, include_groups=include_groups)
        except PayloadError as err:
            logger.info("telegram %s: webhook payload rejected: %s", channel_key, err)
            return json_error(400, str(err))
        except Exception:
            # A parser bug must not become a 5xx: Telegram would redeliver the same update forever.
            logger.exception("telegram %s: webhook payload could not be parsed", channel_key)
            return json_error(400, "the update could not be read")
        if parsed.ignored is not None:
            logger.info("telegram %s: update %s ignored: %s", channel_key, parsed.update_id, parsed.ignored)
            return web.json_response({"ok": True, "ignored": parsed.ignored})
        try:
            await ingest(parsed.records)
        except Exception:
            # 5xx makes Telegram deliver the update again later; ingest rolled back as a whole.
            logger.exception("telegram %s: could not store update %s", channel_key, parsed.update_id)
            return json_error(500, "could not store the update")
        return web.json_response({"ok": True})

    return handle


def webhook_route(
    *, channel_key: str, secret_token: Secret, ingest: IngestSink, include_groups: bool = False
) -> web.RouteDef:
    """The `POST /webhooks/telegram/{channel_key}` route for one channel."""
    handler = make_webhook_handler(
        channel_key=channel_key, secret_token=secret_token, ingest=ingest, include_groups=include_groups
    )
    return web.post(webhook_path(channel_key), handler)

