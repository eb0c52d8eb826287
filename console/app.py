"""The per-session entry point: check the cookie and the role, build the page, wire it to the bus."""
from __future__ import annotations

import logging
from html import escape
from typing import Any

import panel as pn

from console.auth import COOKIE, LOGOUT_PATH, login_redirect
from console.commands import load_agent
from console.context import ConsoleContext, SessionAgent
from console.i18n import Translator
from console.pages import PAGE_ROLES, may_open
from console.views.page import InboxPage

logger = logging.getLogger(__name__)


def _message_page(title: str, body: str, link: tuple[str, str]) -> pn.viewable.Viewable:
    href, label = link
    return pn.pane.HTML(
        f'<main class="sc-message-page"><h1>{escape(title)}</h1><p>{escape(body)}</p>'
        f'<p><a href="{escape(href)}">{escape(label)}</a></p></main>',
        sizing_mode="stretch_width", css_classes=["sc-message-page"])


def _arg(name: str) -> str | None:
    values = (pn.state.session_args or {}).get(name)
    if not values:
        return None
    raw = values[0]
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def inbox_app(context: ConsoleContext) -> Any:
    """Build the inbox for the browser session now being created."""
    pn.extension(notifications=True)
    claims = context.signer.verify(pn.state.cookies.get(COOKIE))
    if claims is None:  # the auth provider let the request in, so the cookie ran out just now
        t = Translator(context.default_language)
        return _message_page(t("login.title"), t("login.expired"), (login_redirect("/inbox", expired=True),
                                                                     t("login.submit")))
    t = Translator(claims.language)
    if not may_open("inbox", claims.role):
        roles = ", ".join(sorted(PAGE_ROLES["inbox"]))
        return _message_page(t("forbidden.title"),
                             t("forbidden.body", page="inbox", roles=roles, name=claims.name, role=claims.role),
                             (LOGOUT_PATH, t("logout")))
    agent = SessionAgent.from_claims(claims)
    doc = pn.state.curdoc
    session_id = doc.session_context.id if doc is not None and doc.session_context is not None else claims.sid
    page = InboxPage(context, agent, session_id=session_id, doc=doc)
    layout = page.layout()
    unsubscribe = context.bus.subscribe(page.on_bus)
    opened = _arg("c")
    open_id = int(opened) if opened and opened.isdigit() else None

    async def load() -> None:
        fresh = await load_agent(context.db, agent.id)
        if fresh is None or not may_open("inbox", fresh.role):
            layout.objects = [_message_page(t("forbidden.title"), t("forbidden.body", page="inbox", roles="",
                                                                     name=claims.name, role=fresh.role if fresh else "-"),
                                            (LOGOUT_PATH, t("logout")))]
            return
        page.set_agent(SessionAgent.from_claims(claims, fresh))
        await page.start(open_id)

    def destroyed(_context: Any) -> None:
        unsubscribe()
        page.close()

    pn.state.onload(load)
    pn.state.on_session_destroyed(destroyed)
    pn.state.add_periodic_callback(page.tick, period=10_000)  # type: ignore[arg-type]  # coroutines work
    return layout
