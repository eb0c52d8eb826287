"""A local fake of the X API v2 endpoints social-care uses and of Account Activity delivery, for tests and demo."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
import unicodedata
from collections import deque
from collections.abc import (
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import NoneType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import aiohttp
import requests
from aiohttp import web

from connectors.sandbox_server import LoopbackServer
from requests.adapters import HTTPAdapter
from yarl import URL

logger = logging.getLogger(__name__)

# Where the answers come from. X's own (docs, tweepy, client-library reports): the 401 and 429 bodies, the
# "Invalid Request" envelope with its max_results / id / enumeration messages, the 403 "Unsupported
# Authentication" for a Bearer token on user-context endpoints, the 403 details for replying to a deleted or
# unknown tweet and for duplicate content, the 400 "Your Tweet text is too long" message, the x-rate-limit-*
# headers, CRC and webhook signatures. The sandbox's own wording (X's exact text unverified): the DM 403
# detail, the messages for a missing text or a malformed JSON body, and unknown DM recipients getting 403.

DEFAULT_PORT = 8083
# tweepy hard-codes the first; X answers on both (PLATFORMS.md §1(f)).
X_ORIGINS = ("https://api.twitter.com", "https://api.x.com")
_X_HOSTS = frozenset(URL(origin).host for origin in X_ORIGINS)
TWITTER_EPOCH_MS = 1_288_834_974_657  # the snowflake epoch: ids are ((ms - epoch) << 22) | sequence
MAX_TWEET_WEIGHT = 280
MAX_DM_LENGTH = 10_000  # https://docs.x.com/x-api/direct-messages/manage/introduction
MENTIONS_REACH = 800  # https://docs.x.com/x-api/posts/timelines/introduction (mentions: the 800 most recent)
DM_EVENTS_REACH_SECONDS = 30 * 86_400  # https://docs.x.com/x-api/direct-messages/lookup/introduction
ENDPOINTS = ("mentions", "user_tweets", "dm_events", "create_tweet", "create_dm", "users_me")
FAULT_KINDS = frozenset({"429", "429_no_reset", "5xx", "slow", "drop", "drop_after"})
DEFAULT_WINDOW_SECONDS = 900.0
# Per 15-minute window, from https://docs.x.com/x-api/fundamentals/rate-limits and the endpoints' reference
# pages: "app" is the Bearer-token (per app) limit, "user" the OAuth 1.0a (per user) one. POST endpoints
# also have 24-hour caps (create_tweet 10,000/app, create_dm 1,000/user), not modelled here.
DEFAULT_RATE_LIMITS: dict[str, dict[str, int]] = {
    "mentions": {"app": 450, "user": 300},
    "user_tweets": {"app": 10_000, "user": 900},
    "dm_events": {"user": 300},  # shared by every DM lookup endpoint
    "create_tweet": {"user": 100},
    "create_dm": {"user": 200},
    "users_me": {"user": 75},
}

_PROBLEMS = "https://api.twitter.com/2/problems"
_TWEET_FIELDS = frozenset({
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations", "conversation_id",
    "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids", "entities", "geo", "id",
    "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics",
    "possibly_sensitive", "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
    "source", "text", "withheld"
})
_USER_FIELDS = frozenset({
    "affiliation", "connection_status", "created_at", "description", "entities", "id", "is_identity_verified",
    "location", "most_recent_tweet_id", "name", "parody", "pinned_tweet_id", "profile_banner_url",
    "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscription", "subscription_type",
    "url", "username", "verified", "verified_followers_count", "verified_type", "withheld"
})
_TWEET_EXPANSIONS = frozenset({
    "article.cover_media", "article.media_entities", "attachments.media_keys", "attachments.media_source_tweet",
    "attachments.poll_ids", "author_id", "edit_history_tweet_ids", "entities.mentions.username",
    "entities.note.mentions.username", "geo.place_id", "in_reply_to_user_id", "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id"
})
_DM_FIELDS = frozenset({
    "attachments", "created_at", "dm_conversation_id", "entities", "event_type", "id", "participant_ids",
    "referenced_tweets", "sender_id", "text"
})
_DM_EXPANSIONS = frozenset({"attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id"})
_DM_EVENT_TYPES = frozenset({"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"})
_OTHER_FIELDS = ("media.fields", "place.fields", "poll.fields")
_TIMELINE_PARAMS = frozenset(
    {"end_time", "expansions", "max_results", "pagination_token", "since_id", "start_time", "tweet.fields",
     "until_id", "user.fields", *_OTHER_FIELDS})
_USER_TWEETS_PARAMS = _TIMELINE_PARAMS | {"exclude"}
_DM_PARAMS = frozenset(
    {"dm_event.fields", "event_types", "expansions", "max_results", "pagination_token", "tweet.fields",
     "user.fields", "media.fields"})
_ME_PARAMS = frozenset({"expansions", "tweet.fields", "user.fields"})
_ID_RE = re.compile(r"^[0-9]{1,19}$")
_MENTION_RE = re.compile(r"(?<![\w@])@(\w{1,15})")
_OAUTH_PARAM_RE = re.compile(r'([A-Za-z0-9_]+)="([^"]*)"')
_FIVE_XX_TITLES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout"}
_TOKEN_PREFIXES = {"mentions": "7140dibd", "user_tweets": "7140dibe", "dm_events": "18lqk6cx"}
_SANDBOX_APP = {"id": "268278", "name": "social-care", "url": "https://github.com/social-care/social-care"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# twitter-text v3 weighting (https://docs.x.com/resources/fundamentals/counting-characters): code points in
# these ranges weigh 1, every other code point 2; a URL weighs 23 whatever its length; an emoji sequence
# (ZWJ, skin tone, flag, keycap) weighs 2 as a whole. Text is NFC-normalised first.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_URL_WEIGHT = 23
_EMOJI_BASE = ("[\u231a-\u23ff\u24c2\u25aa-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299"
               "\U0001f000-\U0001faff]|[\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa]\ufe0f")
_EMOJI_MODS = "(?:\ufe0f|[\U0001f3fb-\U0001f3ff]|[\U000e0020-\U000e007f])*"
_WEIGHT_TOKEN_RE = re.compile(
    r"(?P<url>(?<![\w/@])(?:https?://|www\.)[^\s]+?(?=[.,;:!?)\]'\"]*(?:\s|$)))"
    f"|(?P<emoji>[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3"
    f"|(?:{_EMOJI_BASE}){_EMOJI_MODS}(?:\u200d(?:{_EMOJI_BASE}){_EMOJI_MODS})*)"
    r"|(?P<char>.)",
    re.DOTALL | re.IGNORECASE,
)


def tweet_weighted_length(text: str) -> int:
    """X's weighted length of a Tweet text (a faithful subset of twitter-text v3; bare domains are not URLs)."""
    weight = 0
    for match in _WEIGHT_TOKEN_RE.finditer(unicodedata.normalize("NFC", text)):
        if match.group("url"):
            weight += _URL_WEIGHT
        elif match.group("emoji"):
            weight += 2
        else:
            code = ord(match.group("char"))
            weight += 1 if any(lo <= code <= hi for lo, hi in _LIGHT_RANGES) else 2
    return weight


def snowflake_now(now: float | None = None) -> int:
    """An X-style snowflake id for `now` (default: the current time), e.g. as a restart-safe `first_id`."""
    ms = int((time.time() if now is None else now) * 1000)
    return (ms - TWITTER_EPOCH_MS) << 22


# --------------------------------------------------------------------- pointing tweepy at the sandbox

