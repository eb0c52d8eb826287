"""The contract every platform connector fulfils, and the ingest seam it writes through."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from social_care.domain import CursorUpdate, Inbound, OutboundReply


class IngestSink(Protocol):
    """Stores inbound records in one transaction; returns only after they are durable."""

    async def __call__(
        self, records: Sequence[Inbound], *, cursor: CursorUpdate | None = None
    ) -> object: ...


class CursorSource(Protocol):
    """Reads a poller's persisted position."""

    async def __call__(self, platform: str, channel_key: str, name: str) -> str | None: ...


class Connector(Protocol):
    """A connected brand account on one platform."""

    slug: str  # the platform slug: "telegram", "x", ...
    channel_key: str  # which brand account; unique within the platform

    async def start(self) -> None:
        """Open client sessions, register webhooks, start pollers."""

    async def stop(self) -> None:
        """Stop pollers and close client sessions."""

    async def send(self, reply: OutboundReply) -> str:
        """Deliver one reply; return the platform's message id.

        Raises RateLimited, TransientError, PlatformError or AuthError.
        """

    def webhook_routes(self) -> Sequence[web.RouteDef]:
        """aiohttp routes under /webhooks/<slug>/<channel_key>, empty when the connector only polls."""
