"""The plain HTML pages around the app (sign-in, wrong role) and which roles may open which page."""
from __future__ import annotations

from html import escape

from console.i18n import Translator

# The inbox is for the people who answer customers; marketing works its own queue on its own page.
PAGE_ROLES: dict[str, frozenset[str]] = {
    "inbox": frozenset({"agent", "manager", "admin"}),
    "marketing": frozenset({"marketing", "manager", "admin"}),
    "dashboard": frozenset({"manager", "admin"}),
    "canned": frozenset({"manager", "admin"}),
}
# The order pages appear in the navigation bar.
PAGE_ORDER = ("inbox", "marketing", "dashboard", "canned")


def may_open(page: str, role: str) -> bool:
    """Whether `role` may open `page`."""
    return role in PAGE_ROLES.get(page, frozenset())


def home_for(role: str) -> str:
    """Where a role lands after signing in: the first page it may open (the inbox for care staff)."""
    for page in PAGE_ORDER:
        if may_open(page, role):
            return f"/{page}"
    return "/login"


def pages_for(role: str) -> tuple[str, ...]:
    """The pages a role may open, in navigation order."""
    return tuple(page for page in PAGE_ORDER if may_open(page, role))


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;margin:0;color:#1d2330}
main{max-width:360px;margin:12vh auto;background:#fff;padding:28px 32px;border-radius:10px;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 18px}
label{display:block;font-size:.85rem;margin:12px 0 4px;color:#4a5263}
input{width:100%;box-sizing:border-box;padding:9px 10px;border:1px solid #c5cad3;border-radius:6px;font-size:1rem}
button{margin-top:18px;width:100%;padding:10px;border:0;border-radius:6px;background:#2457d6;color:#fff;
font-size:1rem;cursor:pointer}
.message{background:#fff4e5;border:1px solid #f0c27b;padding:8px 10px;border-radius:6px;font-size:.9rem}
"""


def login_page(t: Translator, *, message: str, name: str, next_path: str, form_token: str) -> str:
    """The sign-in form; every value is escaped."""
    note = f'<p class="message" role="alert">{escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="{escape(t.language)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{escape(t("login.title"))}</title><style>{_STYLE}</style></head>
<body><main><h1>{escape(t("login.title"))}</h1>{note}
<form method="post" action="/login" class="sc-login">
<input type="hidden" name="next" value="{escape(next_path)}">
<input type="hidden" name="form_token" value="{escape(form_token)}">
<label for="name">{escape(t("login.name"))}</label>
<input id="name" name="name" autocomplete="username" required value="{escape(name)}" autofocus>
<label for="password">{escape(t("login.password"))}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{escape(t("login.submit"))}</button>
</form></main></body></html>"""


def _shell(t: Translator, title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="{escape(t.language)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body><main>{body}</main></body></html>"""


def _logout_form(t: Translator, form_token: str) -> str:
    return (f'<form method="post" action="/logout" class="sc-logout-form">'
            f'<input type="hidden" name="form_token" value="{escape(form_token)}">'
            f'<button type="submit" class="sc-logout">{escape(t("logout"))}</button></form>')


def logout_page(t: Translator, *, form_token: str, message: str = "") -> str:
    """Sign out only by posting this form (a link from elsewhere lands here and signs nobody out)."""
    note = f'<p class="message" role="alert">{escape(message)}</p>' if message else ""
    return _shell(t, t("logout"), f'<h1>{escape(t("logout.confirm"))}</h1>{note}{_logout_form(t, form_token)}')


def forbidden_page(t: Translator, page: str, name: str, role: str, *, logout_token: str) -> str:
    """The "not for your role" page, served with status 403: a link to the role's home, and sign-out."""
    roles = ", ".join(sorted(PAGE_ROLES.get(page, ())))
    body = escape(t("forbidden.body", page=t(f"{page}.title"), roles=roles, name=name, role=role))
    home = home_for(role)
    link = f'<p><a class="sc-home" href="{escape(home)}">{escape(t(f"{home.strip("/")}.title"))}</a></p>' \
        if home != "/login" else ""
    return _shell(t, t("forbidden.title"), f'<h1>{escape(t("forbidden.title"))}</h1><p>{body}</p>{link}'
                                           f'{_logout_form(t, logout_token)}')
