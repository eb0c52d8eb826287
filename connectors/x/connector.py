"""XConnector: one brand account on X, polled within its rate-limit budget and optionally fed by webhooks."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from tweepy import HTTPException
from tweepy.asynchronous import AsyncClient
from yarl import URL

from connectors.base import CursorSource, IngestSink
from connectors.x.budget import RateBudget
from connectors.x.parse import PLATFORM, ParseContext
from connectors.x.poller import DM_EVENTS, MENTIONS, XPoller
from connectors.x.send import CREATE_DM, CREATE_TWEET, send_reply, translate_error
from connectors.x.webhook import webhook_path, webhook_routes
from social_care.domain import OutboundReply
from social_care.errors import AuthError
from social_care.secrets import Secret
from social_care.settings_fields import bool_field, seconds_field, secret_field, text_field

logger = logging.getLogger(__name__)

ENDPOINTS = (MENTIONS, DM_EVENTS, CREATE_TWEET, CREATE_DM)
# Both origins X answers on; tweepy 4.17 hard-codes the first one.
PRODUCTION_HOSTS = ("api.twitter.com", "api.x.com")
# Loggers that print credentials at DEBUG: tweepy the request headers (bearer token, OAuth1 consumer
# key and token), oauthlib the parameters it signs.
_HEADER_LOGGERS = ("tweepy.client", "tweepy.asynchronous.client", "oauthlib.oauth1.rfc5849")
_USER_SECRETS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


class XConfigError(ValueError):
    """A channel's [x.<key>] configuration is incomplete or invalid."""


@dataclass(frozen=True)
class XSettings:
    """The validated configuration of one X channel."""

    key: str
    user_id: str
    consumer_key: Secret
    consumer_secret: Secret
    access_token: Secret
    access_token_secret: Secret
    bearer_token: Secret | None = None
    webhooks: bool = False
    poll_mentions: bool = True
    poll_dms: bool = True
    min_poll_interval: float = 60.0
    include_retweets: bool = False
    include_likes: bool = False
    api_base_url: str | None = None
    request_timeout: float = 20.0

    @classmethod
    def from_section(cls, key: str, section: Mapping[str, Any]) -> XSettings:
        """Validate one TOML table; errors name the key, never a secret's value."""
        where = f"[x.{key}]"
        user_id = section.get("user_id")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id.isdigit():
            raise XConfigError(f"{where}: 'user_id' must be the brand account's numeric X user id")
        secrets = {name: secret_field(section, name, where, XConfigError) for name in (*_USER_SECRETS, "bearer_token")}
        missing = [name for name in _USER_SECRETS if secrets[name] is None]
        if missing:
            # Every reply, the DM endpoints and the credential check use OAuth 1.0a user context.
            raise XConfigError(f"{where}: set {', '.join(missing)} (or the *_env variants): replies and DMs "
                               "use OAuth 1.0a user context")
        flags = {name: bool_field(section, name, default, where, XConfigError) for name, default in (
            ("webhooks", False), ("poll_mentions", True), ("poll_dms", True),
            ("include_retweets", False), ("include_likes", False))}
        return cls(
            key=key,
            user_id=user_id,
            consumer_key=_required(secrets["consumer_key"]),
            consumer_secret=_required(secrets["consumer_secret"]),
            access_token=_required(secrets["access_token"]),
            access_token_secret=_required(secrets["access_token_secret"]),
            bearer_token=secrets["bearer_token"],
            min_poll_interval=seconds_field(section, "min_poll_interval", 60.0, where, XConfigError),
            request_timeout=seconds_field(section, "request_timeout", 20.0, where, XConfigError),
            api_base_url=text_field(section, "api_base_url", where, XConfigError),
            **flags,
        )

    @property
    def parse_context(self) -> ParseContext:
        """What the parsers need to know about this channel."""
        return ParseContext(channel_key=self.key, brand_id=self.user_id, include_retweets=self.include_retweets,
                            include_likes=self.include_likes)


