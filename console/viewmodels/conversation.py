"""One conversation: the thread, the customer, the clocks, the composer and the actions on it."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import param

from connectors import PLATFORMS
from console.canned import CannedReply, fill, search
from console.clocks import response_clocks
from console.context import ConsoleContext, SessionAgent
from console.format import flags, iso, sentiment_label
from console.i18n import Translator
from console.queries import agent_names, customer_handles, latest_human_reply, previous_conversations
from social_care import actions
from social_care.actions import ActionError
from social_care.permissions import can_see
from social_care.store.models import Agent, Conversation, Event, Message
from social_care.store.queries import ConversationDetail, conversation_detail

logger = logging.getLogger(__name__)

NOTE_LIMIT = actions.MAX_NOTE_LENGTH


class ConversationModel(param.Parameterized):
    """The right-hand side of the console for one agent."""

    conversation_id = param.Integer(default=None, allow_None=True)
    thread = param.Dict(default={}, doc="the thread, customer and clocks as plain data for the view")
    viewers = param.List(default=[], doc="other agents with this conversation open")
    assignable = param.List(default=[], doc="(name, display name) pairs for the assign menu")

    text = param.String(default="", doc="the draft")
    note_mode = param.Boolean(default=False)
    mode = param.String(default="private")
    modes = param.List(default=["private"])
    used = param.Integer(default=0)
    limit = param.Integer(default=4096)
    error = param.String(default="", doc="why the last command was refused")
    warning = param.String(default="", doc="another agent replied while this one was typing")
    confirm = param.Boolean(default=False, doc="the agent was shown the collision: the next Send goes out anyway")
    info = param.String(default="")

    def __init__(self, context: ConsoleContext, agent: SessionAgent, t: Translator, **params: Any) -> None:
        super().__init__(**params)
        self.context = context
        self.agent = agent
        self.t = t
        self.platform: str | None = None
        self._customer_name = ""
        self._seen_reply_id = 0  # newest human reply the agent has had the chance to read
        self._collision = False
        self._queued_id: int | None = None  # the reply "Reply queued." is about

    # --- loading -----------------------------------------------------------------------------

    async def open(self, conversation_id: int | None) -> bool:
        """Show a conversation (None closes it); False if it does not exist or is not visible."""
        if conversation_id is None:
            self._clear()
            return True
        if conversation_id != self.conversation_id:
            self._clear()
            self.conversation_id = conversation_id
        found = await self.refresh()
        if self.conversation_id != conversation_id:
            return False  # the agent opened another conversation meanwhile: that one is shown, not this
        if not found:
            self._clear()
            self.error = self.t("thread.pick")
            return False
        self.context.presence.view(self._session_key, self.agent.name, conversation_id)
        self.update_viewers()
        return True

    def _clear(self) -> None:
        self.conversation_id = None
        self.thread = {}
        self.platform = None
        self.param.update(text="", error="", warning="", info="", note_mode=False, used=0, confirm=False)
        self._seen_reply_id = 0
        self._collision = False
        self._queued_id = None

    _session_key = ""

    def bind_session(self, key: str) -> None:
        """Name this model's browser session for presence."""
        self._session_key = key

    async def refresh(self) -> bool:
        """Reload the open conversation; False when it vanished or became invisible (a stale read draws nothing)."""
        wanted = self.conversation_id
        if wanted is None:
            return False
        async with self.context.db.read() as session:
            conversation = await session.get(Conversation, wanted, populate_existing=True)
            me = Agent(id=self.agent.id, role=self.agent.role, name=self.agent.name)
            if conversation is None or not can_see(me, conversation):
                return self.conversation_id != wanted  # vanished; a switch meanwhile is not this read's to report
            detail = await conversation_detail(session, conversation)
            handles = await customer_handles(session, conversation.contact_id)
            previous = await previous_conversations(session, conversation.contact_id, conversation.id)
            if not self.assignable:
                self.assignable = [list(pair) for pair in await agent_names(session, roles=("agent", "manager", "admin"))]
        if self.conversation_id != wanted:
            # The agent opened another conversation while this was read (a live update, a send's reload):
            # drawing it now would show the old thread under the new one's composer.
            return True
        first_load = not self.thread or self.thread.get("id") != conversation.id
        self.platform = detail.channel.platform
        self._customer_name = detail.identity.display_name or detail.contact.name or detail.identity.handle or ""
        info = PLATFORMS.get(self.platform)
        self.modes = list(info.reply_modes if info else ("private",))
        if first_load or self.mode not in self.modes:
            # Every conversation opens in its own mode: a DM is answered by DM, a public thread publicly.
            self.mode = self.default_mode(self.modes, public=bool(conversation.public))
        self.thread = self._thread(detail, handles, previous)
        self._notice_collision(detail, first_load)
        self._settle_info(detail)
        self.measure()
        return True

    @staticmethod
    def default_mode(modes: list[str], *, public: bool) -> str:
        """The reply mode a conversation opens with: public for a public thread, else private."""
        if public and "public" in modes:
            return "public"
        return "private" if "private" in modes else modes[0]

    def _settle_info(self, detail: ConversationDetail) -> None:
        """"Reply queued." only while that reply is on its way: its delivered or failed state replaces it."""
        if self._queued_id is None:
            return
        queued = next((m for m in detail.messages if m.id == self._queued_id), None)
        if queued is None or (queued.delivery_status or "pending") != "pending":
            self._queued_id = None
            if self.info == self.t("composer.sent_queued"):
                self.info = ""

    @param.depends("error", watch=True)
    def _error_replaces_info(self) -> None:
        if self.error:  # a red failure never stands beside a stale green success
            self.info = ""

    def update_viewers(self) -> None:
        """Refresh who else is looking (presence only, no store access)."""
        if self.conversation_id is None:
            self.viewers = []
            return
        self.viewers = [n for n in self.context.presence.viewers(self.conversation_id) if n != self.agent.name]

    def _notice_collision(self, detail: ConversationDetail, first_load: bool) -> None:
        replies = [m for m in detail.messages if m.direction == "outbound" and not m.automated]
        newest = replies[-1].id if replies else 0
        if first_load:
            self._seen_reply_id = newest
            return
        others = [m for m in replies if m.id > self._seen_reply_id and m.agent_id != self.agent.id]
        if others and self.text.strip() and not self.note_mode:
            names = sorted({detail.agents[m.agent_id].display_name or detail.agents[m.agent_id].name
                            for m in others if m.agent_id in detail.agents} or {"?"})
            self.warning = self.t("composer.collision", names=", ".join(names))
            self._collision = True
            self.confirm = False  # a new reply to read: sending needs a fresh second step
        self._seen_reply_id = max(self._seen_reply_id, newest)

    # --- what the view shows -----------------------------------------------------------------

    def _thread(self, detail: ConversationDetail, handles: list[Any], previous: list[Any]) -> dict[str, Any]:
        c = detail.conversation
        t = self.t
        customer = self._customer_name or "?"
        clocks = response_clocks(detail.messages)
        info = PLATFORMS.get(detail.channel.platform)
        return {
            "id": c.id,
            "platform": detail.channel.platform,
            "channel": info.title if info else detail.channel.platform,
            "status": c.status,
            "status_text": (t("status.snoozed", until="") if c.snoozed_until and c.status == "open"
                            else t(f"status.{c.status}")),
            "snoozed_until": iso(c.snoozed_until),
            "queue": c.queue,
            "queue_text": t(f"queue.{c.queue}"),
            "tags": list(c.tags or []),
            "priority": c.priority,
            "priority_reasons": list(c.priority_reasons or []),
            "public": c.public,
            "sla_due": iso(c.sla_due),
            "assignee": detail.assignee.name if detail.assignee else "",
            "assignee_display": (detail.assignee.display_name or detail.assignee.name) if detail.assignee else "",
            "clocks": {
                "waiting_since": iso(clocks.waiting_since),
                "first_response_seconds": clocks.first_response_seconds,
            },
            "customer": {
                "name": customer,
                "handle": detail.identity.handle or "",
                "followers": detail.identity.followers,
                "verified": bool(detail.identity.verified),
                "blocked": bool(detail.identity.blocked),
                "handles": [{"platform": PLATFORMS[h.platform].title if h.platform in PLATFORMS else h.platform,
                             "handle": h.handle or "", "name": h.display_name or "", "followers": h.followers,
                             "verified": bool(h.verified)} for h in handles],
                "previous": [{"id": p.id, "platform": PLATFORMS[p.platform].title if p.platform in PLATFORMS
                              else p.platform, "status": t(f"status.{p.status}"), "queue": t(f"queue.{p.queue}"),
                              "created_at": iso(p.created_at), "resolved_at": iso(p.resolved_at),
                              "preview": (p.preview or "")[:140]} for p in previous],
            },
            "triage_target": self._triage_target(detail),
            "messages": [self._message(m, detail, customer) for m in detail.messages],
            "events": [self._event(e, detail) for e in detail.events],
        }

    @staticmethod
    def _triage_target(detail: ConversationDetail) -> dict[str, Any] | None:
        """The newest triaged customer message: the one a correction applies to."""
        for m in reversed(detail.messages):
            if m.direction == "inbound" and m.triage:
                triage = dict(m.triage)
                return {"message_id": m.id, "queue": triage.get("queue"), "complaint": bool(triage.get("complaint")),
                        "angry": bool(triage.get("angry")), "urgent": bool(triage.get("urgent"))}
        return None

    def _message(self, m: Message, detail: ConversationDetail, customer: str) -> dict[str, Any]:
        t = self.t
        author_agent = detail.agents.get(m.agent_id) if m.agent_id else None
        if m.direction == "inbound":
            author = customer
        elif author_agent is not None:
            author = author_agent.display_name or author_agent.name
        else:
            author = t("thread.bot")
        data: dict[str, Any] = {
            "id": m.id,
            "direction": m.direction,
            "kind": m.kind,
            "text": m.text or "",
            "author": author,
            "at": iso(m.sent_at if m.direction == "inbound" else m.received_at),
            "public": m.public,
            "automated": m.automated,
            "edited": m.edited_at is not None,
            "attachments": [str(a.get("kind", "file")) + (f": {a['name']}" if a.get("name") else "")
                            for a in (m.attachments or [])],
        }
        if m.direction == "inbound":
            mood = sentiment_label(m.sentiment, m.sentiment_label)
            triage = dict(m.triage or {})
            data["sentiment"] = mood or ""
            data["sentiment_text"] = t(f"sentiment.{mood}") if mood else ""
            data["reasons"] = [str(r) for r in triage.get("reasons", [])]
            data["flags"] = [t(f"flag.{f}") for f in flags(public=False, triage=triage, verified=None,
                                                           followers=None) if f != "vip"]
        if m.direction == "outbound":
            status = m.delivery_status or "pending"
            error = m.delivery_error or ""
            if status == "failed":
                label = t("delivery.failed", error=error)
            elif status == "unknown":
                label = t("delivery.unknown", error=error)
            else:
                label = t(f"delivery.{status}")
            data["delivery"] = {"status": status, "label": label, "retry": status in ("failed", "unknown"),
                                "help": t("delivery.unknown.help") if status == "unknown" else ""}
        return data

    def _value_text(self, key: str, value: Any) -> str:
        if key == "queue":
            return self.t(f"queue.{value}")
        return "✓" if value is True else "✗" if value is False else str(value)

    def _event(self, e: Event, detail: ConversationDetail) -> dict[str, Any]:
        t = self.t
        data = dict(e.data or {})
        values: dict[str, Any] = {
            "assignee": data.get("assignee") or "",
            "from": t(f"status.{data['from']}") if e.kind == "status_changed" and data.get("from") else
            t(f"queue.{data['from']}") if e.kind == "forwarded" and data.get("from") else data.get("from", ""),
            "to": t(f"status.{data['to']}") if e.kind == "status_changed" and data.get("to") else
            t(f"queue.{data['to']}") if e.kind == "forwarded" and data.get("to") else data.get("to", ""),
            # The browser puts the time in, formatted in the agent's language like every other time.
            "until": "{until}" if e.kind == "snoozed" and data.get("until") else "",
            "tags": ", ".join(f"#{tag}" for tag in data.get("tags") or []) or "—",
            "changes": ", ".join(f"{k} → {self._value_text(k, v)}" for k, v in (data.get("changes") or {}).items())
            if e.kind == "triage_corrected" else "",
        }
        kind = e.kind
        if kind == "status_changed" and data.get("from") and data.get("from") == data.get("to"):
            kind = "unsnoozed"  # older stores recorded a customer waking a snoozed thread as open -> open
        if kind == "unsnoozed":
            text = t("event.unsnoozed.customer" if data.get("by") == "customer" else "event.unsnoozed")
        else:
            text = t(f"event.{kind}", **values)
        agent = detail.agents.get(e.agent_id) if e.agent_id else None
        return {"id": e.id, "kind": kind, "at": iso(e.at), "text": text,
                "by": (agent.display_name or agent.name) if agent else "",
                "until": data.get("until") if e.kind == "snoozed" else None}

    # --- composer ----------------------------------------------------------------------------

    def measure(self) -> None:
        """Count the draft the way the channel does, against the limit of the chosen mode."""
        if self.note_mode:
            self.param.update(used=len(self.text), limit=NOTE_LIMIT)
            return
        info = PLATFORMS.get(self.platform or "")
        if info is None:
            self.param.update(used=len(self.text), limit=4096)
            return
        public = self.mode == "public"
        limit = info.public_reply_length if public and info.public_reply_length else info.max_reply_length
        self.param.update(used=info.measure(self.text), limit=limit)

    @param.depends("text", "mode", "note_mode", watch=True)
    def _remeasure(self) -> None:
        self.measure()

    def canned(self, query: str) -> list[CannedReply]:
        """Canned replies matching `query` by name."""
        return search(self.context.canned, query, language=self.agent.language)

    def insert_canned(self, reply: CannedReply) -> None:
        """Put a canned reply into the draft with its variables filled in; the agent can still edit it."""
        filled = fill(reply.text, {"customer_name": self._customer_name, "agent_name": self.agent.display_name,
                                   "brand": self.context.brand})
        self.text = filled if not self.text.strip() else f"{self.text.rstrip()}\n{filled}"

    def check_session(self) -> None:
        from console.context import SessionExpired

        if self.context.signer.clock() >= self.agent.expires:
            raise SessionExpired()

    async def send(self) -> bool:
        """Send the draft as a reply (or save it as a note); True when it was stored."""
        self.check_session()
        self.param.update(error="", info="")
        if self.conversation_id is None:
            return False
        body = self.text
        if not body.strip():
            self.error = self.t("composer.empty")
            return False
        self.measure()
        if self.used > self.limit:
            info = PLATFORMS.get(self.platform or "")
            self.error = self.t("composer.over_limit", used=self.used, limit=self.limit,
                                platform=info.title if info else (self.platform or "?"))
            return False
        if not self.note_mode:
            await self._someone_else_replied()
            if self._collision and not self.confirm:
                # The first Send after a collision only shows it; "Send anyway" is a second, deliberate click.
                self.confirm = True
                return False
        mode = self.mode  # the mode the composer shows (the view keeps its buttons in step with it)
        sent_from = self.conversation_id
        try:
            if self.note_mode:
                await self.context.commands.note(self.agent.id, sent_from, body)
                queued = None
            else:
                sent = await self.context.commands.reply(self.agent.id, sent_from, body, mode=mode)
                queued = sent.message_id
        except ActionError as err:
            if self.conversation_id == sent_from:
                self.error = str(err)
            return False
        if self.conversation_id != sent_from:
            # The agent opened another conversation while this one was being stored: its restored draft
            # and state are not this send's to clear.
            return True
        self.param.update(text="", warning="", confirm=False,
                          info=self.t("composer.note_saved" if self.note_mode else "composer.sent_queued"))
        self._collision = False
        self._queued_id = queued
        await self.refresh()
        return True

    async def _someone_else_replied(self) -> bool:
        """True (with the warning set) when another agent's reply landed since the agent last looked."""
        async with self.context.db.read() as session:
            latest = await latest_human_reply(session, self.conversation_id or 0)
        if latest is None or latest[0] <= self._seen_reply_id or latest[1] == self.agent.id:
            return False
        await self.refresh()  # shows their reply and sets the warning
        if not self.warning:
            self.warning = self.t("composer.collision", names="?")
        self._collision = True
        self.confirm = False
        return True

    # --- actions -----------------------------------------------------------------------------

    async def act(self, name: str, **values: Any) -> bool:
        """Run one action on the open conversation; errors land in `error`, never as exceptions."""
        self.check_session()
        self.param.update(error="", info="")
        cid = self.conversation_id
        if cid is None:
            return False
        commands = self.context.commands
        me = self.agent.id
        try:
            if name == "claim":
                await commands.claim(me, cid)
            elif name == "assign":
                await commands.assign(me, cid, values.get("assignee") or None, force=self.agent.role != "agent")
            elif name == "resolve":
                await commands.set_status(me, cid, "resolved")
            elif name == "reopen":
                await commands.set_status(me, cid, "open")
            elif name == "snooze":
                until = values["until"]
                assert isinstance(until, datetime)
                await commands.snooze(me, cid, until, now=self.context.now())
            elif name == "forward":
                await commands.forward(me, cid, values.get("queue") or "marketing", values.get("note") or None)
            elif name == "correct":
                target = self.thread.get("triage_target")
                if not target:
                    raise actions.Conflict("no customer message of this conversation has been triaged yet")
                changes = {k: v for k, v in values.items() if k in ("queue", "complaint", "angry", "urgent")
                           and v is not None and v != target.get(k)}
                if not changes:
                    raise actions.Conflict("nothing to correct: change the queue or a flag first")
                await commands.correct_triage(me, int(target["message_id"]), changes)
            elif name == "tag":
                await commands.tag(me, cid, list(values.get("tags") or []))
            elif name == "retry":
                await commands.retry(me, int(values["message_id"]))
            else:
                raise ValueError(f"unknown action {name!r}")
        except ActionError as err:
            self.error = str(err)
            return False
        self.info = self.t("action.done")
        if not await self.refresh():
            self._clear()  # e.g. forwarded out of the queues this role sees
        return True

    def leave(self) -> None:
        """The session closed: stop showing up as a viewer."""
        self.context.presence.leave(self._session_key)
