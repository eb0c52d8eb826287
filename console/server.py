"""Serve the console (Panel/Bokeh on Tornado) inside the service's running asyncio loop."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import panel as pn
from tornado.web import RequestHandler

from console.app import page_app
from console.auth import (
    LOGIN_PATH,
    LOGOUT_PATH,
    REVOCATION_REFRESH,
    ConsoleAuth,
    LoginHandler,
    LogoutHandler,
    COOKIE,
    SessionSigner,
    load_revocations,
    session_secret,
)
from console.canned import CannedLibrary
from console.commands import Commands
from console.context import ConsoleContext
from console.i18n import pick_language
from console.login_guard import LoginThrottle
from console.page_registry import page_factories
from console.pages import home_for
from console.presence import PRESENCE_TOPIC, Presence
from console.sharing import SharedResults
from social_care.config import Settings

logger = logging.getLogger(__name__)

def console_port(settings: Settings) -> int:
    """The console's port: [console] port (or $SOCIAL_CARE_CONSOLE_PORT), else the service port + 1."""
    return settings.console_settings.port_for(settings.port)


class _RootRedirect(RequestHandler):
    """`/` goes to the signed-in role's home page, or to sign-in."""

    def initialize(self, signer: SessionSigner) -> None:
        self.signer = signer

    def get(self) -> None:
        claims = self.signer.verify(self.get_cookie(COOKIE))
        self.redirect(home_for(claims.role) if claims else LOGIN_PATH)


@dataclass
class ConsoleHandle:
    """A running console; `stop()` closes it."""

    server: Any
    context: ConsoleContext
    host: str
    port: int
    unsubscribe: Callable[[], None] = lambda: None
    revocations: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop listening; open browser sessions are dropped."""
        self.unsubscribe()
        if self.revocations is not None:
            self.revocations.cancel()
        self.context.canned.stop()
        self.server.stop()


def _session_builder(context: ConsoleContext, name: str, factory: Any) -> Callable[[], Any]:
    # A function, so Panel builds the page once per browser session.
    return lambda: page_app(context, name, factory)


async def start_console(runtime: Any, settings: Settings, *, port: int | None = None,
                        host: str | None = None, signer: SessionSigner | None = None) -> ConsoleHandle:
    """Start the console next to the service, on the runtime's store and bus; call `stop()` to end it."""
    host = host or settings.host
    options = settings.console_settings
    port = console_port(settings) if port is None else port
    signer = signer or SessionSigner(session_secret(settings), ttl=options.session_ttl)
    await load_revocations(signer, runtime.db)
    presence = Presence()
    context = ConsoleContext(
        db=runtime.db, bus=runtime.bus, commands=Commands(runtime.db, runtime.bus, getattr(runtime, "rules", None)), presence=presence,
        signer=signer, brand=settings.brand,
        default_language=pick_language(options.language), canned=CannedLibrary(runtime.db, runtime.bus),
        pages=SharedResults(), metrics=getattr(runtime, "metrics", None),
    )
    assert context.pages is not None
    await context.canned.start(seed_from=options.canned_replies)
    unsubscribe = runtime.bus.subscribe(context.pages.on_bus)
    presence.on_change = lambda ids: runtime.bus.publish(PRESENCE_TOPIC, ids=ids)
    secure = bool(settings.public_url and settings.public_url.startswith("https://"))
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    if settings.public_url:
        origins.append(settings.public_url.split("://", 1)[-1].rstrip("/"))
    origins += list(options.origins)
    previous_sigint = signal.getsignal(signal.SIGINT)
    factories = page_factories()
    apps = {name: _session_builder(context, name, factory) for name, factory in factories.items()}
    server = pn.serve(
        apps, port=port, address=host, start=False, show=False, title={name: "social-care" for name in apps},
        websocket_origin=origins, auth_provider=ConsoleAuth(signer),
        extra_patterns=[
            (LOGIN_PATH, LoginHandler, {"db": runtime.db, "signer": signer,
                                        "default_language": context.default_language, "secure": secure,
                                        "throttle": LoginThrottle()}),
            (LOGOUT_PATH, LogoutHandler, {"signer": signer, "db": runtime.db}),
            (r"/", _RootRedirect, {"signer": signer}),
        ],
        check_unused_sessions=5_000, unused_session_lifetime=15_000,
    )
    # pn.serve installs its own SIGINT handler; the service keeps its own shutdown path.
    try:
        signal.signal(signal.SIGINT, previous_sigint)
    except ValueError:  # not the main thread: pn.serve could not install its handler either
        pass
    server.start()
    logger.info("console listening on http://%s:%s/inbox", host, port)
    revocations = asyncio.get_running_loop().create_task(_reload_revocations(signer, runtime.db))
    return ConsoleHandle(server, context, host, port, unsubscribe, revocations)


async def _reload_revocations(signer: SessionSigner, db: Any) -> None:
    """Keep learning of logouts made by other console processes on the same database."""
    while True:
        await asyncio.sleep(REVOCATION_REFRESH)
        try:
            await load_revocations(signer, db)
        except Exception:  # a database hiccup: keep the sessions known so far, try again later
            logger.warning("could not reload console logouts from the store", exc_info=True)
