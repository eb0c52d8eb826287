"""Serve the console (Panel/Bokeh on Tornado) inside the service's running asyncio loop."""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import panel as pn
from tornado.web import RequestHandler

from console.app import inbox_app
from console.auth import (
    DEFAULT_TTL,
    LOGIN_PATH,
    LOGOUT_PATH,
    ConsoleAuth,
    LoginHandler,
    LogoutHandler,
    SessionSigner,
    session_secret,
)
from console.canned import load_canned
from console.commands import Commands
from console.context import ConsoleContext
from console.i18n import pick_language
from console.presence import PRESENCE_TOPIC, Presence
from console.sharing import SharedResults
from social_care.config import Settings

logger = logging.getLogger(__name__)

ENV_PORT = "SOCIAL_CARE_CONSOLE_PORT"
ENV_LANGUAGE = "SOCIAL_CARE_CONSOLE_LANGUAGE"
ENV_SESSION_TTL = "SOCIAL_CARE_CONSOLE_SESSION_TTL"  # seconds; until Settings has a console section
ENV_ORIGINS = "SOCIAL_CARE_CONSOLE_ORIGINS"  # extra host:port values browsers reach the console by


def console_port(settings: Settings) -> int:
    """$SOCIAL_CARE_CONSOLE_PORT, else the service port + 1 (until Settings has a console port)."""
    raw = os.environ.get(ENV_PORT)
    return int(raw) if raw else settings.port + 1


class _RootRedirect(RequestHandler):
    def get(self) -> None:
        self.redirect("/inbox")


@dataclass
class ConsoleHandle:
    """A running console; `stop()` closes it."""

    server: Any
    context: ConsoleContext
    host: str
    port: int
    unsubscribe: Callable[[], None] = lambda: None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop listening; open browser sessions are dropped."""
        self.unsubscribe()
        self.server.stop()


async def start_console(runtime: Any, settings: Settings, *, port: int | None = None,
                        host: str | None = None, signer: SessionSigner | None = None) -> ConsoleHandle:
    """Start the console next to the service, on the runtime's store and bus; call `stop()` to end it."""
    host = host or settings.host
    port = console_port(settings) if port is None else port
    ttl = float(os.environ.get(ENV_SESSION_TTL) or DEFAULT_TTL)
    signer = signer or SessionSigner(session_secret(settings), ttl=ttl)
    presence = Presence()
    context = ConsoleContext(
        db=runtime.db, bus=runtime.bus, commands=Commands(runtime.db, runtime.bus, getattr(runtime, "rules", None)), presence=presence,
        signer=signer, brand=settings.brand,
        default_language=pick_language(os.environ.get(ENV_LANGUAGE)), canned=load_canned(),
        pages=SharedResults(),
    )
    assert context.pages is not None
    unsubscribe = runtime.bus.subscribe(context.pages.on_bus)
    presence.on_change = lambda ids: runtime.bus.publish(PRESENCE_TOPIC, ids=ids)
    secure = bool(settings.public_url and settings.public_url.startswith("https://"))
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    if settings.public_url:
        origins.append(settings.public_url.split("://", 1)[-1].rstrip("/"))
    origins += [o.strip() for o in os.environ.get(ENV_ORIGINS, "").split(",") if o.strip()]
    previous_sigint = signal.getsignal(signal.SIGINT)
    server = pn.serve(
        {"inbox": lambda: inbox_app(context)},  # a function, so Panel builds it once per session
        port=port, address=host, start=False, show=False, title={"inbox": "social-care"},
        websocket_origin=origins, auth_provider=ConsoleAuth(signer),
        extra_patterns=[
            (LOGIN_PATH, LoginHandler, {"db": runtime.db, "signer": signer,
                                        "default_language": context.default_language, "secure": secure}),
            (LOGOUT_PATH, LogoutHandler, {"signer": signer}),
            (r"/", _RootRedirect),
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
    return ConsoleHandle(server, context, host, port, unsubscribe)