def local_session(base_url: str, **session_kwargs: Any) -> aiohttp.ClientSession:
    """An aiohttp session sending api.twitter.com / api.x.com requests to `base_url` (for AsyncClient.session)."""
    # The request keeps its Host header and its OAuth 1.0a signature for the production URL; the caller
    # closes the session (tweepy only closes sessions it created itself).
    target = URL(base_url)
    prefix = target.raw_path.rstrip("/")

    async def to_local(request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        if request.url.scheme == "https" and request.url.host in _X_HOSTS:
            request.url = URL.build(scheme=target.scheme, host=target.raw_host or "127.0.0.1", port=target.port,
                                    path=prefix + request.url.raw_path,
                                    query_string=request.url.raw_query_string, encoded=True)
        return await handler(request)

    return aiohttp.ClientSession(middlewares=(to_local,), **session_kwargs)


class _ToLocal(HTTPAdapter):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        for origin in X_ORIGINS:
            if url.startswith(origin + "/"):
                request.url = self.base_url + url[len(origin):]
                break
        return super().send(request, *args, **kwargs)


def mount_sync(client: Any, base_url: str) -> requests.Session:
    """Route a sync `tweepy.Client` (or a requests.Session) for both X origins to `base_url`; returns the session."""
    session: requests.Session = getattr(client, "session", client)
    session.trust_env = False  # a proxy from the environment would swallow loopback requests
    adapter = _ToLocal(base_url)
    for origin in X_ORIGINS:
        session.mount(origin + "/", adapter)
    return session


# --------------------------------------------------------------------- records

class SandboxError(ValueError):
    """A simulated customer action the sandbox cannot perform (unknown tweet, empty text...)."""


@dataclass(frozen=True)
class ApiCall:
    """One X API request as the sandbox received it (control API calls are not logged)."""

    method: str
    path: str
    params: dict[str, str]
    json: Any
    at: float = field(default_factory=time.monotonic)
    endpoint: str | None = None  # one of ENDPOINTS, None for unknown routes
    host: str | None = None  # the Host header: api.twitter.com through local_session


@dataclass(frozen=True)
class Delivery:
    """One Account Activity POST made by a subscription (one per attempt)."""

    url: str
    payload: dict[str, Any]
    status: int | None  # None: no HTTP answer (refused, timed out)
    attempt: int
    error: str | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _User:
    id: str
    username: str
    name: str
    followers: int = 0
    verified: bool = False
    accepts_dms: bool = True
    created: float = 1_262_304_000.0  # 2010-01-01

    def v2(self, fields: frozenset[str], tweet_count: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "username": self.username}
        if "created_at" in fields:
            data["created_at"] = _iso(self.created)
        if "description" in fields:
            data["description"] = ""
        if "protected" in fields:
            data["protected"] = False
        if "profile_image_url" in fields:
            data["profile_image_url"] = f"https://pbs.twimg.com/profile_images/{self.id}/avatar_normal.jpg"
        if "public_metrics" in fields:
            data["public_metrics"] = {"followers_count": self.followers, "following_count": 0,
                                      "tweet_count": tweet_count, "listed_count": 0, "like_count": 0}
        if "verified" in fields:
            data["verified"] = self.verified
        if "verified_type" in fields:
            data["verified_type"] = "blue" if self.verified else "none"
        if "receives_your_dm" in fields:
            data["receives_your_dm"] = self.accepts_dms
        if "url" in fields:
            data["url"] = ""
        return data

    def v1(self, tweet_count: int = 0) -> dict[str, Any]:
        avatar = f"pbs.twimg.com/profile_images/{self.id}/avatar_normal.jpg"
        return {"id": int(self.id), "id_str": self.id, "name": self.name, "screen_name": self.username,
                "location": None, "url": None, "description": None, "protected": False,
                "verified": self.verified, "followers_count": self.followers, "friends_count": 0,
                "listed_count": 0, "favourites_count": 0, "statuses_count": tweet_count,
                "created_at": _v1_date(self.created), "profile_image_url": f"http://{avatar}",
                "profile_image_url_https": f"https://{avatar}", "default_profile": True,
                "default_profile_image": False}

    def v1_dm(self, tweet_count: int = 0) -> dict[str, Any]:
        avatar = f"pbs.twimg.com/profile_images/{self.id}/avatar_normal.jpg"
        return {"id": self.id, "created_timestamp": str(int(self.created * 1000)), "name": self.name,
                "screen_name": self.username, "protected": False, "verified": self.verified,
                "followers_count": self.followers, "friends_count": 0, "statuses_count": tweet_count,
                "profile_image_url": f"http://{avatar}", "profile_image_url_https": f"https://{avatar}"}


@dataclass
class _Tweet:
    id: str
    text: str
    author_id: str
    created: float
    conversation_id: str
    in_reply_to_user_id: str | None = None
    replied_to: str | None = None
    quoted: str | None = None
    retweeted: str | None = None
    deleted: bool = False

    @property
    def referenced(self) -> list[dict[str, str]]:
        refs = [("replied_to", self.replied_to), ("quoted", self.quoted), ("retweeted", self.retweeted)]
        return [{"type": kind, "id": tweet_id} for kind, tweet_id in refs if tweet_id is not None]


@dataclass
class _Dm:
    id: str
    text: str
    sender_id: str
    recipient_id: str
    created: float

    @property
    def conversation_id(self) -> str:
        return _conversation_id(self.sender_id, self.recipient_id)


def _conversation_id(one: str, other: str) -> str:
    # One-to-one conversation ids are "<smaller id>-<larger id>".
    low, high = sorted((one, other), key=int)
    return f"{low}-{high}"


@dataclass
class _Like:
    id: str
    user_id: str
    tweet_id: str
    created: float


@dataclass
class _Bucket:
    limit: int
    window: float
    remaining: int = field(init=False)
    reset_at: float = 0.0  # unix seconds; 0 until the first request opens a window

    def __post_init__(self) -> None:
        self.remaining = self.limit

    def roll(self, now: float) -> None:
        if now >= self.reset_at:
            self.remaining = self.limit
            self.reset_at = now + self.window

    def headers(self, *, with_reset: bool = True) -> dict[str, str]:
        headers = {"x-rate-limit-limit": str(self.limit), "x-rate-limit-remaining": str(self.remaining)}
        if with_reset:
            headers["x-rate-limit-reset"] = str(math.ceil(self.reset_at))
        return headers

    def as_json(self) -> dict[str, Any]:
        return {"limit": self.limit, "remaining": self.remaining, "window_seconds": self.window,
                "reset": math.ceil(self.reset_at) if self.reset_at else None}


@dataclass
class _Fault:
    endpoint: str
    kind: str
    remaining: int | None
    reset_in: float
    delay: float
    status: int

    def as_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "kind": self.kind, "remaining": self.remaining,
                "reset_in": self.reset_in, "delay": self.delay, "status": self.status}


@dataclass
class _Subscription:
    url: str
    retry_delays: tuple[float, ...]
    valid: bool = True


class _ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], *, with_reset: bool = True) -> None:
        super().__init__(body.get("detail") or body)
        self.status = status
        self.body = body
        self.with_reset = with_reset


def _problem(status: int, title: str, detail: str, kind: str = "about:blank") -> _ApiError:
    return _ApiError(status, {"title": title, "detail": detail, "type": kind, "status": status})


def _unauthorized() -> _ApiError:
    return _problem(401, "Unauthorized", "Unauthorized")


def _too_many(*, with_reset: bool = True) -> _ApiError:
    return _ApiError(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                           "status": 429}, with_reset=with_reset)


def _invalid(message: str, parameters: Mapping[str, Sequence[str]] | None = None) -> _ApiError:
    error: dict[str, Any] = {"message": message}
    if parameters is not None:
        error = {"parameters": {k: list(v) for k, v in parameters.items()}, "message": message}
    return _ApiError(400, {"errors": [error], "title": "Invalid Request",
                           "detail": "One or more parameters to your request was invalid.",
                           "type": f"{_PROBLEMS}/invalid-request"})


def _forbidden(detail: str) -> _ApiError:
    return _problem(403, "Forbidden", detail)


def _app_only_forbidden() -> _ApiError:
    return _problem(
        403, "Unsupported Authentication",
        "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication "
        "types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
        f"{_PROBLEMS}/unsupported-authentication")


_NOT_FOUND_BODY = {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}
DM_FORBIDDEN_DETAIL = "You are not allowed to send a message to this user."
REPLY_FORBIDDEN_DETAIL = "You attempted to reply to a Tweet that is deleted or not visible to you."
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
TOO_LONG_MESSAGE = ("Your Tweet text is too long. For more information on how X determines text length "
                    "see https://github.com/twitter/twitter-text.")


# --------------------------------------------------------------------- the sandbox

Handler = Callable[[web.Request, dict[str, str], Any, str], Awaitable[tuple[int, dict[str, Any]]]]