class XConnector:
    """An X brand account as a social-care channel."""

    slug = PLATFORM
    name = PLATFORM

    def __init__(
        self,
        settings: XSettings,
        *,
        ingest: IngestSink,
        cursors: CursorSource,
        base_url: str | None = None,
        page_size: int = 100,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        budgets: Mapping[str, RateBudget] | None = None,
    ) -> None:
        self.settings = settings
        self.channel_key = settings.key
        self.ingest = ingest
        self.cursors = cursors
        self.base_url = base_url or settings.api_base_url
        self.page_size = page_size
        self.clock = clock
        self.sleep = sleep
        self.budgets: dict[str, RateBudget] = dict(budgets or {})
        for endpoint in ENDPOINTS:
            self.budgets.setdefault(endpoint, RateBudget(endpoint, min_interval=settings.min_poll_interval))
        self.client: AsyncClient | None = None
        self.poller: XPoller | None = None
        self._redactor = _Redact(settings)

    @classmethod
    def from_config(
        cls,
        key: str,
        section: Mapping[str, Any],
        *,
        ingest: IngestSink,
        cursors: CursorSource,
        base_url: str | None = None,
    ) -> XConnector:
        """Build a connector from the TOML table of one channel (raises XConfigError)."""
        return cls(XSettings.from_section(key, section), ingest=ingest, cursors=cursors, base_url=base_url)

    def __repr__(self) -> str:
        return f"XConnector(channel_key={self.channel_key!r}, user_id={self.settings.user_id!r})"

    async def start(self) -> None:
        """Open the client session, check the credentials (GET /2/users/me), start the pollers."""
        if self.client is not None:
            raise RuntimeError(f"{self!r} already started")
        for name in _HEADER_LOGGERS:
            logging.getLogger(name).addFilter(self._redactor)
        s = self.settings
        client = AsyncClient(
            bearer_token=s.bearer_token.reveal() if s.bearer_token else None,
            consumer_key=s.consumer_key.reveal(),
            consumer_secret=s.consumer_secret.reveal(),
            access_token=s.access_token.reveal(),
            access_token_secret=s.access_token_secret.reveal(),
            # The raw response keeps the x-rate-limit-* headers that the budgets live on; never
            # wait_on_rate_limit, which retries at once when a 429 has no reset header.
            return_type=aiohttp.ClientResponse,
            wait_on_rate_limit=False,
        )
        client.session = open_session(self.base_url, timeout=s.request_timeout)
        try:
            await self._check_account(client)
        except BaseException:
            await client.session.close()
            self._remove_redactor()
            raise
        self.client = client
        if s.poll_mentions or s.poll_dms:
            self.poller = XPoller(
                client,
                ctx=s.parse_context,
                ingest=self.ingest,
                cursors=self.cursors,
                budgets=self.budgets,
                poll_mentions=s.poll_mentions,
                poll_dms=s.poll_dms,
                mentions_user_auth=s.bearer_token is None,
                page_size=self.page_size,
                clock=self.clock,
                sleep=self.sleep,
            )
            self.poller.start()
        logger.info("x %s: started as user %s (mentions %s, DMs %s, webhooks %s)", self.channel_key, s.user_id,
                    "polled" if s.poll_mentions else "off", "polled" if s.poll_dms else "off",
                    "on" if s.webhooks else "off")

    async def _check_account(self, client: AsyncClient) -> None:
        try:
            response = await client.get_me(user_auth=True)
            body = await response.json()
        except (TimeoutError, HTTPException, aiohttp.ClientError) as err:
            raise translate_error(err) from err
        data = body.get("data") if isinstance(body, Mapping) else None
        me = str(data.get("id")) if isinstance(data, Mapping) else None
        if me != self.settings.user_id:
            raise AuthError(f"the access token belongs to user {me}, not to user_id {self.settings.user_id}")

    async def stop(self) -> None:
        """Stop the pollers and close the client session."""
        if self.poller is not None:
            await self.poller.stop()
            self.poller = None
        client, self.client = self.client, None
        if client is not None and client.session is not None:
            await client.session.close()
            logger.info("x %s: stopped", self.channel_key)
        self._remove_redactor()

    async def send(self, reply: OutboundReply) -> str:
        """Deliver one reply; returns "tweet:<id>" (public) or "dm:<dm_event_id>" (private)."""
        if self.client is None:
            raise RuntimeError(f"{self!r} is not started")
        if reply.channel_key != self.channel_key:
            raise ValueError(f"reply for channel {reply.channel_key!r} given to {self!r}")
        return await send_reply(self.client, reply, budgets=self.budgets, clock=self.clock)

    def webhook_routes(self) -> Sequence[web.RouteDef]:
        """CRC and event routes when Account Activity is on; none otherwise."""
        if not self.settings.webhooks:
            return []
        return webhook_routes(ctx=self.settings.parse_context, consumer_secret=self.settings.consumer_secret,
                              ingest=self.ingest)

    def status(self) -> dict[str, Any]:
        """Budgets per endpoint and the state of the polling loops, for the API."""
        return {
            "platform": PLATFORM,
            "channel_key": self.channel_key,
            "user_id": self.settings.user_id,
            "webhooks": webhook_path(self.channel_key) if self.settings.webhooks else None,
            "polling": self.poller.status() if self.poller else {MENTIONS: "off", DM_EVENTS: "off"},
            "budgets": {name: self.budgets[name].snapshot() for name in ENDPOINTS},
        }

    def _remove_redactor(self) -> None:
        for name in _HEADER_LOGGERS:
            logging.getLogger(name).removeFilter(self._redactor)


def open_session(base_url: str | None = None, *, timeout: float = 20.0) -> aiohttp.ClientSession:
    """The connector's aiohttp session; with `base_url`, requests for X go there instead (sandbox)."""
    client_timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
    if not base_url:
        return aiohttp.ClientSession(timeout=client_timeout)
    target = URL(base_url)
    host = target.host
    if host is None:
        raise XConfigError(f"api_base_url {base_url!r} has no host")

    # tweepy has no host setting (its request() hard-codes https://api.twitter.com), so the URL is
    # rewritten on the way out, after tweepy built and OAuth1-signed it for the production URL.
    async def to_base_url(request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        if request.url.host in PRODUCTION_HOSTS:
            request.url = URL.build(scheme=target.scheme, host=host, port=target.port,
                                    path=target.path.rstrip("/") + request.url.raw_path,
                                    query_string=request.url.raw_query_string, encoded=True)
        return await handler(request)

    return aiohttp.ClientSession(timeout=client_timeout, middlewares=(to_base_url,))


class _Redact(logging.Filter):
    """Replaces this channel's credentials in records of the loggers that print request headers."""

    def __init__(self, settings: XSettings) -> None:
        super().__init__()
        self._secrets = [s for s in (settings.bearer_token, settings.consumer_key, settings.consumer_secret,
                                     settings.access_token, settings.access_token_secret) if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        changed = message
        for secret in self._secrets:
            changed = changed.replace(secret.reveal(), "<redacted>")
        if changed != message:
            record.msg, record.args = changed, None
        return True


def _required(secret: Secret | None) -> Secret:
    assert secret is not None  # checked by from_section
    return secret

