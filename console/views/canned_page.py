"""The canned-replies page: managers and admins list, search, create, edit and delete canned replies."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import Any

import panel as pn
from bokeh.document import Document

from console.auth import login_redirect
from console.canned import CannedReply, fill, unknown_variables
from console.context import ConsoleContext, SessionAgent
from console.format import duration
from console.i18n import Translator
from console.views.header import page_header
from console.views.session_tasks import close_session, run_in_session
from social_care.actions import ActionError
from social_care.store.canned import NAME_LIMIT, TEXT_LIMIT, Refusal, name_key

logger = logging.getLogger(__name__)

LANGUAGE_CODES = ("en", "it")

CSS = """
.sc-alert { padding: 6px 10px; border-radius: 6px; font-size: 13px; overflow-wrap: anywhere; }
.sc-error { background: #fde2e1; color: #a50e0e; } .sc-info { background: #e3f4e8; color: #137333; }
.sc-warning { background: #fff4e0; color: #7a4500; }
.sc-muted { color: #6b7280; font-size: 12px; overflow-wrap: anywhere; }
.sc-over { color: #a50e0e; font-weight: 700; }
.sc-preview-text { white-space: pre-wrap; overflow-wrap: anywhere; border: 1px solid #d7dbe3; border-radius: 8px;
  padding: 10px 12px; background: #f7f8fa; max-height: 320px; overflow: auto; unicode-bidi: isolate; }
.sc-heading { font-size: 16px; font-weight: 600; margin: 2px 0; overflow-wrap: anywhere; unicode-bidi: isolate; }
"""


@dataclass(frozen=True)
class Fields:
    """What the editor shows: a reply's name, text and language ("" for any)."""

    name: str = ""
    text: str = ""
    language: str = ""

    @classmethod
    def of(cls, reply: CannedReply) -> Fields:
        return cls(reply.name, reply.text, reply.language or "")

    def as_changes(self) -> dict[str, object]:
        """The fields as the store takes them (None for any language)."""
        return {"name": self.name, "text": self.text, "language": self.language or None}


def _html(css: str) -> pn.pane.HTML:
    return pn.pane.HTML("", css_classes=[css], sizing_mode="stretch_width", stylesheets=[CSS], margin=(2, 5))


def _alert(text: str, kind: str) -> str:
    return f'<div class="sc-alert sc-{kind}" role="status">{escape(text)}</div>' if text else ""


def matches(reply: CannedReply, query: str) -> bool:
    """Whether every word of `query` is in the reply's name or text, ignoring case."""
    words = name_key(query).split()
    haystack = f"{name_key(reply.name)}\n{name_key(reply.text)}"
    return all(word in haystack for word in words)


class CannedRepliesPage:
    """One browser session of the canned-replies page."""

    page = "canned"

    def __init__(self, context: ConsoleContext, agent: SessionAgent, *, session_id: str,
                 doc: Document | None = None) -> None:
        self.context = context
        self.agent = agent
        self.t = Translator(agent.language)
        self.doc = doc
        self.session_id = session_id
        self.selected_id: int | None = None
        self.loaded = Fields()  # what the editor started from, to tell an edit from an untouched form
        self.version: int | None = None
        self._confirming = False
        self._unsubscribe: Callable[[], None] = lambda: None
        self._build()

    # --- widgets -----------------------------------------------------------------------------

    def _build(self) -> None:
        t = self.t
        self.search = pn.widgets.TextInput(placeholder=t("canned.search"), css_classes=["sc-canned-search"],
                                           sizing_mode="stretch_width")
        self.count = _html("sc-canned-count")
        self.picker = pn.widgets.MultiSelect(label=t("canned.pick"), options={}, size=16,
                                             css_classes=["sc-canned-pick"], sizing_mode="stretch_width")
        self.new = pn.widgets.Button(label=t("canned.new"), css_classes=["sc-canned-new"])
        self.heading = _html("sc-canned-heading")
        self.meta = _html("sc-canned-meta")
        self.name = pn.widgets.TextInput(label=t("canned.name"), placeholder=t("canned.name_placeholder"),
                                         css_classes=["sc-canned-name"], sizing_mode="stretch_width",
                                         max_length=NAME_LIMIT * 2)
        self.language = pn.widgets.Select(label=t("canned.language"), value="", width=180,
                                          css_classes=["sc-canned-language"], options={
                                              t("canned.language.any"): "",
                                              **{t(f"canned.language.{code}"): code for code in LANGUAGE_CODES}})
        self.text = pn.widgets.TextAreaInput(label=t("canned.text"), placeholder=t("canned.text_placeholder"),
                                             css_classes=["sc-canned-text"], sizing_mode="stretch_width",
                                             height=180, max_length=TEXT_LIMIT * 2)
        self.counter = _html("sc-canned-counter")
        self.variables = _html("sc-canned-variables")
        self.variables.object = f'<div class="sc-muted">{escape(t("canned.variables"))}</div>'
        self.save = pn.widgets.Button(label=t("canned.create"), color="primary", css_classes=["sc-canned-save"])
        self.delete = pn.widgets.Button(label=t("canned.delete"), color="danger", visible=False,
                                        css_classes=["sc-canned-delete"])
        self.error = _html("sc-canned-error")
        self.info = _html("sc-canned-info")
        self.warning = _html("sc-canned-warning")
        self.preview_title = pn.pane.HTML(f"<strong>{escape(t('canned.preview'))}</strong>", margin=(8, 5, 0, 5))
        self.preview = _html("sc-canned-preview")

        self.search.param.watch(lambda _e: self.render_list(), "value_input")
        self.picker.param.watch(self._on_pick, "value")
        for widget in (self.name, self.text):
            widget.param.watch(lambda _e: self._on_edit(), "value_input")
        self.language.param.watch(lambda _e: self._on_edit(), "value")
        self.new.on_click(lambda _e: self.start_new())
        self.save.on_click(lambda _e: self._spawn(self.submit))
        self.delete.on_click(lambda _e: self._spawn(self.remove))

    def layout(self) -> pn.Column:
        """The page: header, the list on the left, the editor and its preview on the right."""
        left = pn.Column(self.search, self.count, self.picker, self.new, width=380, css_classes=["sc-canned-left"])
        editor = pn.Column(
            self.heading, self.meta, pn.Row(self.name, self.language, sizing_mode="stretch_width"),
            self.text, self.counter, self.variables, pn.Row(self.save, self.delete), self.error, self.info,
            self.preview_title, self.preview, self.warning,
            sizing_mode="stretch_width", min_width=480, css_classes=["sc-canned-editor"])
        self.body = pn.Row(left, editor, sizing_mode="stretch_width")
        self.start_new()
        self.render_list()
        return pn.Column(page_header(self.t, self.agent, self.page), self.body, sizing_mode="stretch_width",
                         css_classes=["sc-canned-page"])

    # --- the list ----------------------------------------------------------------------------

    def visible_replies(self) -> list[CannedReply]:
        """The library's replies matching the search box, by name."""
        query = self.search.value_input or ""
        return [r for r in self.context.canned if matches(r, query)]

    def render_list(self) -> None:
        """Show the matching replies; labels are plain text in the browser, whatever the names contain."""
        t = self.t
        shown = self.visible_replies()
        total = len(self.context.canned)
        options: dict[str, int] = {}
        for reply in shown:
            if reply.id is None:
                continue
            tag = (reply.language or "*").upper()
            options[f"{reply.name}  · {tag}"] = reply.id
        if self.picker.options != options:
            self.picker.options = options
        self.picker.value = [self.selected_id] if self.selected_id in options.values() else []
        if total == 0:
            message = t("canned.empty")
        elif not shown:
            message = t("canned.none_found")
        else:
            message = t("canned.count", count=len(shown), total=total)
        self.count.object = f'<div class="sc-muted">{escape(message)}</div>'

    def _on_pick(self, event: Any) -> None:
        picked = [i for i in event.new or [] if isinstance(i, int)]
        if picked and picked[0] != self.selected_id:
            self.open(picked[0])

    # --- the editor --------------------------------------------------------------------------

    def fields(self) -> Fields:
        """What the editor holds now (what the browser has typed, not only what it sent on blur)."""
        name = self.name.value_input if self.name.value_input is not None else self.name.value
        text = self.text.value_input if self.text.value_input is not None else self.text.value
        return Fields(name or "", text or "", self.language.value or "")

    def dirty(self) -> bool:
        """Whether the editor holds changes not saved yet."""
        return self.fields() != self.loaded

    def _fill(self, fields: Fields) -> None:
        self.name.value = fields.name
        self.text.value = fields.text
        self.language.value = fields.language
        self.loaded = fields

    def open(self, reply_id: int) -> bool:
        """Load a reply into the editor; False if it no longer exists."""
        reply = self.context.canned.get(reply_id)
        if reply is None:
            return False
        self.selected_id, self.version = reply.id, reply.version
        self._fill(Fields.of(reply))
        self._confirm(False)
        self.save.label = self.t("canned.save")
        self.delete.visible = True
        self.heading.object = f'<div class="sc-heading" dir="auto">{escape(self.t("canned.editing", name=reply.name))}</div>'
        self._render_meta(reply)
        self.error.object = ""
        self.render_list()
        self._render_preview()
        return True

    def start_new(self) -> None:
        """Empty the editor for a new reply."""
        self.selected_id = self.version = None
        self._fill(Fields())
        self._confirm(False)
        self.save.label = self.t("canned.create")
        self.delete.visible = False
        self.heading.object = f'<div class="sc-heading">{escape(self.t("canned.creating"))}</div>'
        self.meta.object = ""
        self.error.object = ""
        self.picker.value = []
        self._render_preview()

    def _render_meta(self, reply: CannedReply) -> None:
        t = self.t
        if reply.updated_at is None:
            text = ""
        else:
            ago = duration((self.context.now() - reply.updated_at).total_seconds(), t)
            text = (t("canned.changed_by", ago=ago, name=reply.updated_by) if reply.updated_by else
                    t("canned.changed", ago=ago) if reply.version > 1 else t("canned.shipped"))
        self.meta.object = f'<div class="sc-muted">{escape(text)}</div>' if text else ""

    def _on_edit(self) -> None:
        self._confirm(False)
        self._render_preview()

    def _render_preview(self) -> None:
        t = self.t
        fields = self.fields()
        used = len(fields.text)
        over = " sc-over" if used > TEXT_LIMIT else ""
        self.counter.object = (f'<div class="sc-muted{over}">'
                               f'{escape(t("canned.counter", used=used, limit=TEXT_LIMIT))}</div>')
        if not fields.text.strip():
            self.preview.object = f'<div class="sc-muted">{escape(t("canned.preview_empty"))}</div>'
            self.warning.object = ""
            return
        filled = fill(fields.text, {"customer_name": t("canned.preview_customer"),
                                    "agent_name": self.agent.display_name, "brand": self.context.brand})
        self.preview.object = f'<div class="sc-preview-text" dir="auto">{escape(filled)}</div>'
        unknown = unknown_variables(fields.text)
        self.warning.object = _alert(
            t("canned.unknown_variables", names=", ".join("{" + v + "}" for v in unknown)) if unknown else "",
            "warning")

    def _confirm(self, armed: bool) -> None:
        self._confirming = armed
        self.delete.label = self.t("canned.confirm_delete" if armed else "canned.delete")

    # --- commands ----------------------------------------------------------------------------

    async def submit(self) -> None:
        """Create the reply in the editor, or save the changes to the one open."""
        t = self.t
        self.info.object = self.error.object = ""
        if self._expired():
            return
        fields = self.fields()
        library = self.context.canned
        try:
            if self.selected_id is None:
                reply = await library.create(self.agent.id, fields.name, fields.text, fields.language or None)
                message = t("canned.created", name=reply.name)
            else:
                if not self.dirty():
                    self.info.object = _alert(t("canned.unchanged"), "info")
                    return
                before, after = self.loaded.as_changes(), fields.as_changes()
                changes = {key: value for key, value in after.items() if value != before[key]}
                reply = await library.update(self.agent.id, self.selected_id, changes, version=self.version)
                message = t("canned.saved", name=reply.name)
        except ActionError as err:
            await self._refused(err)
            return
        assert reply.id is not None  # replies from the store have ids
        self.open(reply.id)
        self.info.object = _alert(message, "info")

    async def remove(self) -> None:
        """Delete the open reply; the first click only asks for confirmation."""
        if self.selected_id is None:
            return
        if not self._confirming:
            self._confirm(True)
            return
        self.info.object = self.error.object = ""
        if self._expired():
            return
        name = self.loaded.name
        try:
            await self.context.canned.delete(self.agent.id, self.selected_id, version=self.version)
        except ActionError as err:
            await self._refused(err)
            return
        self.start_new()
        self.render_list()
        self.info.object = _alert(self.t("canned.deleted", name=name), "info")

    async def _refused(self, err: ActionError) -> None:
        t = self.t
        self._confirm(False)
        if isinstance(err, Refusal):
            key = f"canned.error.{err.code}"
            text = t(key, **err.values)
            message = text if text != key else str(err)
        else:
            message = str(err)
        if isinstance(err, Refusal) and err.code in ("stale", "not_found"):
            # Show what the store holds now, so the manager redoes the change on the current version.
            await self.context.canned.reload()
            if self.selected_id is not None and not self.open(self.selected_id):
                self.start_new()
            self.render_list()
        self.error.object = _alert(message, "error")

    def _expired(self) -> bool:
        if self.context.signer.clock() < self.agent.expires:
            return False
        self.expire()
        return True

    def expire(self) -> None:
        """The session ended: say so, with a link back here through sign-in."""
        link = login_redirect(f"/{self.page}", expired=True)
        self.body.objects = [pn.pane.HTML(
            f'<div class="sc-alert sc-warning" role="alert">{escape(self.t("canned.session_expired"))} '
            f'<a href="{escape(link)}">{escape(self.t("login.submit"))}</a></div>',
            stylesheets=[CSS], css_classes=["sc-canned-expired"], sizing_mode="stretch_width")]

    def _spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run a coroutine for this session with the document locked; errors become a message."""
        run_in_session(self.doc, work, self._failed)

    def _failed(self, err: Exception) -> None:
        logger.error("canned-replies command failed", exc_info=err)
        self.error.object = _alert(self.t("canned.error.internal"), "error")

    # --- the session -------------------------------------------------------------------------

    def set_agent(self, agent: SessionAgent) -> None:
        """Use the agent as the store now describes them."""
        self.agent = agent

    async def start(self, open_id: int | None = None) -> None:
        """First load: follow the library and show the list (and `?c=<id>` in the editor)."""
        self._unsubscribe = self.context.canned.on_change(self._library_changed)
        self.render_list()
        if open_id is not None:
            self.open(open_id)

    def _library_changed(self) -> None:
        # Runs on the event loop after the library reloaded; widgets change under this session's lock.
        async def refresh() -> None:
            self.refresh()

        run_in_session(self.doc, refresh, lambda err: logger.error("canned-replies refresh failed", exc_info=err))

    def refresh(self) -> None:
        """Show the library as it is now; an untouched editor follows changes made elsewhere."""
        if self.selected_id is not None:
            reply = self.context.canned.get(self.selected_id)
            if reply is None:
                name = self.loaded.name
                self.start_new()
                self.info.object = _alert(self.t("canned.removed_elsewhere", name=name), "warning")
            elif reply.version != self.version and not self.dirty():
                self.open(reply.id)  # type: ignore[arg-type]  # library replies have ids
            else:
                self._render_meta(reply)
        self.render_list()

    def on_bus(self, topic: str, data: dict[str, Any]) -> None:
        """Nothing to do: canned-reply changes reach this page through the library's `on_change`."""

    async def tick(self) -> None:
        """Periodic: end the page when the session expires."""
        if self.context.signer.clock() >= self.agent.expires and not self._is_expired_shown():
            self.expire()

    def _is_expired_shown(self) -> bool:
        return any("sc-canned-expired" in (o.css_classes or []) for o in self.body.objects)

    def close(self) -> None:
        """The browser went away."""
        self._unsubscribe()
        close_session(self.doc)

