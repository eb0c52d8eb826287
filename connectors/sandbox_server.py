"""The HTTP server life cycle every platform sandbox shares: start on loopback, stop, URL."""
from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

from aiohttp import web

logger = logging.getLogger(__name__)


class LoopbackServer:
    """An aiohttp app served on a local address; subclasses provide `make_app()` and a `name`."""

    name = "sandbox"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    def make_app(self) -> web.Application:
        """The application to serve."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind the HTTP server; with port 0 the operating system picks a free port."""
        if self._runner is not None:
            raise RuntimeError(f"the {self.name} is already running")
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        logger.info("%s listening on %s", self.name, self.url)

    async def stop(self) -> None:
        """Stop serving."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def serve_forever(self) -> None:
        """Serve until the calling task is cancelled, then stop."""
        if self._runner is None:
            await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    @property
    def url(self) -> str:
        """The server's root URL, e.g. http://127.0.0.1:8082."""
        port = self._bound_port if self._bound_port is not None else self.port
        if not port:
            raise RuntimeError(f"the {self.name} is not started and has no fixed port")
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
