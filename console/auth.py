"""Console sign-in: stored accounts (scrypt via sign_in), HMAC-signed expiring session cookies.

The cookie holds the agent's id, name, role, language, an expiry, a random session id and the agent's
session epoch at sign-in, signed with the configured `session_secret` (or a per-process secret when
none is set, so sessions end with the process). Every request, and every write a console session
makes, compares that epoch with the store; logout and a password change bump it, which ends every
session of the agent at once in every console process sharing the database.

The cookie never reaches the page: Bokeh is told to keep cookies out of the session token it embeds
in the HTML, and the auth provider hands the checked claims to the session on the HTTP request object.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from bokeh.server.auth_provider import AuthProvider
from bokeh.server.views.doc_handler import DocHandler
from tornado.web import RequestHandler

from console import pages
from console.i18n import Translator, pick_language
from console.live_sessions import LiveSessions
from console.login_guard import (
    FORM_COOKIE,
    LoginThrottle,
    form_token_matches,
    new_form_token,
    session_form_token,
)
from social_care.config import Settings
from social_care.store.agents import sign_in
from social_care.store.db import Database
from social_care.store.sessions import end_sessions, session_epochs, session_state

logger = logging.getLogger(__name__)

COOKIE = "sc_console"
DEFAULT_TTL = 12 * 3600.0
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
MAX_FIELD = 300


@dataclass(frozen=True)
class Claims:
    """Who a session cookie says the browser is, until when, and the session epoch it was issued in."""

    agent_id: int
    name: str
    role: str
    language: str
    expires: float
    sid: str
    epoch: int = 0

    def expired(self, now: float) -> bool:
        return now >= self.expires


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session cookies; `clock` is injectable so expiry can be tested.

    Only the cookie itself is checked here (signature, expiry); whether its session was ended is the
    store's answer (`current_session`).
    """

    def __init__(self, secret: bytes, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._key = hashlib.sha256(b"social-care console session\x00" + secret).digest()
        self._form_key = hashlib.sha256(b"social-care console forms\x00" + secret).digest()
        self.ttl = ttl
        self.clock = clock

    def issue(self, *, agent_id: int, name: str, role: str, language: str, epoch: int = 0) -> str:
        """A signed cookie value for a freshly signed-in agent whose session epoch is `epoch`."""
        claims = Claims(agent_id, name, role, language, self.clock() + self.ttl, secrets.token_urlsafe(12), epoch)
        body = _b64(json.dumps(asdict(claims), separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def read(self, value: str | None) -> Claims | None:
        """The claims of a well-signed cookie, expired or not; None if forged or malformed."""
        if not value or value.count(".") != 1 or len(value) > 2000:
            return None
        body, signature = value.split(".")
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            data = json.loads(_unb64(body))
            return Claims(int(data["agent_id"]), str(data["name"]), str(data["role"]), str(data["language"]),
                          float(data["expires"]), str(data["sid"]), int(data.get("epoch", 0)))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def verify(self, value: str | None) -> Claims | None:
        """The claims of a well-signed cookie that has not expired, else None."""
        claims = self.read(value)
        if claims is None or claims.expired(self.clock()):
            return None
        return claims

    def logout_token(self, claims: Claims) -> str:
        """The sign-out form's CSRF token for this session: shown in its pages, useless as a credential."""
        return session_form_token(self._form_key, claims.sid)


@dataclass(frozen=True)
class SignedIn:
    """A live session: its cookie's claims and the agent's role as the store has it now."""

    claims: Claims
    role: str


async def current_session(signer: SessionSigner, db: Database, cookie: str | None) -> SignedIn | None:
    """The session of `cookie` if it is well-signed, unexpired, its agent active and its epoch current."""
    claims = signer.verify(cookie)
    if claims is None:
        return None
    state = await session_state(db, claims.agent_id)
    if state is None or state[0] != claims.epoch:  # deactivated, signed out or password changed since
        return None
    return SignedIn(claims, state[1])


def session_secret(settings: Settings) -> bytes:
    """The configured secret, or a random one for this process (sessions then end on restart)."""
    if settings.session_secret:
        return settings.session_secret.reveal().encode()
    logger.warning("no [service] session_secret configured: console sessions end when the process stops")
    return secrets.token_bytes(32)


def safe_next(target: str | None, default: str = "/inbox") -> str:
    """Only same-site paths are followed after sign-in (no //host or scheme tricks)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 for ch in target):
        return default
    return target


def landing(target: str | None, role: str) -> str:
    """Where to go after sign-in: the requested page if the role may open it, else the role's home."""
    path = safe_next(target, default="")
    page = path.split("?", 1)[0].strip("/")
    if page not in pages.PAGE_ROLES or not pages.may_open(page, role):  # also /login, /logout, unknown paths
        return pages.home_for(role)
    return path


CLAIMS_ATTRIBUTE = "sc_console_claims"  # set on the HTTP request by ConsoleAuth, read by the page's session


class ConsoleAuth(AuthProvider):
    """Tells Bokeh who the browser is from our cookie; the page and the websocket both go through it.

    The session is checked against the store on every request. The checked claims travel to the page's
    session on the request object (Bokeh keeps cookies out of the token it shows the page), and a page
    the role may not open is answered 403 here, before any session is built.
    """

    def __init__(self, signer: SessionSigner, db: Database) -> None:
        self.signer = signer
        self.db = db
        super().__init__()

    @property
    def get_user_async(self) -> Callable[[RequestHandler], Any]:  # type: ignore[override]
        async def get_user(handler: RequestHandler) -> str | None:
            signed_in = await current_session(self.signer, self.db, handler.get_cookie(COOKIE))
            setattr(handler.request, CLAIMS_ATTRIBUTE, signed_in.claims if signed_in else None)
            if signed_in is None:
                return None
            page = handler.request.path.strip("/")
            if isinstance(handler, DocHandler) and page in pages.PAGE_ROLES and not pages.may_open(page, signed_in.role):
                # Finishing the request here makes Tornado skip the page handler: no session is built.
                _refuse_page(handler, page, signed_in, self.signer.logout_token(signed_in.claims))
            return signed_in.claims.name

        return get_user

    @property
    def login_url(self) -> str:
        return LOGIN_PATH


def claims_of(request: Any) -> Claims | None:
    """The claims ConsoleAuth checked for this HTTP request (or a Bokeh session's view of it), if any."""
    claims = getattr(request, CLAIMS_ATTRIBUTE, None)
    return claims if isinstance(claims, Claims) else None


def _refuse_page(handler: RequestHandler, page: str, signed_in: SignedIn, logout_token: str) -> None:
    t = Translator(signed_in.claims.language)
    handler.set_status(403)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.set_header("Cache-Control", "no-store")
    handler.finish(pages.forbidden_page(t, page, signed_in.claims.name, signed_in.role, logout_token=logout_token))


def _language_of(handler: RequestHandler, default: str | None) -> str:
    accepted = handler.request.headers.get("Accept-Language", "")
    return pick_language(accepted.split(",")[0].strip() or None, default)


class LoginHandler(RequestHandler):
    """GET shows the form; POST checks the password against the stored scrypt hash."""

    def initialize(self, db: Database, signer: SessionSigner, default_language: str | None, secure: bool,
                   throttle: LoginThrottle) -> None:
        self.db = db
        self.signer = signer
        self.default_language = default_language
        self.secure = secure
        self.throttle = throttle

    def _page(self, t: Translator, *, message: str = "", name: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        target = safe_next(self.get_argument("next", None), default="")
        token = new_form_token()
        self.set_cookie(FORM_COOKIE, token, path=LOGIN_PATH, httponly=True, samesite="Strict", secure=self.secure)
        self.write(pages.login_page(t, message=message, name=name, next_path=target, form_token=token))

    def get(self) -> None:
        t = Translator(_language_of(self, self.default_language))
        message = ""
        if self.get_argument("expired", None):
            message = t("login.expired")
        elif self.get_argument("out", None):
            message = t("login.logged_out")
        self._page(t, message=message)

    async def post(self) -> None:
        t = Translator(_language_of(self, self.default_language))
        name = self.get_body_argument("name", "")[:MAX_FIELD].strip()
        password = self.get_body_argument("password", "")[:MAX_FIELD]
        if not form_token_matches(self.get_cookie(FORM_COOKIE), self.get_body_argument("form_token", None)):
            # Not posted from our own form in this browser (or its cookie is gone): show a fresh form.
            self._page(t, message=t("login.form_expired"), name=name, status=403)
            return
        address = self.request.remote_ip or "?"
        wait = self.throttle.retry_after(name, address)
        if wait > 0:
            logger.warning("console sign-in throttled after repeated failures")
            self.set_header("Retry-After", str(math.ceil(wait)))
            self._page(t, message=t("login.throttled", minutes=math.ceil(wait / 60)), name=name, status=429)
            return
        signed_in = await sign_in(self.db, name, password) if name and password else None
        if signed_in is None:
            self.throttle.failed(name, address)
            logger.info("console sign-in refused")
            self._page(t, message=t("login.failed"), name=name, status=401)
            return
        self.throttle.succeeded(name, address)
        self.clear_cookie(FORM_COOKIE, path=LOGIN_PATH)
        agent = signed_in.agent
        language = pick_language(agent.language, self.default_language)
        value = self.signer.issue(agent_id=agent.id, name=agent.name, role=agent.role, language=language,
                                  epoch=signed_in.session_epoch)
        self.set_cookie(COOKIE, value, path="/", httponly=True, samesite="Lax", secure=self.secure,
                        expires_days=self.signer.ttl / 86400)
        logger.info("console sign-in: agent %s", agent.id)
        self.redirect(landing(self.get_body_argument("next", None), agent.role))


class LogoutHandler(RequestHandler):
    """POST with the session's form token ends every session of the agent, here and in every other console
    process; GET only offers that form (a link from another site must not sign anyone out)."""

    def initialize(self, signer: SessionSigner, db: Database, sessions: LiveSessions) -> None:
        self.signer = signer
        self.db = db
        self.sessions = sessions

    def _confirm(self, signed_in: SignedIn, *, status: int = 200, message: str = "") -> None:
        t = Translator(signed_in.claims.language)
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(pages.logout_page(t, form_token=self.signer.logout_token(signed_in.claims), message=message))

    async def get(self) -> None:
        signed_in = await current_session(self.signer, self.db, self.get_cookie(COOKIE))
        if signed_in is None:
            self.redirect(f"{LOGIN_PATH}?out=1")
            return
        self._confirm(signed_in)

    async def post(self) -> None:
        signed_in = await current_session(self.signer, self.db, self.get_cookie(COOKIE))
        if signed_in is None:  # already ended (another tab, a password change, expiry): just forget the cookie
            self.clear_cookie(COOKIE, path="/")
            self.redirect(f"{LOGIN_PATH}?out=1")
            return
        claims = signed_in.claims
        if not form_token_matches(self.signer.logout_token(claims), self.get_body_argument("form_token", None)):
            self._confirm(signed_in, status=403)  # not posted from one of our pages: ask again
            return
        try:
            await end_sessions(self.db, claims.agent_id)
            self.sessions.end_stale(await session_epochs(self.db, [claims.agent_id]), [claims.agent_id])
        except Exception:  # the store refused: the session is not ended anywhere, so say so and keep it
            logger.exception("could not record the logout of agent %s in the store", claims.agent_id)
            self._confirm(signed_in, status=503, message=Translator(claims.language)("logout.failed"))
            return
        self.clear_cookie(COOKIE, path="/")
        logger.info("console sign-out: agent %s (every session ended)", claims.agent_id)
        self.redirect(f"{LOGIN_PATH}?out=1")


def login_redirect(path: str, *, expired: bool = False) -> str:
    """The sign-in URL that comes back to `path` afterwards."""
    return f"{LOGIN_PATH}?{'expired=1&' if expired else ''}next={quote(safe_next(path), safe='')}"
