"""HTTP plumbing shared by the API and webhooks: JSON errors, bodies, and the app keys."""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from social_care.actions import ActionError
from social_care.bus import Bus
from social_care.store.db import Database
from social_care.store.models import Agent

logger = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024

DB = web.AppKey("db", Database)
RULES = web.AppKey("rules", object)  # triage.TriageRules; typed loosely to keep triage out of this module
CHANNEL_STATUS = web.AppKey("channel_status", Callable[[], list[dict[str, Any]]])
BUS = web.AppKey("bus", Bus)
AGENT = web.RequestKey("agent", Agent)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, reason: str, **headers: str) -> web.Response:
    """The one error shape: {"error": reason}."""
    return web.json_response({"error": reason}, status=status, headers=headers or None)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes JSON with the right status; unexpected ones are logged and hidden."""
    try:
        return await handler(request)
    except ActionError as err:
        return json_error(err.status, str(err))
    except web.HTTPException as err:
        if err.content_type == "application/json" or err.status < 400:
            raise
        reason = err.reason
        if err.status == 413:
            reason = f"request body too large (limit {MAX_BODY} bytes)"
        return json_error(err.status, reason or "error", **{
            k: v for k, v in err.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")
        })
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error")


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 4xx explaining what is wrong with it."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="Content-Type must be application/json")
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise web.HTTPBadRequest(reason=f"Malformed JSON: {err}") from err
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="The body must be a JSON object")
    return body


def current_agent(request: web.Request) -> Agent:
    """The agent the auth middleware found for this request."""
    return request[AGENT]
