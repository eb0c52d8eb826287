"""HTTP plumbing of the API: strict JSON responses, the error shape and middleware, and the app keys."""
from __future__ import annotations

import json
import logging
import math
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


def _finite(value: object) -> object:
    """`value` with every NaN and infinity replaced by None, which JSON can say."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def dumps(data: object) -> str:
    """Strict JSON text: a non-finite float (a NaN stored by older versions, say) becomes null."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), allow_nan=False)


def json_response(data: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response that strict parsers accept; every API response goes through here."""
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


def json_error(status: int, reason: str, **headers: str) -> web.Response:
    """The one error shape: {"error": reason}."""
    return json_response({"error": reason}, status=status, headers=headers or None)


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


def current_agent(request: web.Request) -> Agent:
    """The agent the auth middleware found for this request."""
    return request[AGENT]
