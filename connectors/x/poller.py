"""Polling mentions and DMs with tweepy's AsyncClient, within each endpoint's rate-limit budget.

Restart safety: every page is stored as it arrives, and the cursor moves only with the last page of a
cycle, in the same transaction. A process killed in the middle of paging keeps its old cursor, so the
next cycle fetches the same pages again; the pages already stored are duplicates that dedup drops.
Nothing is skipped, nothing is stored twice, and no page token (which X may expire) is persisted.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from tweepy import (
    BadRequest,
    Forbidden,
    HTTPException,
    NotFound,
    TooManyRequests,
    TwitterServerError,
    Unauthorized,
)
from tweepy.asynchronous import AsyncClient

from connectors.base import CursorSource, IngestSink
from connectors.x.budget import Backoff, RateBudget
from connectors.x.parse import (
    PLATFORM,
    Page,
    ParseContext,
    parse_dm_events_page,
    parse_mentions_page,
)
from social_care.domain import CursorUpdate, InboundMessage
from social_care.errors import PayloadError

logger = logging.getLogger(__name__)

MENTIONS = "mentions"
DM_EVENTS = "dm_events"
MENTIONS_CURSOR = "mentions_since_id"
DM_CURSOR = "dm_newest_id"

TWEET_FIELDS = ["id", "text", "author_id", "conversation_id", "created_at", "in_reply_to_user_id",
                "referenced_tweets", "attachments", "edit_history_tweet_ids", "note_tweet"]
USER_FIELDS = ["id", "name", "username", "public_metrics", "verified"]
MENTION_EXPANSIONS = ["author_id", "referenced_tweets.id"]
DM_EVENT_FIELDS = ["id", "text", "event_type", "sender_id", "dm_conversation_id", "created_at", "attachments"]
DM_EXPANSIONS = ["sender_id"]

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What one polling cycle did: requests made, records handed to ingest, and the cursor it stored."""

    requests: int
    records: int
    ignored: int
    failed: int
    cursor: str | None


class PollingStopped(Exception):
    """X refused the endpoint for good (credentials, permissions, tier); retrying will not help."""


