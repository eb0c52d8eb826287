"""A local fake of the Telegram Bot API that speaks the real wire format, for tests and the demo."""
from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import html
import json
import logging
import mimetypes
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import NoneType
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web

from connectors.sandbox_server import LoopbackServer

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:SANDBOX-token"
DEFAULT_PORT = 8082
MAX_TEXT_LENGTH = 4096  # Telegram counts code points here, not UTF-16 units (entity offsets are UTF-16)
DEFAULT_GROUP_MEMBER_ID = 111_111_111  # the `from` of group messages when no user_id is given
FAULT_KINDS = frozenset({"429", "5xx", "slow", "drop", "drop_after", "403"})
CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel"})

_TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_HTML_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>")
_PRE_LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+-]*\n")
_LINK_URL_RE = re.compile(r"\(((?:\\.|[^()\\])*)\)")
_NUMERIC_RE = re.compile(r"-?\d+")
_WEBHOOK_URL_RE = re.compile(r"^https?://[^/\s]+")  # http too: local receivers have no TLS
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Parameters Telegram takes as plain strings; clients JSON-encode every other non-string value.
_STRING_PARAMS = frozenset(
    {"text", "parse_mode", "url", "secret_token", "ip_address", "file_id", "action", "caption",
     "business_connection_id", "message_effect_id"}
)
_CHAT_ACTIONS = frozenset(
    {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
     "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
)
_FIVE_XX_PHRASES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                    504: "Gateway Timeout"}
_HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
     "pre", "blockquote", "tg-emoji"}
)
_MDV2_MARKERS = ("```", "||", "__", "*", "_", "~", "`")
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


class SandboxError(ValueError):
    """A simulated customer action the sandbox cannot perform (unknown chat, bad content...)."""


class ApiCall(NamedTuple):
    """One Bot API call as the sandbox received it."""

    method: str  # canonical spelling ("sendMessage") when known, else as requested
    params: dict[str, Any]  # JSON-decoded the way Telegram decodes them
    at: float  # time.monotonic() on arrival


@dataclass
class _Fault:
    method: str
    kind: str
    remaining: int | None
    retry_after: int
    delay: float
    status: int
    description: str | None

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "kind": self.kind, "remaining": self.remaining,
                "retry_after": self.retry_after, "delay": self.delay, "status": self.status,
                "description": self.description}


