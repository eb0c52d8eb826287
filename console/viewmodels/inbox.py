"""The inbox: filters, one page of rows ready to render, the keyboard cursor, and arrival alerts."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import param

from connectors import PLATFORMS
from console.context import ConsoleContext, SessionAgent
from console.format import flags, iso, one_line, sentiment_label
from console.i18n import Translator
from console.queries import SCOPES, STATUSES, InboxItem, InboxQuery, inbox_page, urgent_among
from triage.corrections import CORRECTED_QUEUE

PAGE_SIZE = 50


class InboxModel(param.Parameterized):
    """One agent's view of the queue."""

    scope: param.Selector = param.Selector(objects=list(SCOPES), default="all")
    status: param.Selector = param.Selector(objects=list(STATUSES), default="open")
    platform = param.String(default="")
    queue = param.String(default="")
    priority = param.Integer(default=0, bounds=(0, 4))
    search = param.String(default="")
    page = param.Integer(default=1, bounds=(1, None))

    rows = param.List(default=[], doc="the current page, as plain dicts for the view")
    total = param.Integer(default=0)
    cursor = param.Integer(default=0, doc="index of the row the keyboard points at (derived from cursor_id)")
    cursor_id = param.Integer(default=None, allow_None=True,
                              doc="the conversation the keyboard points at: rows arriving above do not move it")
    open_id = param.Integer(default=None, allow_None=True, doc="the conversation shown beside the list")

    def __init__(self, context: ConsoleContext, agent: SessionAgent, t: Translator, **params: Any) -> None:
        super().__init__(**params)
        self.context = context
        self.agent = agent
        self.t = t
        self._items: list[InboxItem] = []
        self._alerted: set[int] = set()
        self.pinned_queue: str | None = None  # a page that shows one queue only (marketing) alerts only for it

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / PAGE_SIZE))

    def query(self) -> InboxQuery:
        return InboxQuery(
            agent_id=self.agent.id,
            scope=self.scope,
            status=self.status,
            platform=self.platform or None,
            queue=self.queue or None,
            priority=self.priority or None,
            search=self.search.strip() or None,
            visible_queues=self.agent.visible_queues,
        )

    async def refresh(self) -> None:
        """Reload the current page from the store."""
        query, offset, now = self.query(), (self.page - 1) * PAGE_SIZE, self.context.now()

        async def load() -> tuple[list[InboxItem], int]:
            async with self.context.db.read() as session:
                return await inbox_page(session, query, now=now, limit=PAGE_SIZE, offset=offset)

        if self.context.pages is None:
            items, total = await load()
        else:
            # Only "mine" depends on who asks; everything else is shared by agents of the same role.
            shared = query if query.scope == "mine" else replace(query, agent_id=0)
            items, total = await self.context.pages.get((shared, offset), load)
        if not items and total and self.page > 1:
            self.page = max(1, math.ceil(total / PAGE_SIZE))
            return await self.refresh()
        self._items = items
        self.total = total
        self._alerted.update(item.id for item in items if item.priority == 1)
        self.render()

    async def set_filters(self, **values: Any) -> None:
        """Change filters and go back to the first page."""
        self.param.update(page=1, cursor=0, cursor_id=None, **values)
        await self.refresh()

    async def go_to_page(self, page: int) -> None:
        self.param.update(page=min(max(1, page), self.pages), cursor=0, cursor_id=None)
        await self.refresh()

    def render(self) -> None:
        """Rebuild the row dicts (also after presence changes, without touching the store)."""
        viewers = self.context.presence.viewers_of([item.id for item in self._items])
        rows = [self._row(item, viewers.get(item.id, [])) for item in self._items]
        index = next((i for i, row in enumerate(rows) if row["id"] == self.cursor_id), None)
        if index is None:  # the conversation left this page: stay at the same height
            index = min(self.cursor, max(0, len(rows) - 1))
        # One update: the view never sees new rows with the old index (a row arriving above would shift it).
        self.param.update(rows=rows, cursor=index, cursor_id=rows[index]["id"] if rows else None)

    def _row(self, item: InboxItem, viewers: list[str]) -> dict[str, Any]:
        t = self.t
        mood = sentiment_label(item.sentiment, item.last_sentiment_label)
        info = PLATFORMS.get(item.platform)
        return {
            "id": item.id,
            "priority": f"P{item.priority}",
            "priority_reasons": item.priority_reasons,
            "platform": item.platform,
            "channel": info.title if info else item.platform,
            "channel_name": item.channel_name,
            "customer": item.customer_name or item.handle or "?",
            "handle": item.handle or "",
            "preview": one_line(item.preview),
            "sentiment": mood or "",
            "sentiment_text": t(f"sentiment.{mood}") if mood else "",
            "flags": [{"key": key, "label": t(f"flag.{key}")} for key in flags(
                public=item.public, triage=item.last_triage, verified=item.verified, followers=item.followers,
                reasons=item.priority_reasons)],
            "queue": t(f"queue.{item.queue}"),
            "status": item.status,
            "waiting_since": iso(item.waiting_since),
            "sla_due": iso(item.sla_due),
            "snoozed_until": iso(item.snoozed_until),
            "assignee": item.assignee_name or "",
            "mine": item.assignee_id == self.agent.id,
            "viewers": [name for name in viewers if name != self.agent.name],
            "handoff": self._handoff(item),
            "tags": list(item.tags),
        }

    def _handoff(self, item: InboxItem) -> str:
        """One line: who sent the thread to this queue and their note; for marketing also when triage did."""
        t, handoff = self.t, item.handoff
        if handoff is None:
            if item.queue != "marketing":
                return ""
            triage = item.last_triage
            why = str(triage.get("queue_reason") or "") if triage.get("queue") == "marketing" else ""
            if why == CORRECTED_QUEUE:
                return t("handoff.corrected", name=one_line(str(triage.get("corrected_by") or "?")))
            return t("handoff.triage_why", why=one_line(why)) if why else t("handoff.triage")
        text = t("handoff.by", name=handoff.by or "?", queue=t(f"queue.{handoff.from_queue}")
                 if handoff.from_queue else "?")
        return f"{text}: {one_line(handoff.note)}" if handoff.note else text

    def move(self, step: int) -> None:
        """Move the keyboard cursor (j/k)."""
        if self.rows:
            index = min(max(0, self.cursor + step), len(self.rows) - 1)
            self.param.update(cursor=index, cursor_id=self.rows[index]["id"])

    def target(self, shown_id: object = None) -> int | None:
        """The conversation Enter opens: the row the browser showed highlighted, else the cursor's conversation."""
        if isinstance(shown_id, int) and any(row["id"] == shown_id for row in self.rows):
            return shown_id
        return self.cursor_id if any(row["id"] == self.cursor_id for row in self.rows) else None

    def point_at(self, conversation_id: int) -> None:
        """Put the cursor on a conversation when it is on this page."""
        for index, row in enumerate(self.rows):
            if row["id"] == conversation_id:
                self.param.update(cursor=index, cursor_id=conversation_id)
                return

    async def new_p1(self, conversation_ids: list[int]) -> list[dict[str, str]]:
        """P1 conversations among `conversation_ids` not announced to this session yet."""
        if not any(cid not in self._alerted for cid in conversation_ids):
            return []
        queues = (self.pinned_queue,) if self.pinned_queue else self.agent.visible_queues
        ids, now = tuple(sorted(set(conversation_ids))), self.context.now()

        async def load() -> list[InboxItem]:
            async with self.context.db.read() as session:
                return await urgent_among(session, ids, visible_queues=queues, now=now)

        # Every open session hears the same event: one query answers them all.
        found = await (load() if self.context.pages is None else self.context.pages.get(("p1", ids, queues), load))
        items = [item for item in found if item.id not in self._alerted]
        self._alerted.update(item.id for item in items)
        return [{"id": str(item.id), "customer": item.customer_name or item.handle or "?",
                 "channel": PLATFORMS[item.platform].title if item.platform in PLATFORMS else item.platform}
                for item in items]
