"""HTTP helpers every webhook receiver shares: bounded body reads, raw header bytes, JSON errors."""
from __future__ import annotations

from aiohttp import web


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit` (Content-Length is not trusted)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None


def header_bytes(request: web.Request, name: str) -> bytes | None:
    """A header's raw bytes, for constant-time comparison with a secret."""
    value = request.headers.get(name)
    if value is None:
        return None
    # aiohttp decodes header bytes with surrogateescape; encoding them strictly would raise on
    # non-UTF-8 input and turn a bad request into a 500.
    return value.encode("utf-8", "surrogateescape")


def json_error(status: int, message: str) -> web.Response:
    """The project's error shape: {"error": message}."""
    return web.json_response({"error": message}, status=status)
