"""Console sign-in: stored accounts (scrypt via agent_for_login), HMAC-signed expiring session cookies.

The cookie holds the agent's id, name, role, language, an expiry and a random session id, signed
with the configured `session_secret` (or a per-process secret when none is set, so sessions end
with the process). Logout revokes the session id at once in this process and records it in the store
until the cookie would have expired, so a restart, or another console process on the same database
(it reloads the records every `REVOCATION_REFRESH` seconds), refuses it too.
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
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from bokeh.server.auth_provider import AuthProvider
from tornado.web import RequestHandler

from console import pages
from console.i18n import Translator, pick_language
from console.login_guard import FORM_COOKIE, LoginThrottle, form_token_matches, new_form_token
from social_care.config import Settings
from social_care.store.agents import agent_for_login
from social_care.store.db import Database
from social_care.store.sessions import revoke_session, revoked_sessions

logger = logging.getLogger(__name__)

COOKIE = "sc_console"
REVOCATION_REFRESH = 30.0
DEFAULT_TTL = 12 * 3600.0
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
MAX_FIELD = 300


@dataclass(frozen=True)
class Claims:
    """Who a session cookie says the browser is, until when."""

    agent_id: int
    name: str
    role: str
    language: str
    expires: float
    sid: str

    def expired(self, now: float) -> bool:
        return now >= self.expires


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session cookies; `clock` is injectable so expiry can be tested."""

    def __init__(self, secret: bytes, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._key = hashlib.sha256(b"social-care console session\x00" + secret).digest()
        self.ttl = ttl
        self.clock = clock
        self._revoked: dict[str, float] = {}

    def issue(self, *, agent_id: int, name: str, role: str, language: str) -> str:
        """A signed cookie value for a freshly signed-in agent."""
        claims = Claims(agent_id, name, role, language, self.clock() + self.ttl, secrets.token_urlsafe(12))
        body = _b64(json.dumps(asdict(claims), separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def read(self, value: str | None) -> Claims | None:
        """The claims of a well-signed, unrevoked cookie, expired or not; None if forged or malformed."""
        if not value or value.count(".") != 1 or len(value) > 2000:
            return None
        body, signature = value.split(".")
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            data = json.loads(_unb64(body))
            claims = Claims(int(data["agent_id"]), str(data["name"]), str(data["role"]), str(data["language"]),
                            float(data["expires"]), str(data["sid"]))
        except (ValueError, KeyError, TypeError):
            return None
        if claims.sid in self._revoked:
            return None
        return claims

    def verify(self, value: str | None) -> Claims | None:
        """The claims of a valid cookie that has not expired, else None."""
        claims = self.read(value)
        if claims is None or claims.expired(self.clock()):
            return None
        return claims

    def revoke(self, claims: Claims) -> None:
        """End a session before its expiry (logout)."""
        self.revoke_ids({claims.sid: claims.expires})

    def revoke_ids(self, ended: dict[str, float]) -> None:
        """End the sessions `ended` maps to their expiry (epoch seconds), e.g. as recorded in the store."""
        now = self.clock()
        self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
        self._revoked.update((sid, until) for sid, until in ended.items() if until > now)


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


class ConsoleAuth(AuthProvider):
    """Tells Bokeh who the browser is from our cookie; the page and the websocket both go through it."""

    def __init__(self, signer: SessionSigner) -> None:
        self.signer = signer
        super().__init__()

    @property
    def get_user_async(self) -> Callable[[RequestHandler], Any]:  # type: ignore[override]
        async def get_user(handler: RequestHandler) -> str | None:
            claims = self.signer.verify(handler.get_cookie(COOKIE))
            return claims.name if claims else None

        return get_user

    @property
    def login_url(self) -> str:
        return LOGIN_PATH


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
        self.set_header("X-Frame-Options", "DENY")
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
        agent = await agent_for_login(self.db, name, password) if name and password else None
        if agent is None:
            self.throttle.failed(name, address)
            logger.info("console sign-in refused")
            self._page(t, message=t("login.failed"), name=name, status=401)
            return
        self.throttle.succeeded(name, address)
        self.clear_cookie(FORM_COOKIE, path=LOGIN_PATH)
        language = pick_language(agent.language, self.default_language)
        value = self.signer.issue(agent_id=agent.id, name=agent.name, role=agent.role, language=language)
        self.set_cookie(COOKIE, value, path="/", httponly=True, samesite="Lax", secure=self.secure,
                        expires_days=self.signer.ttl / 86400)
        logger.info("console sign-in: agent %s", agent.id)
        self.redirect(landing(self.get_body_argument("next", None), agent.role))


class LogoutHandler(RequestHandler):
    """Revokes the session and clears the cookie (GET so a plain link works; nothing secret is exposed)."""

    def initialize(self, signer: SessionSigner, db: Database) -> None:
        self.signer = signer
        self.db = db

    async def get(self) -> None:
        claims = self.signer.read(self.get_cookie(COOKIE))
        if claims is not None:
            self.signer.revoke(claims)
            try:
                await revoke_session(self.db, claims.sid, datetime.fromtimestamp(claims.expires, tz=timezone.utc))
            except Exception:  # the session is still ended in this process; say so, without the cookie
                logger.exception("could not record the logout of agent %s in the store", claims.agent_id)
        self.clear_cookie(COOKIE, path="/")
        self.redirect(f"{LOGIN_PATH}?out=1")

    post = get


async def load_revocations(signer: SessionSigner, db: Database) -> None:
    """Give `signer` the logouts recorded in the store (at start, then every `REVOCATION_REFRESH` s)."""
    ended = await revoked_sessions(db)
    signer.revoke_ids({sid: until.timestamp() for sid, until in ended.items()})


def login_redirect(path: str, *, expired: bool = False) -> str:
    """The sign-in URL that comes back to `path` afterwards."""
    return f"{LOGIN_PATH}?{'expired=1&' if expired else ''}next={quote(safe_next(path), safe='')}"
