"""Serve the console (Panel/Bokeh on Tornado) inside the service's running asyncio loop."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import panel as pn
from tornado.httputil import HTTPHeaders
from tornado.web import OutputTransform, RequestHandler

from console.app import page_app
from console.auth import (
    COOKIE,
    LOGIN_PATH,
    LOGOUT_PATH,
    ConsoleAuth,
    LoginHandler,
    LogoutHandler,
    SessionSigner,
    current_session,
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
from social_care.store.db import Database
from social_care.store.sessions import session_epochs

logger = logging.getLogger(__name__)

SESSION_CHECK = 2.0  # seconds between checks that open tabs were not signed out by another process

# Bokeh embeds its document and loader as inline scripts and Panel compiles component code at runtime,
# so scripts need 'unsafe-inline' and 'unsafe-eval'; everything else is held to this origin, nothing
# may frame the console (clickjacking), and forms may only post back here.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
    "style-src 'self' 'unsafe-inline' blob: data:",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self' blob: data:",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders(OutputTransform):
    """Adds the console's security headers to every response it sends (pages, sign-in, redirects, assets)."""

    def transform_first_chunk(self, status_code: int, headers: HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, HTTPHeaders, bytes]:
        for name, value in SECURITY_HEADERS.items():
            headers[name] = value
        return status_code, headers, chunk

def console_port(settings: Settings) -> int:
    """The console's port: [console] port (or $SOCIAL_CARE_CONSOLE_PORT), else the service port + 1."""
    return settings.console_settings.port_for(settings.port)


class _RootRedirect(RequestHandler):
    """`/` goes to the signed-in role's home page, or to sign-in."""

    def initialize(self, signer: SessionSigner, db: Database) -> None:
        self.signer = signer
        self.db = db

    async def get(self) -> None:
        signed_in = await current_session(self.signer, self.db, self.get_cookie(COOKIE))
        self.redirect(home_for(signed_in.role) if signed_in else LOGIN_PATH)


@dataclass
class ConsoleHandle:
    """A running console; `stop()` closes it."""

    server: Any
    context: ConsoleContext
    host: str
    port: int
    unsubscribe: Callable[[], None] = lambda: None
    session_checks: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop listening; open browser sessions are dropped."""
        self.unsubscribe()
        if self.session_checks is not None:
            self.session_checks.cancel()
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
        websocket_origin=origins, auth_provider=ConsoleAuth(signer, runtime.db),
        # The session token Bokeh embeds in every page is readable by the page: no cookie, no credential in it.
        include_cookies=[], exclude_headers=["Cookie", "Authorization"],
        transforms=[SecurityHeaders],
        extra_patterns=[
            (LOGIN_PATH, LoginHandler, {"db": runtime.db, "signer": signer,
                                        "default_language": context.default_language, "secure": secure,
                                        "throttle": LoginThrottle()}),
            (LOGOUT_PATH, LogoutHandler, {"signer": signer, "db": runtime.db, "sessions": context.sessions}),
            (r"/", _RootRedirect, {"signer": signer, "db": runtime.db}),
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
    checks = asyncio.get_running_loop().create_task(_check_sessions(context))
    return ConsoleHandle(server, context, host, port, unsubscribe, checks)


async def _check_sessions(context: ConsoleContext) -> None:
    """End the open tabs whose agent signed out or changed password in another process (writes check at once)."""
    while True:
        await asyncio.sleep(SESSION_CHECK)
        agent_ids = context.sessions.agent_ids()
        if not agent_ids:
            continue
        try:
            epochs = await session_epochs(context.db, agent_ids)
        except Exception:  # a database hiccup: writes still check on their own; try again later
            logger.warning("could not check console sessions against the store", exc_info=True)
            continue
        ended = context.sessions.end_stale(epochs, agent_ids)
        if ended:
            logger.info("ended %d signed-out console session(s)", ended)
