"""The per-session entry point of every page: check the cookie and the role, build the page, wire it to the bus."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from html import escape
from typing import Any, Protocol

import panel as pn
from bokeh.document import Document

from console.auth import LOGOUT_PATH, Claims, claims_of, login_redirect
from console.commands import load_agent
from console.context import ConsoleContext, SessionAgent
from console.i18n import Translator
from console.pages import PAGE_ROLES, home_for, may_open
from console.views.session_tasks import run_in_session
from console.views.spike_banner import BANNER_TICK_MS, SpikeBanner

logger = logging.getLogger(__name__)

TICK_MS = 10_000


class ConsolePage(Protocol):
    """What the session wrapper needs from a page."""

    def layout(self) -> pn.viewable.Viewable: ...

    def set_agent(self, agent: SessionAgent) -> None: ...

    async def start(self, open_id: int | None = None) -> None: ...

    def on_bus(self, topic: str, data: dict[str, Any]) -> None: ...

    async def tick(self) -> None: ...

    def close(self) -> None: ...


PageFactory = Callable[..., ConsolePage]  # (context, agent, *, session_id, doc) -> page


def _message_page(title: str, body: str, link: tuple[str, str]) -> pn.viewable.Viewable:
    href, label = link
    return pn.pane.HTML(
        f'<main class="sc-message-page"><h1>{escape(title)}</h1><p>{escape(body)}</p>'
        f'<p><a href="{escape(href)}">{escape(label)}</a></p></main>',
        sizing_mode="stretch_width", css_classes=["sc-message-page"])


def _forbidden(t: Translator, page: str, name: str, role: str) -> pn.viewable.Viewable:
    roles = ", ".join(sorted(PAGE_ROLES[page]))
    home = home_for(role)
    link = (home, t(f"{home.strip('/')}.title")) if home != "/login" else (LOGOUT_PATH, t("logout"))
    return _message_page(t("forbidden.title"), t("forbidden.body", page=t(f"{page}.title"), roles=roles,
                                                 name=name, role=role), link)


def _arg(name: str) -> str | None:
    values = (pn.state.session_args or {}).get(name)
    if not values:
        return None
    raw = values[0]
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def session_claims() -> Claims | None:
    """The sign-in ConsoleAuth checked for the request building this session (the page never sees the cookie)."""
    doc: Document | None = pn.state.curdoc
    context = doc.session_context if doc is not None else None
    request = context.request if context is not None else None
    return claims_of(request) if request is not None else None


def page_app(context: ConsoleContext, page: str, factory: PageFactory) -> Any:
    """Build `page` for the browser session now being created, if the signed-in role may open it."""
    pn.extension(notifications=True)
    claims = session_claims()
    if claims is None or claims.expired(context.signer.clock()):  # checked by the auth provider; ran out since
        t = Translator(context.default_language)
        return _message_page(t("login.title"), t("login.expired"),
                             (login_redirect(f"/{page}", expired=True), t("login.submit")))
    t = Translator(claims.language)
    if not may_open(page, claims.role):
        return _forbidden(t, page, claims.name, claims.role)
    logout_token = context.signer.logout_token(claims)
    agent = SessionAgent.from_claims(claims, logout_token=logout_token)
    doc: Document | None = pn.state.curdoc
    session_id = doc.session_context.id if doc is not None and doc.session_context is not None else claims.sid
    # This session's writes check, in their own transaction, that the session was not ended meanwhile.
    context = replace(context, commands=context.commands.for_session(claims.agent_id, claims.epoch))
    view = factory(context, agent, session_id=session_id, doc=doc)
    calendar = context.metrics.business_hours if context.metrics is not None else None
    banner = SpikeBanner(context.db, t, now=context.now, calendar=calendar, doc=doc)  # above every page
    layout = pn.Column(banner.pane, view.layout(), sizing_mode="stretch_width")
    unsubscribe = context.bus.subscribe(view.on_bus)
    unsubscribe_banner = context.bus.subscribe(banner.on_bus)
    opened = _arg("c")
    open_id = int(opened) if opened and opened.isdigit() else None

    async def load() -> None:
        fresh = await load_agent(context.db, agent.id)
        if fresh is None or not may_open(page, fresh.role):  # the role changed since sign-in
            layout.objects = [_forbidden(t, page, claims.name, fresh.role if fresh else "-")]
            return
        view.set_agent(SessionAgent.from_claims(claims, fresh, logout_token=logout_token))
        await banner.load()
        await view.start(open_id)

    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        forget()
        for callback in callbacks:
            callback.stop()
        unsubscribe()
        unsubscribe_banner()
        view.close()

    def destroyed(_context: Any) -> None:
        close()

    def end() -> None:
        """Signed out (logout, password change): stop the page and say so; nothing can be sent from it any more."""
        async def show() -> None:
            close()
            layout.objects = [_message_page(t("signed_out.title"), t("signed_out.body"),
                                            (login_redirect(f"/{page}"), t("login.submit")))]

        run_in_session(doc, show, lambda err: logger.error("could not end a signed-out session", exc_info=err))

    forget = context.sessions.add(claims.agent_id, claims.epoch, end)
    pn.state.onload(load)
    pn.state.on_session_destroyed(destroyed)
    callbacks = [pn.state.add_periodic_callback(view.tick, period=TICK_MS),  # type: ignore[arg-type]  # coroutines work
                 pn.state.add_periodic_callback(banner.tick, period=BANNER_TICK_MS)]  # type: ignore[arg-type]
    return layout
