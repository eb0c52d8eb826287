"""Long-running processes: the service and the sandboxes, until SIGINT or SIGTERM."""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

from aiohttp import web

from social_care.config import Settings
from social_care.service import build_app, build_runtime

logger = logging.getLogger(__name__)


async def wait_for_stop(duration: float | None = None) -> None:
    """Return on SIGINT/SIGTERM, or after `duration` seconds when given."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if duration:
            try:
                await asyncio.wait_for(stop.wait(), duration)
            except TimeoutError:
                pass
        else:
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def start_service(settings: Settings) -> web.AppRunner:
    """Build and start the service; the caller cleans up the returned runner."""
    runtime = await build_runtime(settings)
    app = build_app(runtime)
    consoles: list[Any] = []

    async def stop_console(_app: web.Application) -> None:
        for console in consoles:
            console.stop()

    app.on_shutdown.append(stop_console)  # runs before the workers stop and the store closes
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    logger.info("social-care listening on http://%s:%s", settings.host, settings.port)
    if settings.console:
        from console.server import start_console

        try:
            consoles.append(await start_console(runtime, settings))
        except OSError as err:  # e.g. its port is taken: the service itself keeps running
            logger.error("console not started: %s", err)
    return runner


async def serve(settings: Settings) -> None:
    """Run the service until stopped."""
    runner = await start_service(settings)
    try:
        await wait_for_stop()
    finally:
        await runner.cleanup()


async def run_sandboxes(host: str, port: int, token: str, x_port: int) -> None:
    """Run the Telegram and X sandboxes until stopped."""
    from connectors.telegram.sandbox import TelegramSandbox
    from connectors.x.sandbox import XSandbox, snowflake_now

    # Ids must keep growing across sandbox restarts, or a poller's stored cursor would skip them.
    telegram = TelegramSandbox(token, host=host, port=port, first_update_id=int(time.time()))
    x = XSandbox(host=host, port=x_port, first_id=snowflake_now())
    await telegram.start()
    await x.start()
    print(f"Telegram sandbox: Bot API at {telegram.base_url}<token>/<method>, control API at {telegram.url}/sandbox/",
          flush=True)
    print(f"X sandbox: API v2 at {x.url}/2/..., control API at {x.url}/sandbox/", flush=True)
    try:
        await wait_for_stop()
    finally:
        await x.stop()
        await telegram.stop()
