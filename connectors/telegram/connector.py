"""TelegramConnector: one bot account, in webhook or polling mode, wired to the store."""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from connectors.base import CursorSource, IngestSink
from connectors.telegram.parse import PLATFORM, allowed_updates
from connectors.telegram.poller import DEFAULT_POLL_TIMEOUT, TelegramPoller
from connectors.telegram.send import send_reply, translate_error
from connectors.telegram.webhook import webhook_path, webhook_route
from social_care.domain import OutboundReply
from social_care.secrets import Secret
from social_care.settings_fields import secret_field, text_field

logger = logging.getLogger(__name__)

MODES = ("polling", "webhook")
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Loggers that print request URLs, and so the token (https://core.telegram.org/bots/api#making-requests
# puts it in the path), or request parameters, and so setWebhook's secret_token: httpx at INFO,
# python-telegram-bot at DEBUG.
_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.request.BaseRequest")


class TelegramConfigError(ValueError):
    """A channel's [telegram.<key>] configuration is incomplete or invalid."""


@dataclass(frozen=True)
class TelegramSettings:
    """The validated configuration of one Telegram channel."""

    key: str
    token: Secret
    mode: str = "polling"
    secret_token: Secret | None = None
    public_url: str | None = None
    include_groups: bool = False
    api_base_url: str | None = None
    api_file_url: str | None = None
    poll_timeout: int = DEFAULT_POLL_TIMEOUT

    @classmethod
    def from_section(cls, key: str, section: Mapping[str, Any]) -> TelegramSettings:
        """Validate one TOML table; errors name the key, never a secret's value."""
        where = f"[telegram.{key}]"
        token = secret_field(section, "token", where, TelegramConfigError)
        if token is None:
            raise TelegramConfigError(f"{where}: set 'token' or 'token_env' (the bot token from @BotFather)")
        if not _TOKEN.match(token.reveal()):
            raise TelegramConfigError(f"{where}: the bot token does not look like '<digits>:<letters>'")
        mode = section.get("mode", "polling")
        if mode not in MODES:
            raise TelegramConfigError(f"{where}: mode must be one of {', '.join(MODES)}")
        secret_token = secret_field(section, "secret_token", where, TelegramConfigError)
        if mode == "webhook" and secret_token is None:
            raise TelegramConfigError(f"{where}: webhook mode needs 'secret_token' or 'secret_token_env'")
        if secret_token is not None and not _SECRET_TOKEN.match(secret_token.reveal()):
            raise TelegramConfigError(f"{where}: secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        include_groups = section.get("include_groups", False)
        if not isinstance(include_groups, bool):
            raise TelegramConfigError(f"{where}: include_groups must be true or false")
        poll_timeout = section.get("poll_timeout", DEFAULT_POLL_TIMEOUT)
        if not isinstance(poll_timeout, int) or isinstance(poll_timeout, bool) or not 1 <= poll_timeout <= 50:
            raise TelegramConfigError(f"{where}: poll_timeout must be a whole number of seconds from 1 to 50")
        return cls(
            key=key,
            token=token,
            mode=mode,
            secret_token=secret_token,
            public_url=text_field(section, "public_url", where, TelegramConfigError),
            include_groups=include_groups,
            api_base_url=text_field(section, "api_base_url", where, TelegramConfigError),
            api_file_url=text_field(section, "api_file_url", where, TelegramConfigError),
            poll_timeout=poll_timeout,
        )


class TelegramConnector:
    """A Telegram bot account as a social-care channel."""

    slug = PLATFORM
    name = PLATFORM

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        ingest: IngestSink,
        cursors: CursorSource,
        base_url: str | None = None,
        base_file_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.channel_key = settings.key
        self.ingest = ingest
        self.cursors = cursors
        self.base_url = base_url or settings.api_base_url
        self.base_file_url = base_file_url or settings.api_file_url or _file_url_for(self.base_url)
        self.bot: Bot | None = None
        self.poller: TelegramPoller | None = None
        secrets = {"<bot-token>": settings.token}
        if settings.secret_token is not None:
            secrets["<webhook-secret>"] = settings.secret_token
        self._redactor = _RedactSecrets(secrets)

    @classmethod
    def from_config(
        cls,
        key: str,
        section: Mapping[str, Any],
        *,
        ingest: IngestSink,
        cursors: CursorSource,
        base_url: str | None = None,
        base_file_url: str | None = None,
    ) -> TelegramConnector:
        """Build a connector from the TOML table of one channel (raises TelegramConfigError)."""
        settings = TelegramSettings.from_section(key, section)
        return cls(settings, ingest=ingest, cursors=cursors, base_url=base_url, base_file_url=base_file_url)

    def __repr__(self) -> str:
        return f"TelegramConnector(channel_key={self.channel_key!r}, mode={self.settings.mode!r})"

    async def start(self) -> None:
        """Check the token (getMe), then register the webhook or start the poller."""
        if self.bot is not None:
            raise RuntimeError(f"{self!r} already started")
        for name in _URL_LOGGERS:
            logging.getLogger(name).addFilter(self._redactor)
        kwargs: dict[str, Any] = {}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        if self.base_file_url:
            kwargs["base_file_url"] = self.base_file_url
        requests = (_http_request(pool_size=8), _http_request(pool_size=1))
        bot = Bot(self.settings.token.reveal(), request=requests[0], get_updates_request=requests[1], **kwargs)
        try:
            await bot.initialize()  # getMe: fails fast on a wrong token
            if self.settings.mode == "webhook":
                await self._register_webhook(bot)
            else:
                # getUpdates answers 409 while a webhook is set, e.g. after switching modes;
                # pending updates are kept (https://core.telegram.org/bots/api#deletewebhook).
                await bot.delete_webhook(drop_pending_updates=False)
        except BaseException as err:
            # Bot.shutdown() is a no-op unless initialize() completed, so close the clients here.
            for request in requests:
                await request.shutdown()
            self._remove_redactor()
            if isinstance(err, TelegramError):
                raise translate_error(err) from err
            raise
        self.bot = bot
        logger.info("telegram %s: started in %s mode as bot %s", self.channel_key, self.settings.mode, bot.id)
        if self.settings.mode == "polling":
            self.poller = TelegramPoller(
                bot,
                channel_key=self.channel_key,
                ingest=self.ingest,
                cursors=self.cursors,
                include_groups=self.settings.include_groups,
                poll_timeout=self.settings.poll_timeout,
            )
            self.poller.start()

    async def _register_webhook(self, bot: Bot) -> None:
        if not self.settings.public_url:
            logger.info("telegram %s: webhook mode without public_url; expecting the webhook to be set "
                        "elsewhere to %s", self.channel_key, webhook_path(self.channel_key))
            return
        assert self.settings.secret_token is not None  # enforced by TelegramSettings
        url = self.settings.public_url.rstrip("/") + webhook_path(self.channel_key)
        await bot.set_webhook(
            url=url,
            secret_token=self.settings.secret_token.reveal(),
            allowed_updates=allowed_updates(include_groups=self.settings.include_groups),
        )
        logger.info("telegram %s: webhook registered at %s", self.channel_key, url)

    async def stop(self) -> None:
        """Stop the poller and close the bot's HTTP clients; the webhook stays registered."""
        if self.poller is not None:
            await self.poller.stop()
            self.poller = None
        bot, self.bot = self.bot, None
        if bot is not None:
            await bot.shutdown()
            logger.info("telegram %s: stopped", self.channel_key)
        self._remove_redactor()

    async def send(self, reply: OutboundReply) -> str:
        """Deliver one reply; returns "chat_id:message_id"."""
        if self.bot is None:
            raise RuntimeError(f"{self!r} is not started")
        if reply.channel_key != self.channel_key:
            raise ValueError(f"reply for channel {reply.channel_key!r} given to {self!r}")
        return await send_reply(self.bot, reply)

    def webhook_routes(self) -> Sequence[web.RouteDef]:
        """The webhook route in webhook mode; none in polling mode, so nothing listens needlessly."""
        if self.settings.mode != "webhook":
            return []
        assert self.settings.secret_token is not None  # enforced by TelegramSettings
        return [
            webhook_route(
                channel_key=self.channel_key,
                secret_token=self.settings.secret_token,
                ingest=self.ingest,
                include_groups=self.settings.include_groups,
            )
        ]

    def _remove_redactor(self) -> None:
        for name in _URL_LOGGERS:
            logging.getLogger(name).removeFilter(self._redactor)


class _RedactSecrets(logging.Filter):
    """Replaces the bot token and the webhook secret in log records of the libraries that log requests."""

    def __init__(self, secrets: Mapping[str, Secret]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            # Handlers render a traceback from exc_text when it is set: render it here, redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True

    def _redact(self, text: str) -> str:
        for label, secret in self._secrets.items():
            value = secret.reveal()
            if value in text:
                text = text.replace(value, label)
        return text


def _http_request(*, pool_size: int) -> HTTPXRequest:
    # Every Bot API call is bounded; for getUpdates PTB adds the long-poll timeout to the read timeout.
    return HTTPXRequest(
        connection_pool_size=pool_size, connect_timeout=5.0, read_timeout=10.0, write_timeout=10.0, pool_timeout=5.0
    )


def _file_url_for(base_url: str | None) -> str | None:
    # Telegram serves files from /file/bot<token>/ next to /bot<token>/; a local server does too.
    if base_url and base_url.endswith("/bot"):
        return base_url[: -len("/bot")] + "/file/bot"
    return None

