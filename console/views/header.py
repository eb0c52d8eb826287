"""The bar on top of every console page: title, the pages this role may open, who is signed in, sign-out."""
from __future__ import annotations

from html import escape

import panel as pn

from console.auth import LOGOUT_PATH
from console.context import SessionAgent
from console.i18n import Translator
from console.pages import pages_for

_STYLE = """
.sc-top { display: flex; align-items: baseline; gap: 14px; font-family: system-ui, sans-serif; flex-wrap: wrap; }
.sc-top h1 { font-size: 18px; margin: 4px 0; } .sc-who { color: #4a5263; } .sc-hint { color: #8a91a1; font-size: 12px; }
.sc-nav { display: flex; gap: 10px; } .sc-nav a { color: #2457d6; text-decoration: none; }
.sc-nav a[aria-current="page"] { color: #1d2330; font-weight: 600; border-bottom: 2px solid #2457d6; }
"""


def header_html(t: Translator, agent: SessionAgent, page: str, *, hint: str = "") -> str:
    """The header's HTML; every name shown is escaped."""
    links = []
    for name in pages_for(agent.role):
        current = ' aria-current="page"' if name == page else ""
        links.append(f'<a class="sc-nav-{name}" href="/{name}"{current}>{escape(t(f"{name}.title"))}</a>')
    who = escape(t("signed_in_as", name=agent.display_name, role=agent.role))
    hint_html = f' <span class="sc-hint">{escape(hint)}</span>' if hint else ""
    return (f'<header class="sc-top"><h1>social-care · {escape(t(f"{page}.title"))}</h1>'
            f'<nav class="sc-nav">{"".join(links)}</nav>'
            f'<span class="sc-who">{who}</span> '
            # Sign-out is a POST carrying the session's form token: a link from another site cannot sign out.
            f'<form class="sc-logout-form" method="post" action="{LOGOUT_PATH}" target="_top" '
            f'style="display:inline;margin:0"><input type="hidden" name="form_token" '
            f'value="{escape(agent.logout_token)}"><button class="sc-logout" type="submit" style="background:none;'
            f'border:0;padding:0;color:#2457d6;cursor:pointer;font:inherit">{escape(t("logout"))}</button></form>'
            f'{hint_html}</header>')


def page_header(t: Translator, agent: SessionAgent, page: str, *, hint: str = "") -> pn.pane.HTML:
    """The header pane for `page`."""
    return pn.pane.HTML(header_html(t, agent, page, hint=hint), sizing_mode="stretch_width",
                        stylesheets=[_STYLE], css_classes=["sc-header"])