@dataclass
class _Chat:
    id: int
    type: str
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    title: str | None = None
    blocked: bool = False
    last_message_id: int = 0
    last_user: dict[str, Any] | None = None
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.first_name or "Customer"
            if self.last_name:
                data["last_name"] = self.last_name
        else:
            data["title"] = self.title
        if self.username:
            data["username"] = self.username
        return data

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    file_path: str
    size: int
    given: bytes | None  # None: deterministic filler, generated on download to keep memory flat

    def content(self) -> bytes:
        if self.given is not None:
            return self.given
        seed = hashlib.sha256(self.file_unique_id.encode()).digest()
        return (seed * (self.size // len(seed) + 1))[: self.size]


@dataclass
class _Ok:
    result: Any
    description: str | None = None


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.status)


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


class TelegramSandbox(LoopbackServer):
    """An in-process fake Telegram Bot API server with simulated customers and injectable faults."""

    name = "telegram sandbox"

    # Not thread-safe: call the customer_* and fault methods from the loop that runs the server.

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "acme_care_bot",
        bot_first_name: str = "ACME Care",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_delay: float = 0.5,
        webhook_timeout: float = 10.0,
        first_update_id: int = 1,
    ) -> None:
        match = _TOKEN_RE.match(token)
        if match is None:
            raise ValueError("token must look like '<digits>:<letters, digits, _ or ->'")
        self.token = token
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        super().__init__(host, port)
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.requests: list[ApiCall] = []
        self.webhook_acked_update_ids: list[int] = []
        self._bot_id = int(match.group(1))
        self._next_update_id = first_update_id
        self._updates: list[dict[str, Any]] = []
        self._allowed_updates: list[str] | None = None  # None: Telegram's default set
        self._chats: dict[int, _Chat] = {}
        self._sent: list[dict[str, Any]] = []
        self._files: dict[str, _File] = {}
        self._file_paths: dict[str, _File] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._webhook: _Webhook | None = None
        self._last_error: tuple[int, str] | None = None
        self._in_flight: set[int] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._methods: dict[str, tuple[str, Callable[[dict[str, Any]], Awaitable[Any]]]] = {
            name.lower(): (name, handler)
            for name, handler in (
                ("getMe", self._api_get_me),
                ("getUpdates", self._api_get_updates),
                ("setWebhook", self._api_set_webhook),
                ("deleteWebhook", self._api_delete_webhook),
                ("getWebhookInfo", self._api_get_webhook_info),
                ("sendMessage", self._api_send_message),
                ("sendChatAction", self._api_send_chat_action),
                ("getFile", self._api_get_file),
            )
        }

    # ----------------------------------------------------------------- lifecycle and addresses

    def make_app(self) -> web.Application:
        """Build the aiohttp application: Bot API, file downloads and the /sandbox control API."""
        app = web.Application()
        app.cleanup_ctx.append(self._lifecycle)
        app.on_shutdown.append(self._on_shutdown)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_post("/sandbox/chats/{chat_id}/messages", self._ctl_write)
        app.router.add_post("/sandbox/chats/{chat_id}/edits", self._ctl_edit)
        app.router.add_post("/sandbox/chats/{chat_id}/block", self._ctl_block)
        app.router.add_post("/sandbox/chats/{chat_id}/unblock", self._ctl_unblock)
        app.router.add_post("/sandbox/updates", self._ctl_push)
        app.router.add_get("/sandbox/sent", self._ctl_sent)
        app.router.add_post("/sandbox/faults", self._ctl_add_fault)
        app.router.add_delete("/sandbox/faults", self._ctl_clear_faults)
        app.router.add_get("/sandbox/state", self._ctl_state)
        return app

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        self._closing = False
        self._session = aiohttp.ClientSession()
        try:
            yield
        finally:
            await self._stop_delivery()
            await self._session.close()
            self._session = None

    async def _on_shutdown(self, app: web.Application) -> None:
        # Wake long polls before aiohttp waits for in-flight handlers, or stop() would hang.
        self._closing = True
        self._notify()
        await self._stop_delivery()

    @property
    def base_url(self) -> str:
        """What to pass as python-telegram-bot's base_url (the token is appended by the client)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What to pass as python-telegram-bot's base_file_url."""
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        """The bot's user id: the token's prefix before ':'."""
        return self._bot_id

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot as a Telegram User object."""
        return {"id": self._bot_id, "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username}

    # ----------------------------------------------------------------- simulated customers

    def customer_writes(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        first_name: str = "Customer",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        reply_to_message_id: int | None = None,
        caption: str | None = None,
        photo: bool = False,
        sticker: str | None = None,
        document: str | Mapping[str, Any] | None = None,
        voice: bool | int = False,
        location: tuple[float, float] | list[float] | Mapping[str, float] | None = None,
        chat_type: str = "private",
        date: int | None = None,
        title: str | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a customer's message (or channel post) and return the Update queued."""
        if chat_type not in CHAT_TYPES:
            raise SandboxError(f"chat_type must be one of {sorted(CHAT_TYPES)}")
        if chat_type == "private" and chat_id <= 0:
            raise SandboxError("private chat ids are positive (they equal the user's id)")
        if chat_type != "private" and chat_id >= 0:
            raise SandboxError("group, supergroup and channel chat ids are negative")
        if chat_type == "private" and user_id is not None and user_id != chat_id:
            raise SandboxError("in a private chat the user id equals the chat id")
        media = [m for m in (photo, sticker, document, voice, location) if m not in (None, False)]
        if len(media) > 1:
            raise SandboxError("a message carries at most one of photo, sticker, document, voice, location")
        if text is not None and media:
            raise SandboxError("a media message has a caption, not a text")
        if text is None and not media:
            raise SandboxError("a message needs a text or some media")
        if text is not None and not text.strip():
            raise SandboxError("message text is empty")
        if text is not None and len(text) > MAX_TEXT_LENGTH:
            raise SandboxError("message is too long")
        if caption is not None and not (photo or document or voice):
            raise SandboxError("only photos, documents and voice notes carry a caption")

        existing = self._chats.get(chat_id)
        if existing is not None and existing.type != chat_type:
            raise SandboxError(f"chat {chat_id} is a {existing.type} chat, not a {chat_type} chat")
        if existing is not None and existing.blocked:
            raise SandboxError(f"the customer of chat {chat_id} blocked the bot; call customer_unblocks first")
        target = None
        if reply_to_message_id is not None:
            target = existing.messages.get(reply_to_message_id) if existing else None
            if target is None:
                raise SandboxError(f"message {reply_to_message_id} does not exist in chat {chat_id}")
        # Everything that can fail is checked above or here, before the chat changes.
        content = self._content(text, photo=photo, sticker=sticker, document=document, voice=voice,
                                location=location)

        chat = existing or self._chats.setdefault(chat_id, _Chat(id=chat_id, type=chat_type))
        if chat_type == "private":
            chat.first_name, chat.last_name, chat.username = first_name, last_name, username
        else:
            chat.title = title or chat.title or f"{chat_type.capitalize()} {abs(chat_id)}"
            if chat_type == "channel" and username is not None:
                chat.username = username
        message: dict[str, Any] = {"message_id": chat.next_message_id(),
                                   "date": int(time.time()) if date is None else date}
        if chat_type == "channel":
            message["sender_chat"] = chat.as_json()
        else:
            user: dict[str, Any] = {"id": chat_id if chat_type == "private" else (user_id or DEFAULT_GROUP_MEMBER_ID),
                                    "is_bot": False, "first_name": first_name}
            if last_name:
                user["last_name"] = last_name
            if username:
                user["username"] = username
            if language_code:
                user["language_code"] = language_code
            message["from"] = user
            chat.last_user = user
        message["chat"] = chat.as_json()
        if target is not None:
            message["reply_to_message"] = _without_reply(target)
        message.update(content)
        if caption is not None:
            message["caption"] = caption
        chat.messages[message["message_id"]] = message
        kind = "channel_post" if chat_type == "channel" else "message"
        return self._queue({kind: copy.deepcopy(message)})

    def _content(
        self,
        text: str | None,
        *,
        photo: bool,
        sticker: str | None,
        document: str | Mapping[str, Any] | None,
        voice: bool | int,
        location: Any,
    ) -> dict[str, Any]:
        if text is not None:
            content: dict[str, Any] = {"text": text}
            _add_command_entity(content, "text", "entities")
            return content
        if location is not None:
            return {"location": _location(location)}
        if voice:
            duration = 3 if voice is True else int(voice)
            if duration < 1:
                raise SandboxError("a voice note lasts at least 1 second")
            return {"voice": {**self._new_file("voice", 4_000 * duration, "oga"), "duration": duration,
                              "mime_type": "audio/ogg"}}
        if document is not None:
            return {"document": self._new_document(document)}
        if sticker is not None:
            return {"sticker": {**self._new_file("sticker", 22_016, "webp", width=512, height=512),
                                "type": "regular", "is_animated": False, "is_video": False, "emoji": sticker}}
        return {"photo": [self._new_file("photo", size, "jpg", width=w, height=h)
                          for w, h, size in ((90, 67, 1_512), (320, 240, 17_920), (800, 600, 71_680))]}

    def customer_edits(
        self, chat_id: int, message_id: int, text: str, *, edit_date: int | None = None
    ) -> dict[str, Any]:
        """Edit a customer's earlier message (its text, or the caption of media) and queue the edit."""
        chat = self._require_chat(chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise SandboxError(f"message {message_id} does not exist in chat {chat_id}")
        if message.get("from", {}).get("is_bot"):
            raise SandboxError("a customer can only edit the customer's own messages")
        if not text.strip():
            raise SandboxError("message text is empty")
        if "text" in message:
            message["text"] = text
            message.pop("entities", None)
            _add_command_entity(message, "text", "entities")
        elif any(k in message for k in ("photo", "document", "voice")):
            message["caption"] = text
        else:
            raise SandboxError("this kind of message has no text or caption to edit")
        message["edit_date"] = max(int(time.time()) if edit_date is None else edit_date, message["date"])
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        return self._queue({kind: copy.deepcopy(message)})

    def customer_blocks(self, chat_id: int) -> dict[str, Any]:
        """The customer blocks the bot (or removes it from the group): queues my_chat_member 'kicked'."""
        chat = self._require_chat(chat_id)
        if chat.blocked:
            raise SandboxError(f"chat {chat_id} has already blocked the bot")
        chat.blocked = True
        return self._queue({"my_chat_member": self._member_change(chat, "member", "kicked")})

    def customer_unblocks(self, chat_id: int) -> dict[str, Any]:
        """The customer unblocks the bot: queues my_chat_member 'member'."""
        chat = self._require_chat(chat_id)
        if not chat.blocked:
            raise SandboxError(f"chat {chat_id} has not blocked the bot")
        chat.blocked = False
        return self._queue({"my_chat_member": self._member_change(chat, "kicked", "member")})

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a raw update as given (update_id assigned when missing) and return it."""
        if not isinstance(update, Mapping):
            raise SandboxError("an update is a JSON object")
        raw = copy.deepcopy(dict(update))
        if "update_id" in raw and (not isinstance(raw["update_id"], int) or isinstance(raw["update_id"], bool)):
            raise SandboxError("update_id must be an integer")
        if not any(key != "update_id" for key in raw):
            raise SandboxError("an update needs a payload besides update_id")
        for value in raw.values():
            chat = value.get("chat") if isinstance(value, dict) else None
            if isinstance(chat, dict) and isinstance(chat.get("id"), int) and chat.get("type") in CHAT_TYPES:
                # Learn the chat so the bot can answer it, as it could on Telegram.
                self._chats.setdefault(chat["id"], _Chat(id=chat["id"], type=chat["type"],
                                                         first_name=chat.get("first_name"),
                                                         last_name=chat.get("last_name"),
                                                         username=chat.get("username"),
                                                         title=chat.get("title")))
        return self._queue(raw)

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent, oldest first, optionally only those to one chat."""
        return [copy.deepcopy(m) for m in self._sent if chat_id is None or m["chat"]["id"] == chat_id]

    async def wait_sent(self, count: int, *, chat_id: int | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent at least `count` messages (to `chat_id` if given); return them."""
        try:
            async with asyncio.timeout(timeout):
                while len(sent := self.sent_messages(chat_id)) < count:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"the bot sent {len(self.sent_messages(chat_id))} of {count} message(s)") from None
        return sent

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed (polling) or acknowledged (webhook)."""
        return copy.deepcopy(self._updates)

    # ----------------------------------------------------------------- faults

    def inject_fault(
        self,
        method: str,
        kind: str,
        *,
        count: int | None = 1,
        retry_after: int = 1,
        delay: float = 0.0,
        status: int = 500,
        description: str | None = None,
    ) -> None:
        """Make the next `count` calls of `method` ("*" for any) fail as `kind`; None means forever."""
        key = method.lower()
        if key != "*" and key not in self._methods:
            raise ValueError(f"unknown Bot API method {method!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for forever")
        if kind == "429" and retry_after < 1:
            raise ValueError("retry_after must be at least 1 (clients ignore retry_after=0)")
        if kind == "5xx" and not 500 <= status <= 599:
            raise ValueError("a 5xx fault needs a status between 500 and 599")
        if delay < 0:
            raise ValueError("delay cannot be negative")
        name = self._methods[key][0] if key != "*" else "*"
        self._faults.setdefault(key, deque()).append(
            _Fault(name, kind, count, retry_after, delay, status, description))

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        self._faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The faults still armed, in the order they will fire per method."""
        return [f.as_json() for queue in self._faults.values() for f in queue]

    def _take_fault(self, key: str) -> _Fault | None:
        for queue_key in (key, "*"):
            queue = self._faults.get(queue_key)
            if queue:
                fault = queue[0]
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        queue.popleft()
                return fault
        return None

    # ----------------------------------------------------------------- webhook

    def webhook_info(self) -> dict[str, Any]:
        """The WebhookInfo object getWebhookInfo returns."""
        info: dict[str, Any] = {"url": self._webhook.url if self._webhook else "",
                                "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self._last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._last_error
        if self._webhook is not None:
            info["max_connections"] = self._webhook.max_connections
        if self._allowed_updates is not None:
            info["allowed_updates"] = list(self._allowed_updates)
        return info

    async def wait_delivered(self, timeout: float = 5.0) -> None:
        """Wait until the webhook has acknowledged every queued update; TimeoutError otherwise."""
        if self._webhook is None:
            raise RuntimeError("no webhook is set")
        try:
            async with asyncio.timeout(timeout):
                while self._updates or self._in_flight:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{len(self._updates)} update(s) still unacknowledged by the webhook") from None

    async def _restart_delivery(self) -> None:
        await self._stop_delivery()
        if self._webhook is not None and not self._closing:
            self._dispatcher = asyncio.create_task(self._dispatch(self._webhook))

    async def _stop_delivery(self) -> None:
        tasks = [t for t in (self._dispatcher, *self._deliveries) if t is not None]
        self._dispatcher = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._deliveries.clear()
        self._in_flight.clear()

    async def _dispatch(self, hook: _Webhook) -> None:
        slots = asyncio.Semaphore(hook.max_connections)
        while True:
            changed = self._changed
            for update in list(self._updates):
                update_id = update["update_id"]
                if update_id not in self._in_flight:
                    self._in_flight.add(update_id)
                    task = asyncio.create_task(self._deliver(hook, update, slots))
                    self._deliveries.add(task)
                    task.add_done_callback(self._deliveries.discard)
            await changed.wait()

    async def _deliver(self, hook: _Webhook, update: dict[str, Any], slots: asyncio.Semaphore) -> None:
        assert self._session is not None
        update_id = update["update_id"]
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        # The slot is held across retries: an unacknowledged update occupies a connection,
        # so with max_connections=1 a failing update holds back the later ones, as on Telegram.
        async with slots:
            while True:
                try:
                    async with self._session.post(hook.url, json=update, headers=headers, timeout=timeout) as resp:
                        await resp.read()
                        if 200 <= resp.status < 300:
                            self.webhook_acked_update_ids.append(update_id)
                            self._updates = [u for u in self._updates if u["update_id"] != update_id]
                            self._in_flight.discard(update_id)
                            self._notify()
                            return
                        error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
                except TimeoutError:
                    error = "Read timeout expired"
                except aiohttp.ClientConnectorError:
                    error = "Connection refused"
                except aiohttp.ClientError as err:
                    error = f"Connection error: {err.__class__.__name__}"
                self._last_error = (int(time.time()), error)
                logger.info("webhook delivery of update %s failed: %s", update_id, error)
                self._notify()
                await asyncio.sleep(self.webhook_retry_delay)

    # ----------------------------------------------------------------- update queue

    def _queue(self, update: dict[str, Any]) -> dict[str, Any]:
        if "update_id" not in update:
            update = {"update_id": self._next_update_id, **update}
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        kind = next(key for key in update if key != "update_id")
        if self._allowed_updates is None:
            wanted = kind not in _DEFAULT_EXCLUDED_UPDATES
        else:
            wanted = kind in self._allowed_updates
        # Telegram does not create updates of kinds the bot opted out of.
        if wanted:
            self._updates.append(copy.deepcopy(update))
            self._notify()
        return update

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _set_allowed_updates(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad("can't parse allowed updates")
        self._allowed_updates = list(value) or None

    # ----------------------------------------------------------------- Bot API over HTTP

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        entry = self._methods.get(method.lower())
        try:
            params = await _read_params(request)
        except _ApiError as err:
            self.requests.append(ApiCall(entry[0] if entry else method, {}, time.monotonic()))
            return err.response()
        self.requests.append(ApiCall(entry[0] if entry else method, params, time.monotonic()))
        if request.match_info["token"] != self.token:
            return _ApiError(401, "Unauthorized").response()
        if entry is None:
            return _ApiError(404, "Not Found: method not found").response()
        name, handler = entry
        fault = self._take_fault(name.lower())
        if fault is not None:
            logger.info("sandbox fault %s on %s", fault.kind, name)
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "drop":
                return _drop(request)
            elif fault.kind == "429":
                return _ApiError(429, fault.description or f"Too Many Requests: retry after {fault.retry_after}",
                                 {"retry_after": fault.retry_after}).response()
            elif fault.kind == "5xx":
                return _ApiError(fault.status, fault.description or _FIVE_XX_PHRASES.get(fault.status, "Server Error")
                                 ).response()
            elif fault.kind == "403":
                return _ApiError(403, fault.description or "Forbidden: bot was blocked by the user").response()
        try:
            outcome = await handler(params)
        except _ApiError as err:
            return err.response()
        if fault is not None and fault.kind == "drop_after":
            return _drop(request)
        body: dict[str, Any] = {"ok": True}
        if isinstance(outcome, _Ok):
            body["result"] = outcome.result
            if outcome.description:
                body["description"] = outcome.description
        else:
            body["result"] = outcome
        return web.json_response(body)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._file_paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.content(), content_type="application/octet-stream")

    async def _api_get_me(self, p: dict[str, Any]) -> Any:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    async def _api_get_updates(self, p: dict[str, Any]) -> Any:
        if self._webhook is not None:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                 "use deleteWebhook to delete the webhook first")
        offset = _int(p, "offset", 0)
        limit = min(max(_int(p, "limit", 100), 1), 100)
        timeout = max(_float(p, "timeout", 0.0), 0.0)
        self._set_allowed_updates(p.get("allowed_updates"))
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        # Like Telegram, a newer getUpdates terminates one still waiting (two pollers on one token).
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            if self._webhook is not None:
                raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                     "use deleteWebhook to delete the webhook first")
            if generation != self._poll_generation:
                raise _ApiError(409, "Conflict: terminated by other getUpdates request; "
                                     "make sure that only one bot instance is running")
            batch = [u for u in self._updates if u["update_id"] >= offset][:limit]
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return copy.deepcopy(batch)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    async def _api_set_webhook(self, p: dict[str, Any]) -> Any:
        url = p.get("url")
        if url is None:
            raise _bad("url is empty")
        if not isinstance(url, str):
            raise _bad("bad webhook: invalid URL")
        if url == "":
            return await self._api_delete_webhook(p)
        if not _WEBHOOK_URL_RE.match(url):
            raise _bad("bad webhook: Failed to resolve host: invalid URL")
        secret = p.get("secret_token")
        if secret is not None and (not isinstance(secret, str) or not _SECRET_RE.match(secret)):
            raise _bad("secret token contains unallowed characters")
        max_connections = _int(p, "max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise _bad("max_connections must be between 1 and 100")
        self._set_allowed_updates(p.get("allowed_updates"))
        if _bool(p, "drop_pending_updates"):
            self._updates.clear()
        self._webhook = _Webhook(url, secret or None, max_connections)
        self._last_error = None
        self._notify()  # a waiting getUpdates must now answer 409
        await self._restart_delivery()
        return _Ok(True, "Webhook was set")

    async def _api_delete_webhook(self, p: dict[str, Any]) -> Any:
        if _bool(p, "drop_pending_updates"):
            self._updates.clear()
        if self._webhook is None:
            return _Ok(True, "Webhook is already deleted")
        self._webhook = None
        self._last_error = None
        await self._restart_delivery()
        self._notify()
        return _Ok(True, "Webhook was deleted")

    async def _api_get_webhook_info(self, p: dict[str, Any]) -> Any:
        return self.webhook_info()

    async def _api_send_message(self, p: dict[str, Any]) -> Any:
        chat = self._chat_for_bot(p)
        raw_text = p.get("text")
        if raw_text is None:
            raise _bad("message text is empty")
        if not isinstance(raw_text, str):
            raw_text = json.dumps(raw_text)
        text = _render(raw_text, p.get("parse_mode")).strip()
        if not text:
            raise _bad("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        reply_to, quote = self._reply_target(chat, p)
        message: dict[str, Any] = {"message_id": chat.next_message_id(), "from": self.bot_user,
                                   "chat": chat.as_json(), "date": int(time.time())}
        if chat.type == "channel":
            message["sender_chat"] = chat.as_json()
        if reply_to is not None:
            message["reply_to_message"] = _without_reply(reply_to)
        if quote is not None:
            message["quote"] = quote
        message["text"] = text
        chat.messages[message["message_id"]] = message
        self._sent.append(message)
        self._notify()
        return copy.deepcopy(message)

    async def _api_send_chat_action(self, p: dict[str, Any]) -> Any:
        self._chat_for_bot(p)
        if p.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    async def _api_get_file(self, p: dict[str, Any]) -> Any:
        file_id = p.get("file_id")
        if not file_id:
            raise _bad("file_id is empty")
        stored = self._files.get(str(file_id))
        if stored is None:
            raise _bad("invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": stored.size, "file_path": stored.file_path}

    def _chat_for_bot(self, p: dict[str, Any]) -> _Chat:
        raw = p.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        chat: _Chat | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self._chats.values()
                         if c.type != "private" and c.username and f"@{c.username}".lower() == raw.lower()), None)
        else:
            try:
                chat = self._chats.get(int(raw))
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise _bad("chat not found")
        if chat.blocked:
            raise _ApiError(403, {
                "private": "Forbidden: bot was blocked by the user",
                "group": "Forbidden: bot was kicked from the group chat",
                "supergroup": "Forbidden: bot was kicked from the supergroup chat",
                "channel": "Forbidden: bot is not a member of the channel chat",
            }[chat.type])
        return chat

    def _reply_target(self, chat: _Chat, p: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        params = p.get("reply_parameters")
        if params is None and p.get("reply_to_message_id") is not None:
            params = {"message_id": p["reply_to_message_id"],
                      "allow_sending_without_reply": p.get("allow_sending_without_reply", False)}
        if params is None:
            return None, None
        if not isinstance(params, dict) or not isinstance(params.get("message_id"), int):
            raise _bad("can't parse reply parameters JSON object")
        if params.get("chat_id") not in (None, chat.id):
            raise _bad("sandbox: replies to messages of other chats are not simulated")
        target = chat.messages.get(params["message_id"])
        if target is None:
            if params.get("allow_sending_without_reply") in (True, "true"):
                return None, None
            raise _bad("message to be replied not found")
        quote = params.get("quote")
        if quote is None:
            return target, None
        source = target.get("text") or target.get("caption") or ""
        position = source.find(quote) if isinstance(quote, str) and quote else -1
        if position < 0:
            raise _bad("QUOTE_TEXT_INVALID")
        return target, {"text": quote, "position": _utf16_len(source[:position]), "is_manual": True}

    # ----------------------------------------------------------------- control API over HTTP

    async def _ctl_write(self, request: web.Request) -> web.Response:
        chat_id = _path_chat_id(request)
        body = await _json_body(request)
        _check_fields(body, _WRITE_FIELDS)
        kwargs = dict(body)
        if isinstance(kwargs.get("location"), list):
            kwargs["location"] = tuple(kwargs["location"])
        return _ctl_call(lambda: self.customer_writes(chat_id, **kwargs))

    async def _ctl_edit(self, request: web.Request) -> web.Response:
        chat_id = _path_chat_id(request)
        body = await _json_body(request)
        _check_fields(body, {"message_id": (int,), "text": (str,)}, required=("message_id", "text"))
        return _ctl_call(lambda: self.customer_edits(chat_id, body["message_id"], body["text"]))

    async def _ctl_block(self, request: web.Request) -> web.Response:
        chat_id = _path_chat_id(request)
        return _ctl_call(lambda: self.customer_blocks(chat_id))

    async def _ctl_unblock(self, request: web.Request) -> web.Response:
        chat_id = _path_chat_id(request)
        return _ctl_call(lambda: self.customer_unblocks(chat_id))

    async def _ctl_push(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        return _ctl_call(lambda: self.push_update(body))

    async def _ctl_sent(self, request: web.Request) -> web.Response:
        raw = request.query.get("chat_id")
        chat_id: int | None = None
        if raw not in (None, ""):
            try:
                chat_id = int(raw)
            except ValueError:
                raise _ctl_error("chat_id must be an integer") from None
        return web.json_response({"messages": self.sent_messages(chat_id)})

    async def _ctl_add_fault(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        _check_fields(body, _FAULT_FIELDS, required=("method", "kind"))
        kwargs = {k: v for k, v in body.items() if k not in ("method", "kind")}
        try:
            self.inject_fault(body["method"], body["kind"], **kwargs)
        except ValueError as err:
            raise _ctl_error(str(err)) from None
        return web.json_response({"faults": self.faults})

    async def _ctl_clear_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return web.json_response({"faults": []})

    async def _ctl_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary: bot, webhook info, queue, deliveries, sends and faults."""
        return {
            "bot": self.bot_user,
            "webhook": self.webhook_info(),
            "pending_update_count": len(self._updates),
            "in_flight_count": len(self._in_flight),
            "acked_count": len(self.webhook_acked_update_ids),
            "acked_update_ids": list(self.webhook_acked_update_ids),
            "next_update_id": self._next_update_id,
            "sent_count": len(self._sent),
            "request_count": len(self.requests),
            "chats": [{**c.as_json(), "blocked": c.blocked} for c in self._chats.values()],
            "faults": self.faults,
        }

    # ----------------------------------------------------------------- helpers

    def _require_chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise SandboxError(f"chat {chat_id} does not exist yet; a customer must write first")
        return chat

    def _member_change(self, chat: _Chat, old: str, new: str) -> dict[str, Any]:
        actor = chat.last_user or {"id": chat.id if chat.type == "private" else DEFAULT_GROUP_MEMBER_ID,
                                   "is_bot": False, "first_name": chat.first_name or "Customer"}
        new_member: dict[str, Any] = {"user": self.bot_user, "status": new}
        if new == "kicked":
            new_member["until_date"] = 0
        old_member: dict[str, Any] = {"user": self.bot_user, "status": old}
        if old == "kicked":
            old_member["until_date"] = 0
        return {"chat": chat.as_json(), "from": actor, "date": int(time.time()),
                "old_chat_member": old_member, "new_chat_member": new_member}

    def _new_file(self, kind: str, size: int, ext: str, *, content: bytes | None = None,
                  **extra: Any) -> dict[str, Any]:
        number = len(self._files) + 1
        digest = hashlib.sha256(f"{self.token}:{kind}:{number}".encode()).hexdigest()
        file_id = f"{_FILE_ID_PREFIX[kind]}{digest[:40]}"
        unique_id = f"AQAD{digest[40:56]}"
        size = size if content is None else len(content)
        stored = _File(file_id, unique_id, f"{_FILE_FOLDERS[kind]}/file_{number}.{ext}", size, content)
        self._files[file_id] = stored
        self._file_paths[stored.file_path] = stored
        return {"file_id": file_id, "file_unique_id": unique_id, **extra, "file_size": size}

    def _new_document(self, document: str | Mapping[str, Any]) -> dict[str, Any]:
        spec: dict[str, Any] = {"file_name": document} if isinstance(document, str) else dict(document)
        unknown = set(spec) - {"file_name", "mime_type", "file_size", "content"}
        if unknown:
            raise SandboxError(f"unknown document field(s): {sorted(unknown)}")
        file_name = spec.get("file_name")
        if not isinstance(file_name, str) or not file_name:
            raise SandboxError("a document needs a file_name")
        content = spec.get("content")
        if isinstance(content, str):
            content = content.encode()
        if content is not None and not isinstance(content, bytes):
            raise SandboxError("a document's content is text or bytes")
        size = spec.get("file_size", 24_576)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise SandboxError("a document's file_size is a positive integer")
        mime_type = spec.get("mime_type") or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        ext = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        return {**self._new_file("document", size, ext, content=content), "file_name": file_name,
                "mime_type": mime_type}


_FILE_ID_PREFIX = {"photo": "AgACAgQAAxkBAAI", "sticker": "CAACAgIAAxkBAAI", "document": "BQACAgQAAxkBAAI",
                   "voice": "AwACAgQAAxkBAAI"}
_FILE_FOLDERS = {"photo": "photos", "sticker": "stickers", "document": "documents", "voice": "voice"}

_WRITE_FIELDS: dict[str, tuple[type, ...]] = {
    "text": (str, NoneType), "first_name": (str,), "last_name": (str, NoneType), "username": (str, NoneType),
    "language_code": (str, NoneType), "reply_to_message_id": (int, NoneType), "caption": (str, NoneType),
    "photo": (bool,), "sticker": (str, NoneType), "document": (str, dict, NoneType), "voice": (bool, int),
    "location": (list, dict, NoneType), "chat_type": (str,), "date": (int, NoneType), "title": (str, NoneType),
    "user_id": (int, NoneType),
}
_FAULT_FIELDS: dict[str, tuple[type, ...]] = {
    "method": (str,), "kind": (str,), "count": (int, NoneType), "retry_after": (int,),
    "delay": (int, float), "status": (int,), "description": (str, NoneType),
}


async def run_sandbox(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str = DEFAULT_TOKEN,
    *,
    bot_username: str = "acme_care_bot",
    bot_first_name: str = "ACME Care",
    first_update_id: int = 1,
    on_ready: Callable[[TelegramSandbox], None] | None = None,
) -> None:
    """Run a sandbox until cancelled (the `social-care sandbox` entry point); on_ready gets it once bound."""
    sandbox = TelegramSandbox(token, bot_username=bot_username, bot_first_name=bot_first_name, host=host,
                              port=port, first_update_id=first_update_id)
    async with sandbox:
        if on_ready is not None:
            on_ready(sandbox)
        await sandbox.serve_forever()


# --------------------------------------------------------------------- module helpers

async def _read_params(request: web.Request) -> dict[str, Any]:
    raw: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise _bad("can't parse JSON object")
            raw.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                raw[key] = value.filename if isinstance(value, web.FileField) else value
    return {key: _decode(key, value) for key, value in raw.items()}


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    if key == "chat_id":  # an integer id or an "@channelusername"
        return int(value) if _NUMERIC_RE.fullmatch(value) else value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _int(p: dict[str, Any], name: str, default: int) -> int:
    value = p.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise _bad(f"invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _float(p: dict[str, Any], name: str, default: float) -> float:
    value = p.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _bool(p: dict[str, Any], name: str) -> bool:
    value = p.get(name)
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("true", "1"))


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.close()
    # Nothing reaches the client: the transport is closed before aiohttp writes this.
    return web.Response(status=444)


def _without_reply(message: Mapping[str, Any]) -> dict[str, Any]:
    # Telegram never nests reply_to_message more than one level deep.
    return {k: copy.deepcopy(v) for k, v in message.items() if k not in ("reply_to_message", "quote")}


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _add_command_entity(message: dict[str, Any], text_key: str, entities_key: str) -> None:
    match = _COMMAND_RE.match(message.get(text_key, ""))
    if match:
        message[entities_key] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(match.group(0))}]


