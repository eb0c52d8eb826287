"""The inbox page: filters, list, conversation, actions and composer wired to the view-models."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import timedelta
from html import escape
from typing import Any

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc

from connectors import PLATFORMS
from console.auth import login_redirect
from console.context import ConsoleContext, SessionAgent, SessionExpired
from console.i18n import Translator
from console.presence import PRESENCE_TOPIC
from console.queries import conversations_of_messages
from console.viewmodels.conversation import ConversationModel
from console.viewmodels.inbox import InboxModel
from console.views.header import page_header
from console.views.inbox_list import InboxList
from console.views.keys import SHORTCUTS, KeyBridge
from console.views.session_tasks import close_session, run_in_session
from console.views.tag_picker import LABEL_KEYS as TAG_LABELS
from console.views.tag_picker import TagPicker
from console.views.thread_view import ThreadView
from console.views.timefmt import LABEL_KEYS
from social_care.actions import SUGGESTED_TAGS

logger = logging.getLogger(__name__)

DEBOUNCE = 0.1  # seconds: a burst of bus events becomes one refresh
SAFETY_REFRESH = 30.0  # seconds: also refresh on a timer (snoozes ending, a missed event)
LIST_LABELS = LABEL_KEYS + tuple(f"col.{c}" for c in ("priority", "channel", "customer", "message", "sentiment",
                                                      "flags", "queue", "waiting", "sla", "assignee", "viewers")) + (
    "inbox.empty",)
THREAD_LABELS = LABEL_KEYS + (
    "thread.pick", "thread.agent_note", "thread.bot", "thread.edited", "thread.timeline", "thread.viewing",
    "flag.public", "delivery.retry", "clock.waiting", "clock.first_response", "customer.title", "customer.handles",
    "customer.followers", "customer.verified", "customer.previous", "customer.none",
)
SNOOZE_HOURS = (1, 4, 24, 72)


def _text_pane(css: str) -> pn.pane.HTML:
    return pn.pane.HTML("", css_classes=[css], sizing_mode="stretch_width", margin=(2, 5))


def _set_text(pane: pn.pane.HTML, text: str, kind: str = "") -> None:
    """Show `text` as text: escaped, whatever it contains."""
    pane.object = f'<div class="sc-alert sc-{kind}" role="status">{escape(text)}</div>' if text else ""


ALERT_CSS = """
.sc-alert { padding: 6px 10px; border-radius: 6px; font-size: 13px; overflow-wrap: anywhere; }
.sc-error { background: #fde2e1; color: #a50e0e; } .sc-warning { background: #fff4e0; color: #7a4500; font-weight: 600; }
.sc-info { background: #e3f4e8; color: #137333; } .sc-counter-over { color: #a50e0e; font-weight: 700; }
"""


class InboxPage:
    """One browser session of the inbox page."""

    page = "inbox"
    fixed_queue = ""  # a page that shows one queue only, whatever the filters say

    def __init__(self, context: ConsoleContext, agent: SessionAgent, *, session_id: str,
                 doc: Document | None = None) -> None:
        self.context = context
        self.agent = agent
        self.t = t = Translator(agent.language)
        self.doc = doc
        self.path = f"/{self.page}"
        self.session_id = session_id
        self.inbox = InboxModel(context, agent, t)
        self.conversation = ConversationModel(context, agent, t)
        self.conversation.bind_session(session_id)
        self._pending_ids: set[int] = set()
        self._pending_messages: set[int] = set()
        self._armed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._from_widget = False
        self._last_full_refresh = time.monotonic()
        self._canned_off: Callable[[], None] = lambda: None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._revealed: tuple[str, bool] = ("", False)
        self._build()

    # --- widgets -----------------------------------------------------------------------------

    def _build(self) -> None:
        t = self.t
        any_ = t("filter.any")
        self.scope = pn.widgets.RadioButtonGroup(
            label=t("filter.scope"), value="all", color="light", css_classes=["sc-scope"],
            options={t("filter.scope.all"): "all", t("filter.scope.mine"): "mine",
                     t("filter.scope.unassigned"): "unassigned"})
        self.status = pn.widgets.Select(label=t("filter.status"), value="open", width=130, options={
            t("status.open"): "open", t("status.snoozed", until="…"): "snoozed", t("status.pending"): "pending",
            t("status.resolved"): "resolved", any_: "all"})
        self.channel = pn.widgets.Select(label=t("filter.channel"), value="", width=110,
                                         options={any_: "", **{info.title: slug for slug, info in PLATFORMS.items()}})
        queues = self.agent.visible_queues or ("support", "marketing", "other")
        self.queue = pn.widgets.Select(label=t("filter.queue"), value="", width=110,
                                       options={any_: "", **{t(f"queue.{q}"): q for q in queues}})
        self.priority = pn.widgets.Select(label=t("filter.priority"), value=0, width=90,
                                          options={any_: 0, "P1": 1, "P2": 2, "P3": 3, "P4": 4})
        self.search = pn.widgets.TextInput(label=t("filter.search"), placeholder=t("filter.search"),
                                           css_classes=["sc-search"], sizing_mode="stretch_width")
        for widget in (self.scope, self.status, self.channel, self.queue, self.priority):
            widget.param.watch(self._on_filter, "value")
        self.search.param.watch(self._on_filter, "value")

        self.list = InboxList(labels={k: t(k) for k in LIST_LABELS}, css_classes=["sc-inbox-list"],
                              sizing_mode="stretch_width")
        self.list.on_msg(self._on_list_msg)
        self.total = _text_pane("sc-total")
        self.prev = pn.widgets.Button(label=t("inbox.prev"), width=100, css_classes=["sc-prev"])
        self.next = pn.widgets.Button(label=t("inbox.next"), width=100, css_classes=["sc-next"])
        self.prev.on_click(lambda _e: self._spawn(self.inbox.go_to_page, self.inbox.page - 1))
        self.next.on_click(lambda _e: self._spawn(self.inbox.go_to_page, self.inbox.page + 1))

        self.thread = ThreadView(labels={**{k: t(k) for k in THREAD_LABELS}, "locale": t.language},
                                 css_classes=["sc-thread-view"],
                                 sizing_mode="stretch_width")
        self.thread.on_msg(self._on_thread_msg)
        self.keys = KeyBridge(draft_key=f"sc-draft:{self.agent.name}", help_title=t("shortcuts.title"),
                              help=[[key, t(label)] for key, label in SHORTCUTS], css_classes=["sc-keys"],
                              height=0, margin=0)
        self.keys.on_msg(self._on_key_msg)

        self._build_actions()
        self._build_composer()
        self.inbox.param.watch(self._render_list, ["rows", "cursor", "open_id", "total", "page"])
        self.conversation.param.watch(self._render_thread, ["thread", "viewers"])
        self.conversation.param.watch(self._render_composer, ["used", "limit", "error", "warning", "info", "modes",
                                                              "mode", "note_mode", "confirm"])
        self.conversation.param.watch(self._push_text, "text")
        self._render_composer()

    def _build_actions(self) -> None:
        t = self.t
        supervisor = self.agent.role in ("manager", "admin")
        self.claim = pn.widgets.Button(label=t("action.claim"), color="primary", css_classes=["sc-claim"])
        self.unassign = pn.widgets.Button(label=t("action.unassign"), css_classes=["sc-unassign"])
        self.assignee = pn.widgets.Select(options=[], width=140, visible=supervisor, css_classes=["sc-assignee-select"])
        self.assign = pn.widgets.Button(label=t("action.assign"), visible=supervisor, css_classes=["sc-assign"])
        self.resolve = pn.widgets.Button(label=t("action.resolve"), color="success", css_classes=["sc-resolve"])
        self.reopen = pn.widgets.Button(label=t("action.reopen"), css_classes=["sc-reopen"])
        self.snooze_for = pn.widgets.Select(options={f"{h} h": h for h in SNOOZE_HOURS}, value=4, width=80)
        self.snooze = pn.widgets.Button(label=t("action.snooze"), css_classes=["sc-snooze"])
        self.forward_note = pn.widgets.TextInput(placeholder=t("action.forward_note"), width=200)
        self.forward = pn.widgets.Button(label=t("action.forward"), css_classes=["sc-forward"])
        self.fix_queue = pn.widgets.Select(label=t("action.queue"), width=110, options={
            t(f"queue.{q}"): q for q in ("support", "marketing", "other")})
        self.fix_complaint = pn.widgets.Checkbox(label=t("flag.complaint"), align="end")
        self.fix_angry = pn.widgets.Checkbox(label=t("flag.angry"), align="end")
        self.fix_urgent = pn.widgets.Checkbox(label=t("flag.urgent"), align="end")
        self.fix = pn.widgets.Button(label=t("action.apply_triage"), align="end", css_classes=["sc-fix"])
        self.tags = TagPicker(suggestions=list(SUGGESTED_TAGS), labels={k: t(k) for k in TAG_LABELS},
                              css_classes=["sc-tags"], width=300)
        self.save_tags = pn.widgets.Button(label=t("action.save_tags"), align="end", css_classes=["sc-save-tags"])
        self._shown_tags: list[str] | None = None

        self.claim.on_click(lambda _e: self._spawn(self.conversation.act, "claim"))
        self.unassign.on_click(lambda _e: self._spawn(self.conversation.act, "assign", assignee=None))
        self.assign.on_click(lambda _e: self._spawn(self.conversation.act, "assign", assignee=self.assignee.value))
        self.resolve.on_click(lambda _e: self._spawn(self.conversation.act, "resolve"))
        self.reopen.on_click(lambda _e: self._spawn(self.conversation.act, "reopen"))
        self.snooze.on_click(lambda _e: self._spawn(
            self.conversation.act, "snooze", until=self.context.now() + timedelta(hours=int(self.snooze_for.value))))
        self.forward.on_click(lambda _e: self._spawn(self._forward))
        self.save_tags.on_click(lambda _e: self._spawn(self.conversation.act, "tag", tags=list(self.tags.value)))
        self.fix.on_click(lambda _e: self._spawn(
            self.conversation.act, "correct", queue=self.fix_queue.value, complaint=bool(self.fix_complaint.value),
            angry=bool(self.fix_angry.value), urgent=bool(self.fix_urgent.value)))

    forward_to = "marketing"  # where this page's forward button sends a thread

    async def _forward(self) -> None:
        note = (self.forward_note.value or "").strip() or None
        if await self.conversation.act("forward", queue=self.forward_to, note=note):
            self.forward_note.value = ""

    def _build_composer(self) -> None:
        t = self.t
        self.kind = pn.widgets.RadioButtonGroup(options={t("composer.reply"): False, t("composer.note"): True},
                                                value=False, color="light", css_classes=["sc-kind"])
        self.mode = pn.widgets.RadioButtonGroup(options={t("composer.mode.private"): "private"}, value="private",
                                                color="light", css_classes=["sc-mode"])
        self.canned = pn.widgets.AutocompleteInput(
            placeholder=t("composer.canned_search"), options=[r.name for r in self.context.canned],
            case_sensitive=False, search_strategy="includes", min_characters=1, restrict=True,
            css_classes=["sc-canned"], width=260)
        self.box = pn.widgets.TextAreaInput(placeholder=t("composer.placeholder"), css_classes=["sc-composer"],
                                            sizing_mode="stretch_width", height=110, max_length=200_000)
        self.counter = _text_pane("sc-counter")
        self.send = pn.widgets.Button(label=t("composer.send"), color="primary", css_classes=["sc-send"])
        self.error = _text_pane("sc-error-box")
        self.warning = _text_pane("sc-warning-box")
        self.info = _text_pane("sc-info-box")
        for pane in (self.counter, self.error, self.warning, self.info):
            pane.stylesheets = [ALERT_CSS]
        self.kind.param.watch(lambda e: setattr(self.conversation, "note_mode", bool(e.new)), "value")
        self.mode.param.watch(lambda e: setattr(self.conversation, "mode", e.new), "value")
        self.canned.param.watch(self._on_canned, "value")
        self.box.param.watch(self._on_typing, "value_input")
        self.send.on_click(lambda _e: self._spawn(self._send))

    # --- layout ------------------------------------------------------------------------------

    def layout(self) -> pn.Column:
        t = self.t
        header = page_header(t, self.agent, self.page, hint=f'? = {t("shortcuts.title")}')
        filters = pn.Column(
            pn.Row(self.scope, self.status, self.channel, self.queue, self.priority, sizing_mode="stretch_width"),
            self.search, sizing_mode="stretch_width")
        pager = pn.Row(self.prev, self.total, self.next, sizing_mode="stretch_width")
        left = pn.Column(filters, self.list, pager, sizing_mode="stretch_width", min_width=560,
                         css_classes=["sc-left"])
        actions = pn.Column(
            pn.FlexBox(self.claim, self.unassign, self.assignee, self.assign, self.resolve, self.reopen,
                       self.snooze_for, self.snooze, sizing_mode="stretch_width"),
            pn.FlexBox(self.forward_note, self.forward, self.tags, self.save_tags, sizing_mode="stretch_width",
                       align_items="flex-end"),
            pn.FlexBox(self.fix_queue, self.fix_complaint, self.fix_angry, self.fix_urgent, self.fix,
                       sizing_mode="stretch_width", align_items="flex-end"),
            sizing_mode="stretch_width", css_classes=["sc-actions"])
        # Warnings and errors sit between the draft and Send: they are read before the reply can go.
        composer = pn.Column(
            pn.FlexBox(self.kind, self.mode, self.canned, sizing_mode="stretch_width"),
            self.box, self.warning, self.error, pn.Row(self.send, self.counter, self.info, sizing_mode="stretch_width"),
            sizing_mode="stretch_width", css_classes=["sc-composer-box"])
        self.right = pn.Column(self.thread, actions, composer, sizing_mode="stretch_width", min_width=520,
                               css_classes=["sc-right"])
        self._show_conversation_tools(False)
        return pn.Column(header, pn.Row(left, self.right, sizing_mode="stretch_width"), self.keys,
                         sizing_mode="stretch_width")

    def _show_conversation_tools(self, visible: bool) -> None:
        for widget in (self.claim, self.unassign, self.resolve, self.reopen, self.snooze_for, self.snooze,
                       self.forward_note, self.forward, self.tags, self.save_tags, self.fix_queue, self.fix_complaint, self.fix_angry,
                       self.fix_urgent, self.fix,
                       self.kind, self.canned, self.box, self.send, self.counter):
            widget.visible = visible
        supervisor = self.agent.role in ("manager", "admin")
        self.assignee.visible = self.assign.visible = visible and supervisor
        self.mode.visible = visible and len(self.conversation.modes) > 1 and not self.conversation.note_mode

    # --- rendering from the view-models ------------------------------------------------------

    def _render_list(self, *_events: Any) -> None:
        self.list.param.update(rows=self.inbox.rows, cursor=self.inbox.cursor, open_id=self.inbox.open_id,
                               server_now=time.time() * 1000)
        _set_text(self.total, f"{self.t('inbox.total', total=self.inbox.total)} · "
                              f"{self.t('inbox.page', page=self.inbox.page, pages=self.inbox.pages)}")
        self.prev.disabled = self.inbox.page <= 1
        self.next.disabled = self.inbox.page >= self.inbox.pages

    def _render_thread(self, *_events: Any) -> None:
        thread = self.conversation.thread
        self.thread.param.update(thread=thread, viewers=self.conversation.viewers, server_now=time.time() * 1000)
        has = bool(thread)
        self._show_conversation_tools(has)
        if has:
            status = thread["status"]
            self.resolve.visible = status != "resolved"
            self.reopen.visible = status == "resolved"
            self.unassign.visible = bool(thread["assignee"])
            self.claim.visible = thread["assignee"] != self.agent.name
            self.forward.visible = self.forward_note.visible = thread["queue"] != self.forward_to
            target = thread.get("triage_target")
            for widget in (self.fix_queue, self.fix_complaint, self.fix_angry, self.fix_urgent, self.fix):
                widget.visible = target is not None
            if target is not None:
                self.fix_queue.value = target["queue"] or thread["queue"]
                self.fix_complaint.value = target["complaint"]
                self.fix_angry.value = target["angry"]
                self.fix_urgent.value = target["urgent"]
            tags = list(thread.get("tags") or [])
            if tags != self._shown_tags:  # only when the store's tags change, not while someone picks
                self._shown_tags = tags
                self.tags.param.update(value=tags, problem="")
            options = {display: name for name, display in self.conversation.assignable}
            if self.assignee.options != options:
                self.assignee.options = options

    def _render_composer(self, *_events: Any) -> None:
        c = self.conversation
        t = self.t
        over = c.used > c.limit
        self.counter.object = (f'<span class="{"sc-counter-over" if over else ""}">'
                               f'{escape(t("composer.counter", used=c.used, limit=c.limit))}</span>')
        _set_text(self.error, c.error, "error")
        _set_text(self.warning, c.warning, "warning")
        _set_text(self.info, c.info, "info")
        labels = {t(f"composer.mode.{m}"): m for m in c.modes}
        if self.mode.options != labels:
            self.mode.param.update(options=labels, value=c.mode)
            # Panel re-sends which button is lit only when the value changes; new options with the same value
            # would leave the old position lit (a DM showing "Reply publicly"). Send it again.
            self.mode.param.trigger("value")
        elif self.mode.value != c.mode:
            self.mode.value = c.mode
        if self.kind.value != c.note_mode:
            self.kind.value = c.note_mode
        self.mode.visible = bool(c.thread) and len(c.modes) > 1 and not c.note_mode
        self.box.placeholder = t("composer.note_placeholder" if c.note_mode else "composer.placeholder")
        anyway = c.confirm and not c.note_mode
        self.send.label = t("composer.save_note" if c.note_mode else "composer.send_anyway" if anyway else "composer.send")
        self.send.button_type = "warning" if anyway else "primary"
        shown = (c.warning, c.confirm)
        if c.warning and shown != self._revealed:  # a new warning, or Send turned into "Send anyway"
            self.keys.send({"type": "reveal", "selector": ".sc-warning-box"})
        self._revealed = shown

    def _push_text(self, event: Any) -> None:
        if self._from_widget:
            return
        # The browser owns the textarea: setting it there keeps the caret and whatever was typed meanwhile.
        self.keys.send({"type": "set-composer", "text": event.new})

    def _on_typing(self, event: Any) -> None:
        self._from_widget = True
        try:
            self.conversation.text = event.new or ""
        finally:
            self._from_widget = False

    def _on_canned(self, event: Any) -> None:
        if not event.new:
            return
        reply = next((r for r in self.context.canned if r.name == event.new), None)
        if reply is not None:
            self.conversation.insert_canned(reply)
        self.canned.value = ""

    def _on_filter(self, _event: Any) -> None:
        self._spawn(self.inbox.set_filters, scope=self.scope.value, status=self.status.value,
                    platform=self.channel.value, queue=self.fixed_queue or self.queue.value,
                    priority=int(self.priority.value or 0),
                    search=self.search.value)

    # --- browser messages --------------------------------------------------------------------

    def _on_list_msg(self, event: Any) -> None:
        data = event.data
        if isinstance(data, dict) and data.get("type") == "open" and isinstance(data.get("id"), int):
            self._spawn(self.open, data["id"])

    def _on_thread_msg(self, event: Any) -> None:
        data = event.data
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            return
        if data.get("type") == "retry":
            self._spawn(self.conversation.act, "retry", message_id=data["id"])
        elif data.get("type") == "open":
            self._spawn(self.open, data["id"])

    def _on_key_msg(self, event: Any) -> None:
        data = event.data
        if not isinstance(data, dict):
            return
        key = data.get("key")
        if key == "j":
            self.inbox.move(1)
        elif key == "k":
            self.inbox.move(-1)
        elif key == "Enter":
            target = self.inbox.target(data.get("id"))
            if target is not None:
                self._spawn(self.open, target)
        elif key == "e" and self.conversation.conversation_id is not None:
            self._spawn(self.conversation.act, "resolve")
        elif key == "a" and self.conversation.conversation_id is not None:
            self._spawn(self.conversation.act, "claim")
        elif key == "send":
            if isinstance(data.get("text"), str):
                self._from_widget = True
                try:
                    self.conversation.text = data["text"]
                finally:
                    self._from_widget = False
            self._spawn(self._send)

    # --- commands ----------------------------------------------------------------------------

    async def open(self, conversation_id: int | None) -> None:
        """Show a conversation beside the list and remember it in the address bar."""
        # The browser swaps the textarea to the new conversation's saved draft itself (KeyBridge);
        # pushing an empty text from here could wipe what the agent is already typing. It is told which
        # conversation before the thread is drawn (opening hides the composer until then): once the agent
        # sees the thread, the swap is done and cannot wipe what they type next.
        self.keys.conversation_id = conversation_id
        self._from_widget = True
        try:
            opened = await self.conversation.open(conversation_id)
        finally:
            self._from_widget = False
        if opened:
            self.inbox.open_id = conversation_id
            if conversation_id is not None:
                self.inbox.point_at(conversation_id)
                self.keys.send({"type": "url", "url": f"{self.path}?c={conversation_id}"})
        else:
            self.keys.conversation_id = self.conversation.conversation_id  # closed: no draft shown
        self._render_thread()

    async def _send(self) -> None:
        opened = self.conversation.conversation_id
        if await self.conversation.send():
            self.keys.send({"type": "clear-draft", "id": opened})
            if self.keys.conversation_id == opened:  # the agent may have opened another draft meanwhile
                self.keys.send({"type": "set-composer", "text": ""})

    def _spawn(self, work: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        """Run a coroutine for this session, turning expiry into a sign-in and any other error into a message."""
        run_in_session(self.doc, lambda: work(*args, **kwargs), self._failed)

    def _failed(self, err: Exception) -> None:
        if isinstance(err, SessionExpired):
            self.expire()
            return
        logger.error("console command failed", exc_info=err)
        self.conversation.error = "internal error; the team was told in the log"

    def expire(self) -> None:
        """The session ended: go to sign-in and come back to this conversation (the draft is in the browser)."""
        here = self.path + (f"?c={self.conversation.conversation_id}" if self.conversation.conversation_id else "")
        if pn.state.notifications is not None:
            pn.state.notifications.warning(self.t("toast.session_expired"), duration=4000)
        self.keys.send({"type": "redirect", "url": login_redirect(here, expired=True)})

    def set_agent(self, agent: SessionAgent) -> None:
        """Use the agent as the store now describes them (display name, current role)."""
        self.agent = self.inbox.agent = self.conversation.agent = agent

    # --- live updates ------------------------------------------------------------------------

    async def start(self, open_id: int | None = None) -> None:
        """First load."""
        self._loop = asyncio.get_running_loop()
        on_change = getattr(self.context.canned, "on_change", None)  # a plain list (tests, bench) never changes
        if on_change is not None:
            self._canned_off = on_change(self._canned_changed)
        left = self.agent.expires - self.context.signer.clock()
        self._timer = self._loop.call_later(max(0.0, left) + 0.2, self._fire)  # a flush after expiry: sign-in
        await self.inbox.refresh()
        self._render_list()
        if open_id is not None:
            await self.open(open_id)

    def on_bus(self, topic: str, data: dict[str, Any]) -> None:
        """Bus listener: may run on any thread; collects ids and schedules one debounced refresh."""
        ids = [i for i in data.get("ids", []) if isinstance(i, int)]
        if topic == "message.received":
            self._pending_messages.update(ids)
        elif topic in ("conversation.changed", PRESENCE_TOPIC):
            self._pending_ids.update(ids)
            if topic == "conversation.changed":
                self._pending_ids.add(-1)  # marker: the store changed, not just presence
        else:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        if self._armed or self._loop is None or self._closed:
            return
        self._armed = True
        self._loop.call_later(DEBOUNCE, self._fire)

    def _fire(self) -> None:
        self._armed = False
        if self._closed:
            return
        run_in_session(self.doc, self.flush, lambda err: logger.error("live update failed", exc_info=err))

    async def flush(self) -> None:
        """Apply what the bus said since the last flush."""
        ids, self._pending_ids = self._pending_ids, set()
        messages, self._pending_messages = self._pending_messages, set()
        with set_curdoc(self.doc) if self.doc is not None else nullcontext():
            try:
                if self.context.signer.clock() >= self.agent.expires:
                    self.expire()
                    return
                stored = -1 in ids or bool(messages)
                ids.discard(-1)
                if messages:
                    async with self.context.db.read() as session:
                        ids |= await conversations_of_messages(session, list(messages))
                if stored:
                    # Before the refresh: it marks every P1 it shows as already announced.
                    alerts = await self.inbox.new_p1(sorted(ids))
                    await self.inbox.refresh()
                    self._last_full_refresh = time.monotonic()
                    opened = self.conversation.conversation_id
                    if opened is not None and opened in ids:
                        await self.conversation.refresh()
                    for alert in alerts:
                        if pn.state.notifications is not None:
                            pn.state.notifications.error(self.t("toast.p1", **alert), duration=8000)
                else:
                    self.inbox.render()
                self.conversation.update_viewers()
            except Exception:
                logger.exception("live update failed")

    async def tick(self) -> None:
        """Periodic: end expired sessions and refresh now and then in case an event was missed."""
        if self.context.signer.clock() >= self.agent.expires:
            self.expire()
            return
        if time.monotonic() - self._last_full_refresh >= SAFETY_REFRESH:
            self._pending_ids.add(-1)
            await self.flush()

    def _canned_changed(self) -> None:
        """A manager changed the canned replies: offer the new names in this session's search box."""
        def update() -> None:
            self.canned.options = [reply.name for reply in self.context.canned]

        if self.doc is not None and self.doc.session_context is not None:
            self.doc.add_next_tick_callback(update)
        else:
            update()

    def close(self) -> None:
        """The browser went away: stop every timer and listener, and let in-flight writes end quietly."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._canned_off()
        self.conversation.leave()
        close_session(self.doc)


class MarketingPage(InboxPage):
    """The marketing queue: the threads triage or an agent sent to marketing, with who sent them and why."""

    page = "marketing"
    fixed_queue = "marketing"
    forward_to = "support"

    def _build(self) -> None:
        super()._build()
        self.inbox.queue = self.inbox.pinned_queue = self.fixed_queue
        self.queue.visible = False

    def _build_actions(self) -> None:
        super()._build_actions()
        self.forward.label = self.t("action.hand_back")
        self.forward.css_classes = ["sc-forward", "sc-hand-back"]
        self.forward_note.placeholder = self.t("action.hand_back_note")