class XSandbox(LoopbackServer):
    """An in-process fake of the X API v2 (mentions, DMs, replies) and of Account Activity webhook delivery."""

    name = "x sandbox"

    # Not thread-safe: call the customer_* and fault methods from the loop that runs the server. A sync
    # tweepy.Client must run in another thread (asyncio.to_thread), or it would block that loop.

    def __init__(
        self,
        *,
        brand_user_id: str | int = "1000",
        brand_username: str = "acme",
        brand_name: str = "ACME",
        bearer_token: str = "sandbox-bearer",
        consumer_key: str = "sandbox-ck",
        consumer_secret: str = "sandbox-cs",
        access_token: str = "1000-sandbox-at",
        access_token_secret: str = "sandbox-ats",
        host: str = "127.0.0.1",
        port: int = 0,
        first_id: int = 1_860_000_000_000_000_000,
        reject_duplicates: bool = True,
        webhook_timeout: float = 3.0,
    ) -> None:
        self.brand_user_id = str(brand_user_id)
        if not _ID_RE.match(self.brand_user_id):
            raise ValueError("brand_user_id must be a numeric id")
        self.brand_username = brand_username
        self.brand_name = brand_name
        self.bearer_token = bearer_token
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret
        super().__init__(host, port)
        self.first_id = first_id
        self.reject_duplicates = reject_duplicates
        self.webhook_timeout = webhook_timeout  # X waits about 3 s for a webhook's answer
        self.requests: list[ApiCall] = []
        self.deliveries: list[Delivery] = []
        self._users: dict[str, _User] = {}
        self._tweets: dict[str, _Tweet] = {}
        self._dms: list[_Dm] = []
        self._likes: list[_Like] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._limits: dict[str, dict[str, _Bucket]] = {
            name: {scope: _Bucket(limit, DEFAULT_WINDOW_SECONDS) for scope, limit in scopes.items()}
            for name, scopes in DEFAULT_RATE_LIMITS.items()
        }
        self._clock_offset = 0.0
        self._id_epoch: float | None = None
        self._last_id = first_id - 1
        self._subscription: _Subscription | None = None
        self._outbox: deque[dict[str, Any]] = deque()
        self._in_flight = 0
        self._dropped = 0
        self._dispatcher: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()
        self.add_user(self.brand_user_id, brand_username, brand_name)

    # ----------------------------------------------------------------- lifecycle and addresses

    async def stop(self) -> None:
        """Stop serving and delivering webhooks; close the sender's HTTP session."""
        await self._stop_dispatcher()
        await super().stop()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def make_app(self) -> web.Application:
        """Build the aiohttp application: the X API v2 routes and the /sandbox control API."""
        app = web.Application()
        route = app.router
        route.add_get("/2/users/me", self._wrap("users_me", self._api_users_me))
        route.add_get("/2/users/{id}/mentions", self._wrap("mentions", self._api_mentions))
        route.add_get("/2/users/{id}/tweets", self._wrap("user_tweets", self._api_user_tweets))
        route.add_get("/2/dm_events", self._wrap("dm_events", self._api_dm_events))
        route.add_get("/2/dm_conversations/with/{participant_id}/dm_events",
                      self._wrap("dm_events", self._api_dm_events))
        route.add_get("/2/dm_conversations/{dm_conversation_id}/dm_events",
                      self._wrap("dm_events", self._api_dm_events))
        route.add_post("/2/tweets", self._wrap("create_tweet", self._api_create_tweet))
        route.add_post("/2/dm_conversations/with/{participant_id}/messages",
                       self._wrap("create_dm", self._api_create_dm))
        route.add_post("/2/dm_conversations/{dm_conversation_id}/messages",
                       self._wrap("create_dm", self._api_create_dm))
        route.add_route("*", "/2/{tail:.*}", self._api_not_found)
        route.add_post("/sandbox/users", self._ctl_users)
        route.add_post("/sandbox/mentions", self._ctl_mentions)
        route.add_post("/sandbox/dms", self._ctl_dms)
        route.add_post("/sandbox/retweets", self._ctl_retweets)
        route.add_post("/sandbox/likes", self._ctl_likes)
        route.add_get("/sandbox/sent", self._ctl_sent)
        route.add_post("/sandbox/faults", self._ctl_add_fault)
        route.add_delete("/sandbox/faults", self._ctl_clear_faults)
        route.add_post("/sandbox/rate_limits", self._ctl_rate_limit)
        route.add_post("/sandbox/webhook", self._ctl_subscribe)
        route.add_delete("/sandbox/webhook", self._ctl_unsubscribe)
        route.add_post("/sandbox/clock", self._ctl_clock)
        route.add_get("/sandbox/state", self._ctl_state)
        return app

    def credentials(self) -> dict[str, str]:
        """The keyword arguments for tweepy.Client / AsyncClient that this sandbox accepts."""
        return {"bearer_token": self.bearer_token, "consumer_key": self.consumer_key,
                "consumer_secret": self.consumer_secret, "access_token": self.access_token,
                "access_token_secret": self.access_token_secret}

    @property
    def brand(self) -> dict[str, Any]:
        """The brand account as a v2 user object (id, name, username)."""
        return self._users[self.brand_user_id].v2(frozenset())

    # ----------------------------------------------------------------- clock and ids

    def now(self) -> float:
        """The sandbox's clock in unix seconds: the real time plus advance_clock() offsets."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the content clock forward (created_at, the 30-day DM reach); rate limits keep real time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._clock_offset += seconds

    def _new_id(self, at: float) -> str:
        # Time-ordered like snowflakes, starting at first_id: 2**22 ids per millisecond since the first one.
        if self._id_epoch is None:
            self._id_epoch = at
        elapsed_ms = max(int((at - self._id_epoch) * 1000), 0)
        self._last_id = max(self._last_id + 1, self.first_id + (elapsed_ms << 22))
        return str(self._last_id)

    # ----------------------------------------------------------------- simulated customers

    def add_user(
        self,
        user_id: str | int,
        username: str,
        name: str,
        *,
        followers: int = 0,
        verified: bool = False,
        accepts_dms: bool = True,
    ) -> dict[str, Any]:
        """Create or update an X account; returns it as a v2 user with public_metrics and verified."""
        uid = str(user_id)
        if not _ID_RE.match(uid):
            raise SandboxError("user ids are numeric strings of up to 19 digits")
        if not re.fullmatch(r"\w{1,15}", username):
            raise SandboxError("usernames are 1 to 15 letters, digits or underscores")
        if followers < 0:
            raise SandboxError("followers cannot be negative")
        other = next((u for u in self._users.values() if u.username.lower() == username.lower() and u.id != uid),
                     None)
        if other is not None:
            raise SandboxError(f"username {username!r} belongs to user {other.id}")
        existing = self._users.get(uid)
        if uid == self.brand_user_id and existing is not None and username.lower() != existing.username.lower():
            raise SandboxError("the brand's username is set by the constructor")
        user = _User(uid, username, name, followers, verified, accepts_dms,
                     existing.created if existing else self.now())
        self._users[uid] = user
        return self._user_json(user, frozenset({"public_metrics", "verified", "receives_your_dm", "created_at"}))

    def customer_mentions(
        self,
        user_id: str | int,
        text: str,
        *,
        in_reply_to_tweet_id: str | int | None = None,
        quote_of: str | int | None = None,
    ) -> dict[str, Any]:
        """A customer tweets at the brand ("@acme " prepended when missing); returns the v2 tweet, every field."""
        # Unknown users are created as "customer<id>" so scripts need not call add_user first.
        user = self._customer(user_id)
        if not text.strip():
            raise SandboxError("a tweet needs a text")
        if not any(m.group(1).lower() == self.brand_username.lower() for m in _MENTION_RE.finditer(text)):
            text = f"@{self.brand_username} {text}"
        if tweet_weighted_length(text) > MAX_TWEET_WEIGHT:
            raise SandboxError("the text is over 280 weighted characters")
        parent = self._live_tweet(in_reply_to_tweet_id) if in_reply_to_tweet_id is not None else None
        quoted = self._live_tweet(quote_of) if quote_of is not None else None
        at = self.now()
        tweet_id = self._new_id(at)
        tweet = _Tweet(tweet_id, text, user.id, at,
                       conversation_id=parent.conversation_id if parent else tweet_id,
                       in_reply_to_user_id=parent.author_id if parent else None,
                       replied_to=parent.id if parent else None, quoted=quoted.id if quoted else None)
        self._tweets[tweet_id] = tweet
        self._emit(lambda: self._activity_for_tweet(tweet))
        return self._tweet_json(tweet, _TWEET_FIELDS)

    def customer_dms(self, user_id: str | int, text: str) -> dict[str, Any]:
        """A customer sends the brand a Direct Message; returns the v2 DM event with every field."""
        user = self._customer(user_id)
        if not text.strip():
            raise SandboxError("a Direct Message needs a text")
        if len(text) > MAX_DM_LENGTH:
            raise SandboxError(f"a Direct Message has at most {MAX_DM_LENGTH} characters")
        at = self.now()
        dm = _Dm(self._new_id(at), text, user.id, self.brand_user_id, at)
        self._dms.append(dm)
        self._emit(lambda: self._activity_for_dm(dm))
        return self._dm_json(dm, _DM_FIELDS)

    def customer_retweets(self, user_id: str | int, tweet_id: str | int) -> dict[str, Any]:
        """A customer retweets a tweet; returns the retweet (it reaches only Account Activity, not mentions)."""
        user = self._customer(user_id)
        original = self._live_tweet(tweet_id)
        if original.retweeted is not None:
            original = self._tweets[original.retweeted]
        author = self._users[original.author_id]
        at = self.now()
        rt_id = self._new_id(at)
        retweet = _Tweet(rt_id, f"RT @{author.username}: {original.text}", user.id, at, conversation_id=rt_id,
                         retweeted=original.id)
        self._tweets[rt_id] = retweet
        self._emit(lambda: self._activity_for_tweet(retweet))
        return self._tweet_json(retweet, _TWEET_FIELDS)

    def customer_likes(self, user_id: str | int, tweet_id: str | int) -> dict[str, Any]:
        """A customer likes a tweet; returns {id, user_id, tweet_id, created_at} (Account Activity favorite_events)."""
        user = self._customer(user_id)
        tweet = self._live_tweet(tweet_id)
        if any(like.user_id == user.id and like.tweet_id == tweet.id for like in self._likes):
            raise SandboxError(f"user {user.id} already likes tweet {tweet.id}")
        like_id = hashlib.md5(f"{user.id}:{tweet.id}".encode()).hexdigest()  # X's favorite event ids are 32 hex
        like = _Like(like_id, user.id, tweet.id, self.now())
        self._likes.append(like)
        self._emit(lambda: self._activity_for_like(like))
        return self._like_json(like)

    def customer_deletes(self, tweet_id: str | int) -> None:
        """A customer deletes a tweet: it leaves mentions, and replying to it gets X's 403."""
        tweet = self._live_tweet(tweet_id)
        if tweet.author_id == self.brand_user_id:
            raise SandboxError("customers cannot delete the brand's tweets")
        tweet.deleted = True

    def sent_tweets(self) -> list[dict[str, Any]]:
        """Tweets the brand created through the API, oldest first, as v2 tweets with every field."""
        return [self._tweet_json(t, _TWEET_FIELDS) for t in self._tweets.values() if t.author_id == self.brand_user_id]

    def sent_dms(self) -> list[dict[str, Any]]:
        """Direct Messages the brand sent through the API, oldest first, as v2 DM events with every field."""
        return [self._dm_json(dm, _DM_FIELDS) for dm in self._dms if dm.sender_id == self.brand_user_id]

    async def wait_sent(self, *, tweets: int = 0, dms: int = 0, timeout: float = 5.0) -> None:
        """Wait until the brand has sent at least `tweets` tweets and `dms` DMs; TimeoutError otherwise."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.sent_tweets()) < tweets or len(self.sent_dms()) < dms:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"the brand sent {len(self.sent_tweets())} tweet(s) of {tweets} and "
                               f"{len(self.sent_dms())} DM(s) of {dms}") from None

    def calls(self, endpoint: str | None = None) -> list[ApiCall]:
        """The request log, optionally only one endpoint's calls."""
        return [c for c in self.requests if endpoint is None or c.endpoint == endpoint]

    def _customer(self, user_id: str | int) -> _User:
        uid = str(user_id)
        if uid == self.brand_user_id:
            raise SandboxError("the brand is not a customer; it acts through the API")
        if uid not in self._users:
            self.add_user(uid, f"customer{uid}"[:15], f"Customer {uid}")
        return self._users[uid]

    def _live_tweet(self, tweet_id: str | int) -> _Tweet:
        tweet = self._tweets.get(str(tweet_id))
        if tweet is None or tweet.deleted:
            raise SandboxError(f"tweet {tweet_id} does not exist")
        return tweet

    # ----------------------------------------------------------------- rate limits and faults

    def set_rate_limit(self, endpoint: str, limit: int, window_seconds: float = DEFAULT_WINDOW_SECONDS,
                       *, scope: str | None = None) -> None:
        """Set an endpoint's limit per window and start a fresh window; scope "app"/"user" (default both)."""
        if endpoint not in self._limits:
            raise ValueError(f"endpoint must be one of {list(ENDPOINTS)}")
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit is at least 1 and the window is positive")
        scopes = self._limits[endpoint]
        if scope is not None and scope not in scopes:
            raise ValueError(f"{endpoint} has the scopes {sorted(scopes)}")
        for name in [scope] if scope else list(scopes):
            scopes[name] = _Bucket(limit, window_seconds)

    def rate_limits(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Each endpoint's windows per scope: limit, remaining, window_seconds and reset (unix seconds or None)."""
        for scopes in self._limits.values():
            for bucket in scopes.values():
                if bucket.reset_at and time.time() >= bucket.reset_at:
                    bucket.roll(time.time())
        return {name: {scope: b.as_json() for scope, b in scopes.items()} for name, scopes in self._limits.items()}

    def inject_fault(
        self,
        endpoint: str,
        kind: str,
        *,
        count: int | None = 1,
        reset_in: float = 60.0,
        delay: float = 0.0,
        status: int = 503,
    ) -> None:
        """Make the next `count` calls of `endpoint` ("*" for any) fail as `kind`; count=None means forever."""
        # "429" also empties the endpoint's window until now+reset_in: like X, it keeps answering 429 until
        # then, and those answers do not use the fault up. "429_no_reset" omits x-rate-limit-reset.
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be '*' or one of {list(ENDPOINTS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for forever")
        if kind == "5xx" and not 500 <= status <= 599:
            raise ValueError("a 5xx fault needs a status between 500 and 599")
        if delay < 0 or reset_in <= 0:
            raise ValueError("delay cannot be negative and reset_in must be positive")
        self._faults.setdefault(endpoint, deque()).append(_Fault(endpoint, kind, count, reset_in, delay, status))

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        self._faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The faults still armed, in firing order per endpoint."""
        return [f.as_json() for queue in self._faults.values() for f in queue]

    def _take_fault(self, endpoint: str) -> _Fault | None:
        for key in (endpoint, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        queue.popleft()
                return fault
        return None

    # ----------------------------------------------------------------- Account Activity: payloads

    def activity_for_mention(self, tweet: Mapping[str, Any]) -> dict[str, Any]:
        """The Account Activity payload X posts for a tweet (v1.1 shape, tweet_create_events)."""
        return self._activity_for_tweet(self._stored_tweet(tweet))

    def activity_for_dm(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The Account Activity payload X posts for a Direct Message (direct_message_events + users)."""
        return self._activity_for_dm(self._stored_dm(event))

    def activity_for_brand_reply(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The echo X posts for the brand's own tweet or DM (a sent_tweets()/sent_dms() item or an API answer)."""
        if "dm_event_id" in item or "event_type" in item:
            dm = self._stored_dm(item)
            if dm.sender_id != self.brand_user_id:
                raise SandboxError(f"DM {dm.id} was not sent by the brand")
            return self._activity_for_dm(dm)
        tweet = self._stored_tweet(item)
        if tweet.author_id != self.brand_user_id:
            raise SandboxError(f"tweet {tweet.id} was not created by the brand")
        return self._activity_for_tweet(tweet)

    def activity_for_retweet(self, retweet: Mapping[str, Any]) -> dict[str, Any]:
        """The Account Activity payload for a retweet: a tweet_create_event carrying retweeted_status."""
        tweet = self._stored_tweet(retweet)
        if tweet.retweeted is None:
            raise SandboxError(f"tweet {tweet.id} is not a retweet")
        return self._activity_for_tweet(tweet)

    def activity_for_like(self, like: Mapping[str, Any]) -> dict[str, Any]:
        """The Account Activity payload for a like (favorite_events)."""
        stored = next((x for x in self._likes if x.id == like.get("id")), None)
        if stored is None:
            raise SandboxError("unknown like; pass what customer_likes returned")
        return self._activity_for_like(stored)

    def _stored_tweet(self, item: Mapping[str, Any]) -> _Tweet:
        tweet = self._tweets.get(str(item.get("id") or item.get("id_str") or ""))
        if tweet is None:
            raise SandboxError("unknown tweet; pass a tweet the sandbox created")
        return tweet

    def _stored_dm(self, item: Mapping[str, Any]) -> _Dm:
        dm_id = str(item.get("dm_event_id") or item.get("id") or "")
        dm = next((d for d in self._dms if d.id == dm_id), None)
        if dm is None:
            raise SandboxError("unknown DM event; pass one the sandbox created")
        return dm

    def _activity_for_tweet(self, tweet: _Tweet) -> dict[str, Any]:
        payload: dict[str, Any] = {"for_user_id": self.brand_user_id}
        if tweet.author_id != self.brand_user_id and tweet.retweeted is None:
            payload["user_has_blocked"] = False  # present on mentions: whether the author blocked the brand
        payload["tweet_create_events"] = [self._v1_tweet(tweet)]
        return payload

    def _activity_for_dm(self, dm: _Dm) -> dict[str, Any]:
        message: dict[str, Any] = {
            "target": {"recipient_id": dm.recipient_id},
            "sender_id": dm.sender_id,
            "message_data": {"text": dm.text, "entities": self._v1_entities(dm.text)},
        }
        payload: dict[str, Any] = {"for_user_id": self.brand_user_id, "direct_message_events": [
            {"type": "message_create", "id": dm.id, "created_timestamp": str(int(dm.created * 1000)),
             "message_create": message}]}
        if dm.sender_id == self.brand_user_id:
            message["source_app_id"] = _SANDBOX_APP["id"]
            payload["apps"] = {_SANDBOX_APP["id"]: dict(_SANDBOX_APP)}
        payload["users"] = {uid: self._users[uid].v1_dm(self._tweet_count(uid))
                            for uid in (dm.sender_id, dm.recipient_id)}
        return payload

    def _activity_for_like(self, like: _Like) -> dict[str, Any]:
        liker = self._users[like.user_id]
        return {"for_user_id": self.brand_user_id, "favorite_events": [{
            "id": like.id, "created_at": _v1_date(like.created), "timestamp_ms": int(like.created * 1000),
            "favorited_status": self._v1_tweet(self._tweets[like.tweet_id]),
            "user": liker.v1(self._tweet_count(liker.id))}]}

    def _v1_tweet(self, tweet: _Tweet, *, nest: bool = True) -> dict[str, Any]:
        author = self._users[tweet.author_id]
        text = tweet.text
        start = _reply_prefix_end(text) if tweet.replied_to else 0
        long = len(text) > 140
        parent = self._tweets.get(tweet.replied_to) if tweet.replied_to else None
        data: dict[str, Any] = {
            "created_at": _v1_date(tweet.created),
            "id": int(tweet.id),
            "id_str": tweet.id,
            # Over 140 characters X sends the v1.1 "compatibility" form: a cut text ending in a link, with
            # truncated=true and the whole text in extended_tweet.full_text.
            "text": f"{text[:114]}\u2026 https://t.co/{_short_code(tweet.id)}" if long else text,
            "display_text_range": [start, min(len(text), 140)],
            "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
            "truncated": long,
            "in_reply_to_status_id": int(parent.id) if parent else None,
            "in_reply_to_status_id_str": parent.id if parent else None,
            "in_reply_to_user_id": int(tweet.in_reply_to_user_id) if tweet.in_reply_to_user_id else None,
            "in_reply_to_user_id_str": tweet.in_reply_to_user_id,
            "in_reply_to_screen_name": (self._users[tweet.in_reply_to_user_id].username
                                        if tweet.in_reply_to_user_id else None),
            "user": author.v1(self._tweet_count(author.id)),
            "geo": None, "coordinates": None, "place": None, "contributors": None,
            "is_quote_status": tweet.quoted is not None,
            "quote_count": self._count_refs("quoted", tweet.id),
            "reply_count": self._count_refs("replied_to", tweet.id),
            "retweet_count": self._count_refs("retweeted", tweet.id),
            "favorite_count": sum(1 for like in self._likes if like.tweet_id == tweet.id),
            "entities": self._v1_entities(text[:140] if long else text),
            "favorited": False, "retweeted": False, "filter_level": "low", "lang": "en",
            "timestamp_ms": str(int(tweet.created * 1000)),
        }
        if tweet.quoted is not None:
            data["quoted_status_id"] = int(tweet.quoted)
            data["quoted_status_id_str"] = tweet.quoted
            if nest:
                data["quoted_status"] = self._v1_tweet(self._tweets[tweet.quoted], nest=False)
        if tweet.retweeted is not None and nest:
            data["retweeted_status"] = self._v1_tweet(self._tweets[tweet.retweeted], nest=False)
        if long:
            data["extended_tweet"] = {"full_text": text, "display_text_range": [start, len(text)],
                                      "entities": self._v1_entities(text)}
        return data

    def _v1_entities(self, text: str) -> dict[str, Any]:
        mentions = []
        for match in _MENTION_RE.finditer(text):
            user = self._user_by_name(match.group(1))
            if user is not None:
                mentions.append({"screen_name": user.username, "name": user.name, "id": int(user.id),
                                 "id_str": user.id, "indices": [match.start(), match.end()]})
        return {"hashtags": [], "urls": [], "user_mentions": mentions, "symbols": []}

    # ----------------------------------------------------------------- Account Activity: sending

    async def crc_check(self, webhook_url: str, *, crc_token: str | None = None) -> dict[str, Any]:
        """Send X's CRC GET to the webhook and check its response_token; returns valid, status and the tokens."""
        # A failing check on the subscribed URL marks the webhook invalid and stops deliveries, as on X.
        # X-shaped: a short opaque base64 string (the receiver refuses anything that could be a JSON body).
        token = crc_token or base64.b64encode(secrets.token_bytes(24)).decode()
        expected = "sha256=" + _b64_hmac_sha256(self.consumer_secret, token.encode())
        outcome: dict[str, Any] = {"valid": False, "status": None, "crc_token": token, "expected": expected,
                                   "response_token": None, "error": None}
        session = self._client_session()
        try:
            async with session.get(webhook_url, params={"crc_token": token},
                                   timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)) as resp:
                outcome["status"] = resp.status
                raw = await resp.read()
            body = json.loads(raw) if raw else None
            if isinstance(body, dict) and isinstance(body.get("response_token"), str):
                outcome["response_token"] = body["response_token"]
            if outcome["status"] != 200:
                outcome["error"] = f"status {outcome['status']}"
            elif outcome["response_token"] is None:
                outcome["error"] = "no response_token in a JSON object"
            else:
                outcome["valid"] = hmac.compare_digest(outcome["response_token"], expected)
                if not outcome["valid"]:
                    outcome["error"] = "response_token does not match"
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            outcome["error"] = f"{type(err).__name__}: {err}"
        subscription = self._subscription
        if subscription is not None and subscription.url == webhook_url:
            subscription.valid = bool(outcome["valid"])
            self._notify()
        return outcome

    async def deliver(self, webhook_url: str, payload: Mapping[str, Any], *,
                      signature: str | None = "valid") -> int:
        """POST a payload signed like X (signature "valid", "bad", None or a literal header); returns the status."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signature == "valid":
            headers["x-twitter-webhooks-signature"] = "sha256=" + _b64_hmac_sha256(self.consumer_secret, body)
        elif signature == "bad":
            headers["x-twitter-webhooks-signature"] = "sha256=" + _b64_hmac_sha256(self.consumer_secret + "x", body)
        elif signature is not None:
            headers["x-twitter-webhooks-signature"] = signature
        async with self._client_session().post(webhook_url, data=body, headers=headers,
                                               timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)) as resp:
            await resp.read()
            return resp.status

    async def subscribe(self, webhook_url: str, *, retry_delays: Sequence[float] = ()) -> dict[str, Any]:
        """Register a webhook after a passing CRC (else SandboxError) and auto-deliver new activity to it."""
        # retry_delays: the waits before each retry of a failed delivery. Empty matches every tier but
        # Enterprise, where X retries 3 times over about 5 minutes (PLATFORMS.md §1(e)).
        if any(d < 0 for d in retry_delays):
            raise ValueError("retry delays cannot be negative")
        await self.unsubscribe()
        outcome = await self.crc_check(webhook_url)
        if not outcome["valid"]:
            raise SandboxError(f"CRC check failed: {outcome['error']}")
        self._subscription = _Subscription(webhook_url, tuple(retry_delays))
        self._dispatcher = asyncio.create_task(self._dispatch())
        return outcome

    async def unsubscribe(self) -> None:
        """Stop delivering Account Activity; undelivered payloads are dropped."""
        await self._stop_dispatcher()
        self._subscription = None
        self._outbox.clear()

    async def wait_delivered(self, timeout: float = 5.0) -> None:
        """Wait until every queued Account Activity payload has been posted (acknowledged or given up)."""
        try:
            async with asyncio.timeout(timeout):
                while self._outbox or self._in_flight:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{len(self._outbox) + self._in_flight} payload(s) still undelivered") from None

    def _emit(self, build: Callable[[], dict[str, Any]]) -> None:
        subscription = self._subscription
        if subscription is None:
            return
        if not subscription.valid:
            self._dropped += 1  # X does not deliver to a webhook whose CRC failed
            return
        self._outbox.append(build())
        self._notify()

    async def _dispatch(self) -> None:
        while True:
            changed = self._changed
            subscription = self._subscription
            if subscription is not None and subscription.valid and self._outbox:
                payload = self._outbox.popleft()
                self._in_flight += 1
                try:
                    await self._deliver_with_retries(subscription, payload)
                finally:
                    self._in_flight -= 1
                    self._notify()
                continue
            await changed.wait()

    async def _deliver_with_retries(self, subscription: _Subscription, payload: dict[str, Any]) -> None:
        for attempt, delay in enumerate((0.0, *subscription.retry_delays), start=1):
            if delay:
                await asyncio.sleep(delay)
            status: int | None = None
            error: str | None = None
            try:
                status = await self.deliver(subscription.url, payload)
            except (aiohttp.ClientError, TimeoutError) as err:
                error = f"{type(err).__name__}: {err}"
            record = Delivery(subscription.url, payload, status, attempt, error)
            self.deliveries.append(record)
            if record.ok:
                return
            logger.info("account activity delivery failed (attempt %d): %s", attempt, error or status)

    async def _stop_dispatcher(self) -> None:
        task, self._dispatcher = self._dispatcher, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._in_flight = 0

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ----------------------------------------------------------------- the X API over HTTP

    def _wrap(self, endpoint: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read() if request.body_exists else b""
            body: Any = None
            body_error = False
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body_error = True
            params = dict(request.query)
            self.requests.append(ApiCall(request.method, request.path, params, body, endpoint=endpoint,
                                         host=request.headers.get("Host")))
            bucket: _Bucket | None = None
            fault: _Fault | None = None
            try:
                scope = self._authenticate(request, endpoint)
                bucket = self._limits[endpoint][scope]
                bucket.roll(time.time())
                if bucket.remaining <= 0:
                    raise _too_many()
                fault = self._take_fault(endpoint)
                if fault is not None:
                    logger.info("x sandbox fault %s on %s", fault.kind, endpoint)
                    if fault.kind == "slow":
                        await asyncio.sleep(fault.delay)
                    elif fault.kind == "drop":
                        return _drop(request)
                    elif fault.kind == "429":
                        bucket.remaining = 0
                        bucket.reset_at = time.time() + fault.reset_in
                        raise _too_many()
                    elif fault.kind == "429_no_reset":
                        raise _too_many(with_reset=False)
                    elif fault.kind == "5xx":
                        title = _FIVE_XX_TITLES.get(fault.status, "Server Error")
                        raise _problem(fault.status, title, title)
                bucket.remaining -= 1
                if body_error or (raw and request.method == "POST" and not isinstance(body, dict)):
                    raise _invalid("Request body is not a valid JSON object")
                status, answer = await handler(request, params, body, scope)
            except _ApiError as err:
                headers = self._headers_for(endpoint, bucket, with_reset=err.with_reset)
                return web.json_response(err.body, status=err.status, headers=headers)
            if fault is not None and fault.kind == "drop_after":
                return _drop(request)
            self._notify()
            return web.json_response(answer, status=status, headers=bucket.headers())

        return handle

    def _headers_for(self, endpoint: str, bucket: _Bucket | None, *, with_reset: bool) -> dict[str, str]:
        if bucket is None:  # refused before a scope was known: show the first window without using it
            bucket = next(iter(self._limits[endpoint].values()))
            bucket.roll(time.time())
        return bucket.headers(with_reset=with_reset)

    def _authenticate(self, request: web.Request, endpoint: str) -> str:
        header = request.headers.get("Authorization", "")
        scopes = self._limits[endpoint]
        if header.startswith("Bearer "):
            if not hmac.compare_digest(header[7:].strip().encode(), self.bearer_token.encode()):
                raise _unauthorized()
            if "app" not in scopes:
                raise _app_only_forbidden()
            return "app"
        if header.startswith("OAuth "):
            if not self._oauth1_valid(request, header):
                raise _unauthorized()
            return "user"
        raise _unauthorized()

    def _oauth1_valid(self, request: web.Request, header: str) -> bool:
        oauth = {key: unquote(value) for key, value in _OAUTH_PARAM_RE.findall(header)}
        if (oauth.get("oauth_consumer_key") != self.consumer_key or oauth.get("oauth_token") != self.access_token
                or oauth.get("oauth_signature_method") != "HMAC-SHA1" or "oauth_signature" not in oauth):
            return False
        # RFC 5849 §3.4.1: the request was signed for the production URL before the transport rewrote it.
        pairs = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
        if request.content_type == "application/x-www-form-urlencoded":
            return False  # no X endpoint here takes a form body
        pairs += [(k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")]
        normalized = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in pairs))
        key = f"{_pct(self.consumer_secret)}&{_pct(self.access_token_secret)}".encode()
        origins = [*X_ORIGINS, f"{request.scheme}://{request.host}".lower()]
        for origin in origins:
            base = "&".join((request.method.upper(), _pct(origin + request.rel_url.raw_path), _pct(normalized)))
            digest = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
            if hmac.compare_digest(digest.encode(), oauth["oauth_signature"].encode()):
                return True
        return False

    async def _api_not_found(self, request: web.Request) -> web.Response:
        self.requests.append(ApiCall(request.method, request.path, dict(request.query), None,
                                     host=request.headers.get("Host")))
        return web.json_response(_NOT_FOUND_BODY, status=404)

    async def _api_users_me(self, request: web.Request, params: dict[str, str], body: Any,
                            scope: str) -> tuple[int, dict[str, Any]]:
        _check_params(params, _ME_PARAMS)
        fields = _field_set(params, "user.fields", _USER_FIELDS)
        _field_set(params, "tweet.fields", _TWEET_FIELDS)
        _field_set(params, "expansions", frozenset({"pinned_tweet_id", "most_recent_tweet_id", "affiliation.user_id"}))
        return 200, {"data": self._user_json(self._users[self.brand_user_id], fields)}

    async def _api_mentions(self, request: web.Request, params: dict[str, str], body: Any,
                            scope: str) -> tuple[int, dict[str, Any]]:
        user = self._path_user(request)
        if isinstance(user, dict):
            return 200, user
        name = user.username.lower()
        mentions = [t for t in self._tweets.values()
                    if not t.deleted and t.retweeted is None and t.author_id != user.id
                    and any(m.group(1).lower() == name for m in _MENTION_RE.finditer(t.text))]
        # The mentions timeline reaches back 800 tweets; an older since_id silently means "from the oldest".
        return 200, self._timeline(mentions[-MENTIONS_REACH:], params, "mentions")

    async def _api_user_tweets(self, request: web.Request, params: dict[str, str], body: Any,
                               scope: str) -> tuple[int, dict[str, Any]]:
        user = self._path_user(request)
        if isinstance(user, dict):
            return 200, user
        tweets = [t for t in self._tweets.values() if not t.deleted and t.author_id == user.id]
        return 200, self._timeline(tweets[-3200:], params, "user_tweets")  # the user timeline reaches 3,200

    def _path_user(self, request: web.Request) -> _User | dict[str, Any]:
        user_id = request.match_info["id"]
        if not _ID_RE.match(user_id):
            raise _invalid(f"The `id` query parameter value [{user_id}] does not match ^[0-9]{{1,19}}$",
                           {"id": [user_id]})
        user = self._users.get(user_id)
        if user is None:
            # X answers 200 with a partial error when the user does not exist.
            return {"errors": [{"value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                                "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                                "resource_id": user_id, "type": f"{_PROBLEMS}/resource-not-found"}]}
        return user

    def _timeline(self, tweets: list[_Tweet], params: dict[str, str], kind: str) -> dict[str, Any]:
        _check_params(params, _USER_TWEETS_PARAMS if kind == "user_tweets" else _TIMELINE_PARAMS)
        max_results = _int_param(params, "max_results", 10, 5, 100)
        since_id = _id_param(params, "since_id")
        until_id = _id_param(params, "until_id")
        start_time = _time_param(params, "start_time")
        end_time = _time_param(params, "end_time")
        tweet_fields = _field_set(params, "tweet.fields", _TWEET_FIELDS)
        user_fields = _field_set(params, "user.fields", _USER_FIELDS)
        expansions = _field_set(params, "expansions", _TWEET_EXPANSIONS)
        cursor = _decode_token(params, kind)
        selected = [t for t in reversed(tweets)
                    if (since_id is None or int(t.id) > since_id) and (until_id is None or int(t.id) < until_id)
                    and (start_time is None or t.created >= start_time) and (end_time is None or t.created < end_time)
                    and (cursor is None or int(t.id) < cursor)]
        page, more = selected[:max_results], len(selected) > max_results
        if not page:
            return {"meta": {"result_count": 0}}
        answer: dict[str, Any] = {"data": [self._tweet_json(t, tweet_fields) for t in page]}
        includes = self._tweet_includes(page, expansions, tweet_fields, user_fields)
        if includes:
            answer["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
        if more:
            meta["next_token"] = _encode_token(kind, int(page[-1].id))
        answer["meta"] = meta
        return answer

    def _tweet_includes(self, tweets: list[_Tweet], expansions: frozenset[str], tweet_fields: frozenset[str],
                        user_fields: frozenset[str]) -> dict[str, Any]:
        user_ids: list[str] = []
        referenced: list[_Tweet] = []
        for tweet in tweets:
            if "author_id" in expansions:
                user_ids.append(tweet.author_id)
            if "in_reply_to_user_id" in expansions and tweet.in_reply_to_user_id:
                user_ids.append(tweet.in_reply_to_user_id)
            if "entities.mentions.username" in expansions:
                user_ids += [u.id for m in _MENTION_RE.finditer(tweet.text)
                             if (u := self._user_by_name(m.group(1))) is not None]
            if "referenced_tweets.id" in expansions:
                for ref in tweet.referenced:
                    target = self._tweets.get(ref["id"])
                    if target is not None and not target.deleted:
                        referenced.append(target)
                        if "referenced_tweets.id.author_id" in expansions:
                            user_ids.append(target.author_id)
        includes: dict[str, Any] = {}
        if user_ids:
            includes["users"] = [self._user_json(self._users[uid], user_fields) for uid in dict.fromkeys(user_ids)]
        if referenced:
            unique = {t.id: t for t in referenced}
            includes["tweets"] = [self._tweet_json(t, tweet_fields) for t in unique.values()]
        return includes

    async def _api_dm_events(self, request: web.Request, params: dict[str, str], body: Any,
                             scope: str) -> tuple[int, dict[str, Any]]:
        _check_params(params, _DM_PARAMS)
        max_results = _int_param(params, "max_results", 100, 1, 100)
        fields = _field_set(params, "dm_event.fields", _DM_FIELDS)
        user_fields = _field_set(params, "user.fields", _USER_FIELDS)
        _field_set(params, "tweet.fields", _TWEET_FIELDS)
        expansions = _field_set(params, "expansions", _DM_EXPANSIONS)
        types = _field_set(params, "event_types", _DM_EVENT_TYPES) or _DM_EVENT_TYPES
        cursor = _decode_token(params, "dm_events")
        conversation = self._path_conversation(request)
        oldest = self.now() - DM_EVENTS_REACH_SECONDS
        selected = [dm for dm in reversed(self._dms)
                    if "MessageCreate" in types and dm.created >= oldest
                    and (conversation is None or dm.conversation_id == conversation)
                    and (cursor is None or int(dm.id) < cursor)]
        page, more = selected[:max_results], len(selected) > max_results
        if not page:
            return 200, {"meta": {"result_count": 0}}
        answer: dict[str, Any] = {"data": [self._dm_json(dm, fields) for dm in page]}
        if "sender_id" in expansions:
            senders = dict.fromkeys(dm.sender_id for dm in page)
            answer["includes"] = {"users": [self._user_json(self._users[uid], user_fields) for uid in senders]}
        meta: dict[str, Any] = {"result_count": len(page)}
        if more:
            meta["next_token"] = _encode_token("dm_events", int(page[-1].id))
        answer["meta"] = meta
        return 200, answer

    def _path_conversation(self, request: web.Request) -> str | None:
        participant = request.match_info.get("participant_id")
        if participant is not None:
            if not _ID_RE.match(participant):
                raise _invalid(f"The `participant_id` query parameter value [{participant}] does not match "
                               "^[0-9]{1,19}$", {"participant_id": [participant]})
            return _conversation_id(participant, self.brand_user_id)
        return request.match_info.get("dm_conversation_id")

    async def _api_create_tweet(self, request: web.Request, params: dict[str, str], body: Any,
                                scope: str) -> tuple[int, dict[str, Any]]:
        body = body if isinstance(body, dict) else {}
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise _invalid("$.text: expected a string", {"text": [json.dumps(text)]})
        if not text and not any(k in body for k in ("media", "poll", "card_uri", "quote_tweet_id")):
            raise _invalid("Tweet text is required when there is no media, poll, card_uri or quote_tweet_id")
        text = text or ""
        if tweet_weighted_length(text) > MAX_TWEET_WEIGHT:
            raise _invalid(TOO_LONG_MESSAGE)
        parent: _Tweet | None = None
        reply = body.get("reply")
        if reply is not None:
            target = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
            if not isinstance(target, str) or not _ID_RE.match(target):
                raise _invalid("$.reply.in_reply_to_tweet_id: must be a numeric string",
                               {"in_reply_to_tweet_id": [str(target)]})
            parent = self._tweets.get(target)
            if parent is None or parent.deleted:
                raise _forbidden(REPLY_FORBIDDEN_DETAIL)
        quoted: _Tweet | None = None
        if "quote_tweet_id" in body:
            quoted = self._tweets.get(str(body["quote_tweet_id"]))
            if quoted is None or quoted.deleted:
                raise _forbidden("You attempted to quote a Tweet that is deleted or not visible to you.")
        if self.reject_duplicates and text and any(
                t.author_id == self.brand_user_id and not t.deleted and t.text == text for t in self._tweets.values()):
            raise _forbidden(DUPLICATE_DETAIL)
        at = self.now()
        tweet_id = self._new_id(at)
        tweet = _Tweet(tweet_id, text, self.brand_user_id, at,
                       conversation_id=parent.conversation_id if parent else tweet_id,
                       in_reply_to_user_id=parent.author_id if parent else None,
                       replied_to=parent.id if parent else None, quoted=quoted.id if quoted else None)
        self._tweets[tweet_id] = tweet
        self._emit(lambda: self._activity_for_tweet(tweet))  # X echoes the account's own tweets to its webhook
        return 201, {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}}

    async def _api_create_dm(self, request: web.Request, params: dict[str, str], body: Any,
                             scope: str) -> tuple[int, dict[str, Any]]:
        participant = request.match_info.get("participant_id")
        if participant is None:
            ids = request.match_info["dm_conversation_id"].split("-")
            if len(ids) != 2 or self.brand_user_id not in ids:
                raise _forbidden(DM_FORBIDDEN_DETAIL)  # group conversations are not simulated
            participant = ids[0] if ids[1] == self.brand_user_id else ids[1]
        if not _ID_RE.match(participant):
            raise _invalid(f"The `participant_id` query parameter value [{participant}] does not match "
                           "^[0-9]{1,19}$", {"participant_id": [participant]})
        body = body if isinstance(body, dict) else {}
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise _invalid("$.text: expected a string", {"text": [json.dumps(text)]})
        if not text and not body.get("attachments"):
            raise _invalid("Either text or attachments is required")
        text = text or ""
        if len(text) > MAX_DM_LENGTH:
            raise _invalid(f"Text messages support up to {MAX_DM_LENGTH} characters", {"text": [text[:40]]})
        recipient = self._users.get(participant)
        if recipient is None or participant == self.brand_user_id or not recipient.accepts_dms:
            raise _forbidden(DM_FORBIDDEN_DETAIL)
        at = self.now()
        dm = _Dm(self._new_id(at), text, self.brand_user_id, participant, at)
        self._dms.append(dm)
        self._emit(lambda: self._activity_for_dm(dm))  # X echoes the account's own DMs to its webhook
        return 201, {"data": {"dm_conversation_id": dm.conversation_id, "dm_event_id": dm.id}}

    # ----------------------------------------------------------------- JSON renderings

    def _tweet_json(self, tweet: _Tweet, fields: frozenset[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}
        if "author_id" in fields:
            data["author_id"] = tweet.author_id
        if "conversation_id" in fields:
            data["conversation_id"] = tweet.conversation_id
        if "created_at" in fields:
            data["created_at"] = _iso(tweet.created)
        if "in_reply_to_user_id" in fields and tweet.in_reply_to_user_id:
            data["in_reply_to_user_id"] = tweet.in_reply_to_user_id
        if "referenced_tweets" in fields and tweet.referenced:
            data["referenced_tweets"] = tweet.referenced
        if "lang" in fields:
            data["lang"] = "en"
        if "entities" in fields:
            mentions = []
            for match in _MENTION_RE.finditer(tweet.text):
                entity: dict[str, Any] = {"start": match.start(), "end": match.end(), "username": match.group(1)}
                user = self._user_by_name(match.group(1))
                if user is not None:
                    entity["username"], entity["id"] = user.username, user.id
                mentions.append(entity)
            if mentions:
                data["entities"] = {"mentions": mentions}
        if "public_metrics" in fields:
            data["public_metrics"] = {
                "retweet_count": self._count_refs("retweeted", tweet.id),
                "reply_count": self._count_refs("replied_to", tweet.id),
                "like_count": sum(1 for like in self._likes if like.tweet_id == tweet.id),
                "quote_count": self._count_refs("quoted", tweet.id), "bookmark_count": 0, "impression_count": 0}
        if "possibly_sensitive" in fields:
            data["possibly_sensitive"] = False
        if "reply_settings" in fields:
            data["reply_settings"] = "everyone"
        if "display_text_range" in fields:
            data["display_text_range"] = [_reply_prefix_end(tweet.text) if tweet.replied_to else 0, len(tweet.text)]
        if "edit_controls" in fields:
            data["edit_controls"] = {"edits_remaining": 5, "is_edit_eligible": False,
                                     "editable_until": _iso(tweet.created + 3600)}
        return data

    def _dm_json(self, dm: _Dm, fields: frozenset[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": dm.id, "event_type": "MessageCreate", "text": dm.text}
        if "sender_id" in fields:
            data["sender_id"] = dm.sender_id
        if "dm_conversation_id" in fields:
            data["dm_conversation_id"] = dm.conversation_id
        if "created_at" in fields:
            data["created_at"] = _iso(dm.created)
        return data

    def _user_json(self, user: _User, fields: frozenset[str]) -> dict[str, Any]:
        return user.v2(fields, self._tweet_count(user.id))

    def _like_json(self, like: _Like) -> dict[str, Any]:
        return {"id": like.id, "user_id": like.user_id, "tweet_id": like.tweet_id, "created_at": _iso(like.created)}

    def _tweet_count(self, user_id: str) -> int:
        return sum(1 for t in self._tweets.values() if t.author_id == user_id and not t.deleted)

    def _count_refs(self, kind: str, tweet_id: str) -> int:
        return sum(1 for t in self._tweets.values()
                   if not t.deleted and any(r["type"] == kind and r["id"] == tweet_id for r in t.referenced))

    def _user_by_name(self, username: str) -> _User | None:
        lowered = username.lower()
        return next((u for u in self._users.values() if u.username.lower() == lowered), None)

    # ----------------------------------------------------------------- control API over HTTP

    async def _ctl_users(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"user_id": (str, int), "username": (str,), "name": (str,), "followers": (int,),
                             "verified": (bool,), "accepts_dms": (bool,)}, required=("user_id", "username", "name"))
        return _ctl_call(lambda: self.add_user(**body))

    async def _ctl_mentions(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"user_id": (str, int), "text": (str,), "in_reply_to_tweet_id": (str, int, NoneType),
                             "quote_of": (str, int, NoneType)}, required=("user_id", "text"))
        return _ctl_call(lambda: self.customer_mentions(**body))

    async def _ctl_dms(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"user_id": (str, int), "text": (str,)}, required=("user_id", "text"))
        return _ctl_call(lambda: self.customer_dms(**body))

    async def _ctl_retweets(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"user_id": (str, int), "tweet_id": (str, int)}, required=("user_id", "tweet_id"))
        return _ctl_call(lambda: self.customer_retweets(**body))

    async def _ctl_likes(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"user_id": (str, int), "tweet_id": (str, int)}, required=("user_id", "tweet_id"))
        return _ctl_call(lambda: self.customer_likes(**body))

    async def _ctl_sent(self, request: web.Request) -> web.Response:
        return web.json_response({"tweets": self.sent_tweets(), "dms": self.sent_dms()})

    async def _ctl_add_fault(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"endpoint": (str,), "kind": (str,), "count": (int, NoneType), "reset_in": (int, float),
                             "delay": (int, float), "status": (int,)}, required=("endpoint", "kind"))
        kwargs = {k: v for k, v in body.items() if k not in ("endpoint", "kind")}
        try:
            self.inject_fault(body["endpoint"], body["kind"], **kwargs)
        except ValueError as err:
            raise _ctl_error(str(err)) from None
        return web.json_response({"faults": self.faults})

    async def _ctl_clear_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return web.json_response({"faults": []})

    async def _ctl_rate_limit(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"endpoint": (str,), "limit": (int,), "window_seconds": (int, float),
                             "scope": (str, NoneType)}, required=("endpoint", "limit"))
        try:
            self.set_rate_limit(body["endpoint"], body["limit"], body.get("window_seconds", DEFAULT_WINDOW_SECONDS),
                                scope=body.get("scope"))
        except ValueError as err:
            raise _ctl_error(str(err)) from None
        return web.json_response({"rate_limits": self.rate_limits()})

    async def _ctl_subscribe(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"url": (str,), "retry_delays": (list,)}, required=("url",))
        delays = body.get("retry_delays", [])
        if not all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in delays):
            raise _ctl_error("retry_delays must be a list of numbers")
        try:
            outcome = await self.subscribe(body["url"], retry_delays=delays)
        except (SandboxError, ValueError) as err:
            raise _ctl_error(str(err)) from None
        return web.json_response({"crc": outcome, "webhook": self._webhook_state()})

    async def _ctl_unsubscribe(self, request: web.Request) -> web.Response:
        await self.unsubscribe()
        return web.json_response({"webhook": None})

    async def _ctl_clock(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, {"seconds": (int, float)}, required=("seconds",))
        try:
            self.advance_clock(body["seconds"])
        except ValueError as err:
            raise _ctl_error(str(err)) from None
        return web.json_response({"now": _iso(self.now()), "offset_seconds": self._clock_offset})

    async def _ctl_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary: brand, users, counts, rate-limit windows, faults and the webhook."""
        tweets = [t for t in self._tweets.values() if not t.deleted]
        return {
            "brand": self.brand,
            "users": [self._user_json(u, frozenset({"public_metrics", "verified", "receives_your_dm"}))
                      for u in self._users.values()],
            "counts": {
                "mentions": sum(1 for t in tweets if t.author_id != self.brand_user_id and t.retweeted is None),
                "retweets": sum(1 for t in tweets if t.retweeted is not None),
                "likes": len(self._likes),
                "dms_received": sum(1 for dm in self._dms if dm.sender_id != self.brand_user_id),
                "tweets_sent": sum(1 for t in tweets if t.author_id == self.brand_user_id),
                "dms_sent": sum(1 for dm in self._dms if dm.sender_id == self.brand_user_id),
                "requests": len(self.requests),
            },
            "requests_per_endpoint": {name: len(self.calls(name)) for name in ENDPOINTS},
            "rate_limits": self.rate_limits(),
            "faults": self.faults,
            "webhook": self._webhook_state(),
            "clock": {"now": _iso(self.now()), "offset_seconds": self._clock_offset},
        }

    def _webhook_state(self) -> dict[str, Any] | None:
        subscription = self._subscription
        if subscription is None:
            return None
        return {"url": subscription.url, "valid": subscription.valid, "retry_delays": list(subscription.retry_delays),
                "queued": len(self._outbox), "in_flight": self._in_flight,
                "delivered": sum(1 for d in self.deliveries if d.ok),
                "failed_attempts": sum(1 for d in self.deliveries if not d.ok), "dropped": self._dropped}


async def run_sandbox(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    first_id: int | None = None,
    on_ready: Callable[[XSandbox], None] | None = None,
    **options: Any,
) -> None:
    """Run a sandbox until cancelled; ids start at the current snowflake unless first_id is given."""
    # Ids must keep growing across restarts, or a poller's stored since_id would hide the new tweets.
    sandbox = XSandbox(host=host, port=port, first_id=snowflake_now() if first_id is None else first_id, **options)
    async with sandbox:
        if on_ready is not None:
            on_ready(sandbox)
        await sandbox.serve_forever()


# --------------------------------------------------------------------- module helpers

def _iso(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _v1_date(ts: float) -> str:
    t = time.gmtime(ts)  # spelled out: %a and %b follow the locale, X's dates do not
    return f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:" \
           f"{t.tm_sec:02d} +0000 {t.tm_year}"


def _short_code(tweet_id: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(tweet_id.encode()).digest()).decode()[:10]


def _reply_prefix_end(text: str) -> int:
    match = re.match(r"(?:@\w{1,15}\s+)+", text)
    return match.end() if match else 0


def _pct(value: str) -> str:
    return quote(value, safe="~")  # RFC 3986 unreserved characters only (RFC 5849 §3.6)


def _b64_hmac_sha256(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def _encode_token(kind: str, cursor: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while cursor:
        cursor, rest = divmod(cursor, 36)
        out = digits[rest] + out
    return _TOKEN_PREFIXES[kind] + (out or "0")


def _decode_token(params: Mapping[str, str], kind: str) -> int | None:
    token = params.get("pagination_token")
    if token is None:
        return None
    prefix = _TOKEN_PREFIXES[kind]
    try:
        if not token.startswith(prefix):
            raise ValueError(token)
        return int(token[len(prefix):], 36)
    except ValueError:
        raise _invalid(f"The `pagination_token` query parameter value [{token}] is not valid",
                       {"pagination_token": [token]}) from None


def _check_params(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    for name, value in params.items():
        if name not in allowed:
            raise _invalid(f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]",
                           {name: [value]})


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(f"The `{name}` query parameter value [{raw}] is not a number", {name: [raw]}) from None
    if not low <= value <= high:
        raise _invalid(f"The `{name}` query parameter value [{raw}] is not between {low} and {high}", {name: [raw]})
    return value


def _id_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not _ID_RE.match(raw):
        raise _invalid(f"The `{name}` query parameter value [{raw}] does not match ^[0-9]{{1,19}}$", {name: [raw]})
    return int(raw)


def _time_param(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        raise _invalid(f"The `{name}` query parameter value [{raw}] is not a valid RFC3339 date",
                       {name: [raw]}) from None


def _field_set(params: Mapping[str, str], name: str, allowed: frozenset[str]) -> frozenset[str]:
    raw = params.get(name)
    if raw is None:
        return frozenset()
    values = [v for v in raw.split(",")]
    for value in values:
        if value not in allowed:
            raise _invalid(f"The `{name}` query parameter value [{value}] is not one of "
                           f"[{','.join(sorted(allowed))}]", {name: [raw]})
    return frozenset(values)


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.close()
    # Nothing reaches the client: the transport is closed before aiohttp writes this.
    return web.Response(status=444)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise _ctl_error("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _ctl_error("the body must be a JSON object")
    return body


def _check_fields(body: Mapping[str, Any], fields: Mapping[str, tuple[type, ...]],
                  required: Iterable[str] = ()) -> None:
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise _ctl_error(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in required if name not in body]
    if missing:
        raise _ctl_error(f"missing field(s): {', '.join(missing)}")
    for name, value in body.items():
        types = fields[name]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            expected = " or ".join("null" if t is NoneType else t.__name__ for t in types)
            raise _ctl_error(f"{name} must be {expected}")


def _ctl_error(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _ctl_call(action: Callable[[], dict[str, Any]]) -> web.Response:
    try:
        return web.json_response(action())
    except SandboxError as err:
        raise _ctl_error(str(err)) from None
