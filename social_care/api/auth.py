"""Bearer-token authentication for /api routes."""
from __future__ import annotations

from aiohttp import web

from social_care.api.http import AGENT, DB, Handler, json_error
from social_care.store.agents import agent_for_token

PUBLIC_PATHS = frozenset({"/api/openapi.json"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve `Authorization: Bearer <token>` to an agent; 401 when missing or unknown."""
    if not request.path.startswith("/api/") or request.path in PUBLIC_PATHS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="social-care"'}
    if scheme.lower() != "bearer" or not token.strip():
        return json_error(401, "missing bearer token", **challenge)
    token = token.strip()
    # Tokens are printable ASCII; aiohttp hands other header bytes over as surrogate escapes, which
    # cannot even be hashed. Such a token is simply not one of ours.
    if not (token.isascii() and token.isprintable()):
        return json_error(401, "invalid token: a token is printable ASCII", **challenge)
    agent = await agent_for_token(request.app[DB], token)
    if agent is None:
        return json_error(401, "invalid token", **challenge)
    request[AGENT] = agent
    return await handler(request)
