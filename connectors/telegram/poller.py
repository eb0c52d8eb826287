"""Our own getUpdates loop: a batch and the next offset are stored in one transaction, then confirmed."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Bot
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from connectors.base import CursorSource, IngestSink
from connectors.telegram.parse import PLATFORM, allowed_updates, parse_update
from connectors.telegram.send import retry_after_seconds
from social_care.backoff import Backoff
from social_care.domain import CursorUpdate, Inbound

logger = logging.getLogger(__name__)

CURSOR_NAME = "offset"
DEFAULT_POLL_TIMEOUT = 25


@dataclass(frozen=True, slots=True)
class Batch:
    """The records of one getUpdates answer and the offset that confirms it."""

    records: tuple[Inbound, ...]
    next_offset: int | None
    stored: int
    ignored: int
    failed: int


def parse_batch(
    updates: Sequence[Mapping[str, Any]], *, channel_key: str, include_groups: bool = False
) -> Batch:
    """Parse every update of a batch; one malformed update is logged and skipped, not fatal."""
    records: list[Inbound] = []
    last_id: int | None = None
    ignored = failed = 0
    for update in updates:
        update_id = update.get("update_id") if isinstance(update, Mapping) else None
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            last_id = update_id if last_id is None else max(last_id, update_id)
        try:
            parsed = parse_update(update, channel_key=channel_key, include_groups=include_groups)
        except Exception:
            failed += 1
            logger.exception("telegram %s: skipping update %s that could not be parsed", channel_key, update_id)
            continue
        if parsed.ignored is not None:
            ignored += 1
            logger.info("telegram %s: update %s ignored: %s", channel_key, parsed.update_id, parsed.ignored)
        records.extend(parsed.records)
    return Batch(
        records=tuple(records),
        next_offset=None if last_id is None else last_id + 1,
        stored=len(records),
        ignored=ignored,
        failed=failed,
    )


class TelegramPoller:
    """Long-polls getUpdates and ingests each batch together with its offset (at-least-once)."""

    def __init__(
        self,
        bot: Bot,
        *,
        channel_key: str,
        ingest: IngestSink,
        cursors: CursorSource,
        include_groups: bool = False,
        poll_timeout: int = DEFAULT_POLL_TIMEOUT,
        backoff: Backoff | None = None,
    ) -> None:
        if poll_timeout < 1:
            raise ValueError("poll_timeout must be at least 1 second (0 would busy-poll Telegram)")
        self.bot = bot
        self.channel_key = channel_key
        self.ingest = ingest
        self.cursors = cursors
        self.include_groups = include_groups
        self.poll_timeout = poll_timeout
        self.backoff = backoff or Backoff()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the polling task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task[None]:
        """Start the loop as a task on the running event loop."""
        if self.running:
            raise RuntimeError("poller already running")
        self._task = asyncio.create_task(self.run(), name=f"telegram-poller-{self.channel_key}")
        return self._task

    async def stop(self) -> None:
        """Cancel the loop and wait for it; a batch being stored is rolled back or committed whole."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def run(self) -> None:
        """Poll until cancelled or until Telegram rejects the token."""
        offset = await self._stored_offset()
        logger.info("telegram %s: polling from offset %s", self.channel_key, offset)
        while True:
            try:
                updates = await self._fetch(offset)
            except Exception as err:
                delay = self._delay_after(err)
                if delay is None:
                    return
                await asyncio.sleep(delay)
                continue
            if not updates:
                self.backoff.reset()
                continue
            batch = parse_batch(updates, channel_key=self.channel_key, include_groups=self.include_groups)
            if batch.next_offset is None:
                delay = self.backoff.next_delay()
                logger.error("telegram %s: getUpdates answer without update ids; retrying in %.1fs",
                             self.channel_key, delay)
                await asyncio.sleep(delay)
                continue
            cursor = CursorUpdate(PLATFORM, self.channel_key, CURSOR_NAME, str(batch.next_offset))
            try:
                await self.ingest(batch.records, cursor=cursor)
            except Exception:
                # Nothing was stored and the offset did not move: Telegram serves the batch again.
                delay = self.backoff.next_delay()
                logger.exception("telegram %s: could not store updates before offset %s; retrying in %.1fs",
                                 self.channel_key, batch.next_offset, delay)
                await asyncio.sleep(delay)
                continue
            # Only now may the next getUpdates confirm this batch to Telegram.
            offset = batch.next_offset
            self.backoff.reset()
            logger.info("telegram %s: stored %d records from %d updates (%d ignored, %d unparsable), offset %s",
                        self.channel_key, batch.stored, len(updates), batch.ignored, batch.failed, offset)

    def _delay_after(self, err: Exception) -> float | None:
        """Log a failed getUpdates and say how long to wait; None when polling must stop."""
        key = self.channel_key
        if isinstance(err, RetryAfter):
            delay = retry_after_seconds(err)
            logger.warning("telegram %s: getUpdates rate limited, waiting %.1fs", key, delay)
            return delay
        if isinstance(err, InvalidToken | Forbidden):
            logger.error("telegram %s: polling stopped, Telegram rejected the bot token (%s)", key, type(err).__name__)
            return None
        delay = self.backoff.next_delay()
        if isinstance(err, Conflict):
            logger.error("telegram %s: getUpdates conflict (a webhook is set or another poller runs with this "
                         "token); retrying in %.1fs", key, delay)
        elif isinstance(err, BadRequest):
            logger.error("telegram %s: getUpdates rejected (%s); retrying in %.1fs", key, err.message, delay)
        elif isinstance(err, NetworkError):
            logger.warning("telegram %s: getUpdates failed (%s); retrying in %.1fs", key, type(err).__name__, delay)
        else:
            logger.error("telegram %s: getUpdates failed; retrying in %.1fs", key, delay, exc_info=err)
        return delay

    async def _stored_offset(self) -> int | None:
        while True:
            try:
                value = await self.cursors(PLATFORM, self.channel_key, CURSOR_NAME)
            except Exception:
                delay = self.backoff.next_delay()
                logger.exception("telegram %s: could not read the stored offset; retrying in %.1fs",
                                 self.channel_key, delay)
                await asyncio.sleep(delay)
                continue
            self.backoff.reset()
            if value is None:
                return None
            try:
                return int(value)
            except ValueError:
                logger.error("telegram %s: stored offset %r is not an integer; starting from the oldest "
                             "unconfirmed update", self.channel_key, value)
                return None

    async def _fetch(self, offset: int | None) -> list[Mapping[str, Any]]:
        kinds = allowed_updates(include_groups=self.include_groups)
        try:
            updates = await self.bot.get_updates(offset=offset, timeout=self.poll_timeout, allowed_updates=kinds)
        except TelegramError:
            raise
        except Exception:
            # PTB could not de-serialise the batch (e.g. one update it does not understand). Fetch
            # it raw so that update is skipped by our parser instead of stalling the loop forever.
            logger.warning("telegram %s: python-telegram-bot could not decode a batch; fetching it raw",
                           self.channel_key)
            raw = await self.bot.do_api_request(
                "getUpdates",
                api_kwargs={"offset": offset, "timeout": 0, "allowed_updates": kinds},
                return_type=None,
            )
            if not isinstance(raw, list):
                raise
            return raw
        # to_json, not to_dict: plain JSON types (to_dict keeps PTB enums) for parse and `raw`.
        return [json.loads(update.to_json()) for update in updates]