class XPoller:
    """Two independent loops, mentions and DMs, each paced by its own RateBudget."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        ctx: ParseContext,
        ingest: IngestSink,
        cursors: CursorSource,
        budgets: Mapping[str, RateBudget],
        poll_mentions: bool = True,
        poll_dms: bool = True,
        mentions_user_auth: bool = False,
        page_size: int = 100,
        first_run_pages: int = 1,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        store_backoff: Backoff | None = None,
    ) -> None:
        if not 5 <= page_size <= 100:
            raise ValueError("page_size must be 5..100 (the mentions endpoint's max_results range)")
        self.client = client
        self.ctx = ctx
        self.ingest = ingest
        self.cursors = cursors
        self.budgets = budgets
        self.enabled = {MENTIONS: poll_mentions, DM_EVENTS: poll_dms}
        self.mentions_user_auth = mentions_user_auth
        self.page_size = page_size
        # Without a cursor (first start) only the newest page is read: older history is not imported.
        self.first_run_pages = first_run_pages
        self.clock = clock
        self.sleep = sleep
        self.store_backoff = store_backoff or Backoff()
        self.stopped: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def key(self) -> str:
        return self.ctx.channel_key

    @property
    def running(self) -> bool:
        """Whether any polling loop is alive."""
        return any(not task.done() for task in self._tasks.values())

    def start(self) -> None:
        """Start the enabled loops as tasks on the running event loop."""
        if self.running:
            raise RuntimeError("poller already running")
        cycles = {MENTIONS: self.poll_mentions, DM_EVENTS: self.poll_dms}
        for name, cycle in cycles.items():
            if self.enabled[name]:
                self._tasks[name] = asyncio.create_task(self._loop(name, cycle), name=f"x-{name}-{self.key}")

    async def stop(self) -> None:
        """Cancel the loops and wait for them; a page being stored is committed or rolled back whole."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise

    def status(self) -> dict[str, Any]:
        """Per loop: running, or the reason it stopped."""
        state: dict[str, Any] = {}
        for name, enabled in self.enabled.items():
            task = self._tasks.get(name)
            if not enabled:
                state[name] = "disabled"
            elif name in self.stopped:
                state[name] = f"stopped: {self.stopped[name]}"
            else:
                state[name] = "running" if task is not None and not task.done() else "idle"
        return state

    async def _loop(self, name: str, cycle: Callable[[], Awaitable[CycleResult]]) -> None:
        budget = self.budgets[name]
        while True:
            try:
                await cycle()
            except PollingStopped as err:
                self.stopped[name] = str(err)
                logger.error("x %s: %s polling stopped: %s", self.key, name, err)
                return
            except _PlatformFailure as err:
                # The budget already holds the wait (reset after a 429, backoff otherwise); a failure
                # it has not seen still backs off, so no path retries at once.
                delay = budget.blocked_for(self.clock()) or budget.on_failure(self.clock())
                logger.warning("x %s: %s poll failed (%s); next try in %.1fs", self.key, name, err, delay)
                await self.sleep(delay)
                continue
            except Exception:
                delay = self.store_backoff.next_delay()
                logger.exception("x %s: %s poll could not be stored; retrying in %.1fs", self.key, name, delay)
                await self.sleep(delay)
                continue
            self.store_backoff.reset()
            await self.sleep(budget.next_delay(self.clock()))

    async def poll_mentions(self) -> CycleResult:
        """One mentions cycle: from the stored since_id, through every page, then the cursor."""
        since_id = await self._cursor(MENTIONS_CURSOR)

        async def fetch(token: str | None) -> Mapping[str, Any]:
            return await self._call(MENTIONS, lambda: self.client.get_users_mentions(
                self.ctx.brand_id,
                since_id=since_id,
                pagination_token=token,
                max_results=self.page_size,
                expansions=MENTION_EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
                user_auth=self.mentions_user_auth,
            ))

        # since_id already limits the answer to new tweets; paging stops when X has no next page.
        return await self._cycle(MENTIONS, MENTIONS_CURSOR, since_id, fetch, parse_mentions_page, stop_at_known=False)

    async def poll_dms(self) -> CycleResult:
        """One DM cycle: newest first, paging until an event id at or below the stored newest one."""
        newest = await self._cursor(DM_CURSOR)

        async def fetch(token: str | None) -> Mapping[str, Any]:
            return await self._call(DM_EVENTS, lambda: self.client.get_direct_message_events(
                dm_event_fields=DM_EVENT_FIELDS,
                event_types=["MessageCreate"],
                expansions=DM_EXPANSIONS,
                user_fields=USER_FIELDS,
                max_results=self.page_size,
                pagination_token=token,
                user_auth=True,
            ))

        # /2/dm_events has no since_id (https://docs.x.com/x-api/direct-messages/lookup/introduction).
        return await self._cycle(DM_EVENTS, DM_CURSOR, newest, fetch, parse_dm_events_page, stop_at_known=True)

    async def _cycle(
        self,
        endpoint: str,
        cursor_name: str,
        known: int | None,
        fetch: Callable[[str | None], Awaitable[Mapping[str, Any]]],
        parse: Callable[[Mapping[str, Any], ParseContext], Page],
        *,
        stop_at_known: bool,
    ) -> CycleResult:
        token: str | None = None
        seen_tokens: set[str] = set()
        first_newest: int | None = None
        pages = records = ignored = failed = 0
        while True:
            body = await fetch(token)
            try:
                page = parse(body, self.ctx)
            except PayloadError as err:
                self.budgets[endpoint].on_failure(self.clock())
                raise _PlatformFailure(f"malformed {endpoint} page: {err}") from err
            pages += 1
            if pages == 1:
                first_newest = page.newest_id
            for failure in page.failed:
                logger.error("x %s: %s: skipping a malformed item: %s", self.key, endpoint, failure)
            new = list(page.records)
            if stop_at_known and known is not None:
                # Known events are on the page too; dedup would drop them, but skipping them here
                # spares the store a write per event and per cycle.
                new = [r for r in new if _numeric_id(r) > known]
            reached_known = stop_at_known and known is not None and any(i <= known for i in page.ids)
            last = (
                page.next_token is None
                or reached_known
                or (known is None and pages >= self.first_run_pages)
            )
            cursor = None
            if last and first_newest is not None and (known is None or first_newest > known):
                cursor = CursorUpdate(PLATFORM, self.key, cursor_name, str(first_newest))
            if new or cursor is not None:
                await self.ingest(new, cursor=cursor)
            records += len(new)
            ignored += len(page.ignored)
            failed += len(page.failed)
            if last:
                result = CycleResult(pages, records, ignored, failed, cursor.value if cursor else None)
                log = logger.info if records or failed else logger.debug
                log("x %s: %s cycle: %d requests, %d records, %d ignored, %d malformed, cursor %s",
                    self.key, endpoint, pages, records, ignored, failed, result.cursor or "unchanged")
                return result
            assert page.next_token is not None
            if page.next_token in seen_tokens:
                raise _PlatformFailure(f"{endpoint} returned a page token twice")
            seen_tokens.add(page.next_token)
            token = page.next_token

    async def _call(self, endpoint: str, request: Callable[[], Awaitable[Any]]) -> Mapping[str, Any]:
        """One request within the endpoint's budget; records its headers, 429s and failures."""
        budget = self.budgets[endpoint]
        wait = budget.blocked_for(self.clock())
        if wait > 0:
            # Also mid-paging: a window spent by the pages before waits for its reset.
            await self.sleep(wait)
        try:
            response = await request()
            budget.observe(response.headers, self.clock())
            body = await response.json()
        except TooManyRequests as err:
            wait = budget.on_rate_limited(err.response.headers, self.clock())
            raise _PlatformFailure(f"429 rate limited, waiting {wait:.1f}s") from err
        except (Unauthorized, Forbidden, NotFound) as err:
            budget.on_failure(self.clock())
            messages = "; ".join(str(m) for m in err.api_messages) or type(err).__name__
            raise PollingStopped(f"X answered {err.response.status} on {endpoint}: {messages}") from err
        except (BadRequest, TwitterServerError, HTTPException) as err:
            budget.on_failure(self.clock())
            raise _PlatformFailure(f"HTTP {err.response.status}") from err
        except (TimeoutError, aiohttp.ClientError) as err:
            budget.on_failure(self.clock())
            raise _PlatformFailure(type(err).__name__) from err
        if not isinstance(body, Mapping):
            budget.on_failure(self.clock())
            raise _PlatformFailure(f"{endpoint} answer is not a JSON object")
        return body

    async def _cursor(self, name: str) -> int | None:
        value = await self.cursors(PLATFORM, self.key, name)
        if value is None:
            return None
        if not value.isdigit():
            logger.error("x %s: stored cursor %s=%r is not an id; reading from the newest page", self.key, name, value)
            return None
        return int(value)


class _PlatformFailure(Exception):
    """A failed request whose wait the endpoint's budget already decided (429, 5xx, timeout...)."""


def _numeric_id(record: InboundMessage) -> int:
    tail = record.source_id.rsplit(":", 1)[-1]
    if not tail.isdigit():
        raise PayloadError(f"record {record.source_id} has no numeric id")
    return int(tail)