def _location(value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        pair = (value.get("latitude"), value.get("longitude"))
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (value[0], value[1])
    else:
        raise SandboxError("location is (latitude, longitude) or {latitude, longitude}")
    numbers = [float(v) for v in pair if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) != 2:
        raise SandboxError("latitude and longitude are numbers")
    lat, lon = numbers
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise SandboxError("latitude is within ±90 and longitude within ±180")
    return {"latitude": lat, "longitude": lon}


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _entity_error(detail: str) -> _ApiError:
    return _bad(f"can't parse entities: {detail}")


def _render(text: str, parse_mode: Any) -> str:
    """Turn formatted text into the plain text Telegram stores, raising its parse errors."""
    if parse_mode in (None, ""):
        return text
    mode = str(parse_mode).lower()
    if mode == "html":
        return _render_html(text)
    if mode == "markdownv2":
        return _render_markdown(text, v2=True)
    if mode == "markdown":
        return _render_markdown(text, v2=False)
    raise _bad(f"unsupported parse_mode \"{parse_mode}\"")


def _render_html(text: str) -> str:
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        if text[i] != "<":
            out.append(text[i])
            i += 1
            continue
        match = _HTML_TAG_RE.match(text, i)
        if match is None:
            raise _entity_error(f"Unclosed start tag at byte offset {_byte_offset(text, i)}")
        closing, tag = match.group(1) == "/", match.group(2).lower()
        if tag not in _HTML_TAGS:
            which = "end" if closing else "start"
            raise _entity_error(f"Unsupported {which} tag \"{tag}\" at byte offset {_byte_offset(text, i)}")
        if closing:
            if not stack or stack[-1][0] != tag:
                raise _entity_error(f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                                    f"expected \"</{stack[-1][0] if stack else ''}>\", found \"</{tag}>\"")
            stack.pop()
        else:
            stack.append((tag, i))
        i = match.end()
    if stack:
        raise _entity_error(f"Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    return html.unescape("".join(out))


def _render_markdown(text: str, *, v2: bool) -> str:
    markers = _MDV2_MARKERS if v2 else ("```", "*", "_", "`")
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    code: tuple[str, int] | None = None
    link_start: int | None = None
    i = 0
    line_start = True
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and (v2 or text[i + 1] in "_*`["):
            out.append(text[i + 1])
            i += 2
            line_start = False
            continue
        if code is not None:
            if text.startswith(code[0], i):
                i += len(code[0])
                code = None
            else:
                out.append(char)
                i += 1
            continue
        if text.startswith("```", i):
            code = ("```", i)
            i += 3
            language = _PRE_LANGUAGE_RE.match(text, i)
            if language:
                i = language.end()
            continue
        marker = next((m for m in markers if m != "```" and text.startswith(m, i)), None)
        if marker == "`":
            code = ("`", i)
            i += 1
            continue
        if marker is not None:
            if stack and stack[-1][0] == marker:
                stack.pop()
            elif any(m == marker for m, _ in stack):
                raise _entity_error(f"Can't find end of the entity starting at byte offset "
                                    f"{_byte_offset(text, stack[-1][1])}")
            else:
                stack.append((marker, i))
            i += len(marker)
            continue
        if char == "[":
            if link_start is not None:
                raise _entity_error("Character '[' is reserved and must be escaped with the preceding '\\'")
            link_start = i
            i += 1
            continue
        if char == "]" and link_start is not None:
            url = _LINK_URL_RE.match(text, i + 1)
            if url is None:
                raise _entity_error(f"Can't find end of a url at byte offset {_byte_offset(text, i)}")
            link_start = None
            i = url.end()
            continue
        if v2 and char == ">" and line_start:
            i += 1
            continue
        if v2 and char in _MDV2_RESERVED:
            raise _entity_error(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
        out.append(char)
        line_start = char == "\n"
        i += 1
    pending = code or (stack[-1] if stack else None) or (("[", link_start) if link_start is not None else None)
    if pending is not None:
        raise _entity_error(f"Can't find end of the entity starting at byte offset {_byte_offset(text, pending[1])}")
    return "".join(out)


def _path_chat_id(request: web.Request) -> int:
    try:
        return int(request.match_info["chat_id"])
    except ValueError:
        raise _ctl_error("chat_id in the path must be an integer") from None


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
                  required: tuple[str, ...] = ()) -> None:
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
