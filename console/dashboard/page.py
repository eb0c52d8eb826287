"""The manager dashboard page: range controls, headline figures, Bokeh charts, tables and CSV downloads."""
from __future__ import annotations

import io
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from html import escape
from typing import Any

import panel as pn
from bokeh.document import Document

from console.context import ConsoleContext, SessionAgent
from console.dashboard import charts
from console.dashboard.model import (
    PRESETS,
    RESPONSE_DIMENSIONS,
    TREND_DIMENSIONS,
    DashboardModel,
    complaints_series,
    inbound_series,
    kpis,
    new_conversation_series,
    table_csv,
    table_rows,
    trend_groups,
)
from console.dashboard.tables import STYLE, duration, html_table, kpi_html, percent
from console.i18n import Translator
from console.views.header import page_header
from console.views.session_tasks import close_session, run_in_session
from social_care.metrics.report import MetricsReport

logger = logging.getLogger(__name__)

# The bus says the store changed: recompute at most this often (a year of data takes seconds to compute).
DEBOUNCE = 45.0
# Refresh even without news now and then: the backlog's ages and breaches move with the clock.
SAFETY_REFRESH = 300.0
LIVE_TOPICS = ("message.received", "conversation.changed")
BREACH_COLUMNS = ("conversation_id", "channel", "queue", "priority", "waiting_since", "due_at", "overdue_seconds")
BACKLOG_COLUMNS = ("dimension", "group", "open", "pending", "waiting", "oldest_waiting_since",
                   "oldest_waiting_conversation_id", "oldest_waiting_seconds")


class DashboardPage:
    """One browser session of the manager dashboard."""

    page = "dashboard"

    def __init__(self, context: ConsoleContext, agent: SessionAgent, *, session_id: str,
                 doc: Document | None = None, model: DashboardModel | None = None) -> None:
        self.context = context
        self.agent = agent
        self.t = Translator(agent.language)
        self.session_id = session_id
        self.doc = doc
        self.model = model or DashboardModel(context.db, config=context.metrics, now=context.now)
        self.zone = self.model.zone
        self._dirty = False
        self._busy = False
        self._build()

    # --- widgets -----------------------------------------------------------------------------

    def _build(self) -> None:
        t = self.t
        self.preset = pn.widgets.RadioButtonGroup(options={t(f"dash.range.{p}"): p for p in PRESETS},
                                                  value=self.model.preset, color="light", css_classes=["sc-dash-range"])
        today = self.context.now().astimezone(self.zone).date()
        self.start_date = pn.widgets.DatePicker(label=t("dash.start"), value=today - timedelta(days=6), width=140,
                                           visible=False, css_classes=["sc-dash-start"])
        self.end_date = pn.widgets.DatePicker(label=t("dash.end"), value=today, width=140, visible=False,
                                         css_classes=["sc-dash-end"])
        self.apply = pn.widgets.Button(label=t("dash.apply"), visible=False, css_classes=["sc-dash-apply"], align="end")
        self.refresh_button = pn.widgets.Button(label=t("dash.refresh"), css_classes=["sc-dash-refresh"], align="end")
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sc-dash-status"])
        self.kpis = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[STYLE], css_classes=["sc-dash-kpis"])
        self.trend_dimension = pn.widgets.Select(label=t("dash.trend_by"), width=150, value="all",
                                                 options={t(f"dash.dim.{d}"): d for d in TREND_DIMENSIONS},
                                                 css_classes=["sc-dash-trend-dimension"])
        self.trend_group = pn.widgets.Select(label=t("dash.group"), width=180, options=[], visible=False,
                                             css_classes=["sc-dash-trend-group"])
        self.response_dimension = pn.widgets.Select(label=t("dash.response_by"), width=150, value="channel",
                                                    options={t(f"dash.dim.{d}"): d for d in RESPONSE_DIMENSIONS},
                                                    css_classes=["sc-dash-response-dimension"])
        chart = dict(sizing_mode="stretch_width", min_height=charts.HEIGHT)
        self.sentiment_chart = pn.pane.Bokeh(None, css_classes=["sc-dash-sentiment"], **chart)
        self.complaints_chart = pn.pane.Bokeh(None, css_classes=["sc-dash-complaints"], **chart)
        self.volume_chart = pn.pane.Bokeh(None, css_classes=["sc-dash-volume"], **chart)
        self.conversations_chart = pn.pane.Bokeh(None, css_classes=["sc-dash-conversations"], **chart)
        self.response_chart = pn.pane.Bokeh(None, css_classes=["sc-dash-response"], **chart)
        self.sla_chart = pn.pane.Bokeh(None, css_classes=["sc-dash-sla"], **chart)
        self.tables: dict[str, pn.pane.HTML] = {
            name: pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[STYLE], css_classes=[f"sc-dash-{name}"])
            for name in ("first_response", "every_response", "resolution", "sla", "breaches_now", "backlog")}
        self.downloads = {name: self._download(name) for name in MetricsReport.TABLES}

        self.preset.param.watch(self._on_preset, "value")
        self.apply.on_click(lambda _e: self._spawn(self.refresh))
        self.refresh_button.on_click(lambda _e: self._spawn(self.refresh, fresh=True))
        self.trend_dimension.param.watch(self._on_trend, "value")
        self.trend_group.param.watch(self._on_trend, "value")
        self.response_dimension.param.watch(lambda _e: self._render_responses(), "value")

    def _download(self, name: str) -> pn.widgets.FileDownload:
        def content() -> io.BytesIO:
            report = self.model.report
            text = table_csv(report, name) if report is not None else ""
            return io.BytesIO(text.encode("utf-8"))

        return pn.widgets.FileDownload(callback=content, filename=f"{name}.csv", embed=False,
                                       label=self.t("dash.download", name=name), color="light",
                                       css_classes=["sc-dash-download", f"sc-dash-download-{name}"])

    def layout(self) -> pn.Column:
        """The page, top to bottom: header, controls, headline figures, charts, tables, downloads."""
        t = self.t

        def section(title: str, *items: Any, css: str = "") -> pn.Column:
            return pn.Column(pn.pane.Markdown(f"### {escape(title)}", margin=(10, 5, 0, 5)), *items,
                             sizing_mode="stretch_width", css_classes=[css] if css else [])

        controls = pn.FlexBox(self.preset, self.start_date, self.end_date, self.apply, self.refresh_button,
                              sizing_mode="stretch_width", align_items="flex-end")
        return pn.Column(
            page_header(t, self.agent, self.page),
            controls, self.status, self.kpis,
            pn.Row(self.trend_dimension, self.trend_group),
            pn.Row(self.sentiment_chart, self.complaints_chart, sizing_mode="stretch_width"),
            pn.Row(self.volume_chart, self.conversations_chart, sizing_mode="stretch_width"),
            self.response_dimension,
            pn.Row(self.response_chart, self.sla_chart, sizing_mode="stretch_width"),
            section(t("dash.table.breaches_now"), self.tables["breaches_now"], self.downloads["breaches_now"]),
            section(t("dash.table.backlog"), self.tables["backlog"], self.downloads["backlog"]),
            section(t("dash.table.response_times"), self.tables["first_response"], self.tables["every_response"],
                    self.downloads["response_times"]),
            section(t("dash.table.resolution"), self.tables["resolution"]),
            section(t("dash.table.sla"), self.tables["sla"], self.downloads["sla"]),
            section(t("dash.downloads"), pn.FlexBox(*self.downloads.values(), sizing_mode="stretch_width")),
            sizing_mode="stretch_width", css_classes=["sc-dashboard"],
        )

    # --- events ------------------------------------------------------------------------------

    def _on_preset(self, event: Any) -> None:
        custom = event.new == "custom"
        self.start_date.visible = self.end_date.visible = self.apply.visible = custom
        if not custom:
            self._spawn(self.refresh)

    def _on_trend(self, event: Any) -> None:
        if event.obj is self.trend_dimension:
            self.model.trend_dimension = event.new
            self._sync_groups()
        elif event.new:
            self.model.trend_group = event.new
        self._render_trend()

    def _sync_groups(self) -> None:
        report = self.model.report
        options = list(trend_groups(report).get(self.model.trend_dimension, ())) if report is not None else []
        if self.trend_group.options != options:
            self.trend_group.options = options
        if options and self.model.trend_group not in options:
            self.model.trend_group = options[0]
        if options and self.trend_group.value != self.model.trend_group:
            self.trend_group.value = self.model.trend_group
        self.trend_group.visible = self.model.trend_dimension != "all"

    def _spawn(self, work: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        """Run a coroutine for this session, with its document as the current one."""
        run_in_session(self.doc, lambda: work(*args, **kwargs),
                       lambda err: logger.error("dashboard update failed", exc_info=err))

    # --- ConsolePage -------------------------------------------------------------------------

    def set_agent(self, agent: SessionAgent) -> None:
        """Use the agent as the store now describes them."""
        self.agent = agent

    async def start(self, open_id: int | None = None) -> None:
        """First load (the dashboard opens no conversation)."""
        await self.refresh()

    def on_bus(self, topic: str, data: dict[str, Any]) -> None:
        """Bus listener, any thread: only marks the figures stale; `tick` recomputes, debounced."""
        if topic in LIVE_TOPICS:
            self._dirty = True

    async def tick(self) -> None:
        """Periodic: recompute when the store changed (at most every DEBOUNCE s) or every SAFETY_REFRESH s."""
        loaded = self.model.loaded_at
        age = time.monotonic() - loaded if loaded is not None else float("inf")
        if (self._dirty and age >= DEBOUNCE) or age >= SAFETY_REFRESH:
            await self.refresh(fresh=self._dirty)

    def close(self) -> None:
        """The browser went away: drop the report."""
        self.model.report = None
        close_session(self.doc)

    # --- loading and rendering ---------------------------------------------------------------

    async def refresh(self, *, fresh: bool = False) -> None:
        """Recompute for the chosen range (off the event loop: compute() replays in threads) and redraw."""
        if self._busy:
            return
        self._busy = True
        self._dirty = False
        self.status.object = f'<span class="sc-dash-loading">{escape(self.t("dash.loading"))}</span>'
        try:
            start = self.start_date.value if self.preset.value == "custom" else None
            end = self.end_date.value if self.preset.value == "custom" else None
            self.model.choose(self.preset.value, start, end)
            report = await self.model.load(fresh=fresh)
        except Exception:
            logger.exception("dashboard: computing the figures failed")
            self.status.object = f'<div class="sc-alert sc-error">{escape(self.t("dash.failed"))}</div>'
            return
        finally:
            self._busy = False
        if report is None:
            self.status.object = (f'<div class="sc-alert sc-error">'
                                  f'{escape(self.t("dash.error", error=self.model.error))}</div>')
            return
        self.render()

    def render(self) -> None:
        """Draw everything from the model's report."""
        report = self.model.report
        if report is None:
            return
        t, zone = self.t, self.zone
        when = lambda d: d.astimezone(zone).strftime("%Y-%m-%d %H:%M")  # noqa: E731
        self.status.object = escape(t("dash.updated", since=when(report.since), until=when(report.until),
                                      zone=report.timezone, now=when(report.now),
                                      hours=t("dash.business_hours" if report.business_hours else "dash.wall_clock")))
        k = kpis(report)
        self.kpis.object = kpi_html([
            (t("dash.kpi.first_response"), f"{duration(k.first_response_median)} · {duration(k.first_response_p90)}",
             False),
            (t("dash.kpi.every_response"), duration(k.every_response_median), False),
            (t("dash.kpi.resolution"), duration(k.resolution_median), False),
            (t("dash.kpi.compliance"), f"{percent(k.compliance_first)} · {percent(k.compliance_every)}", False),
            (t("dash.kpi.breaches"), str(k.breaches_now), k.breaches_now > 0),
            (t("dash.kpi.backlog"), f"{k.open} · {k.waiting} · {k.pending}", False),
            (t("dash.kpi.oldest"), duration(k.oldest_waiting_seconds), False),
            (t("dash.kpi.volume"), f"{k.inbound_messages} · {k.new_conversations}", False),
            (t("dash.kpi.complaints"), str(k.public_complaints), k.public_complaints > 0),
        ])
        self._sync_groups()
        self._render_trend()
        span = charts.local_span(report.since, report.until, zone)
        self.complaints_chart.object = charts.count_chart(
            complaints_series(report), t, title=t("dash.chart.complaints"), y_label=t("dash.chart.complaints"),
            interval=report.interval, zone=report.timezone, css="sc-chart-complaints", colour=charts.COMPLAINT,
            per_group=True, span=span)
        self.volume_chart.object = charts.count_chart(
            inbound_series(report), t, title=t("dash.chart.volume"), y_label=t("dash.chart.count"),
            interval=report.interval, zone=report.timezone, css="sc-chart-volume", colour=charts.TOTAL, per_group=True,
            span=span)
        self.conversations_chart.object = charts.count_chart(
            new_conversation_series(report), t, title=t("dash.chart.new_conversations"),
            y_label=t("dash.chart.conversations"), interval=report.interval, zone=report.timezone,
            css="sc-chart-conversations", colour=charts.TOTAL, per_group=True, span=span)
        self._render_responses()
        self.tables["breaches_now"].object = html_table(table_rows(report, "breaches_now"), t, zone,
                                                        css="sc-breaches", columns=BREACH_COLUMNS)
        self.tables["backlog"].object = html_table(table_rows(report, "backlog"), t, zone, css="sc-backlog",
                                                   columns=BACKLOG_COLUMNS)

    def _render_trend(self) -> None:
        report = self.model.report
        if report is None:
            return
        self.sentiment_chart.object = charts.sentiment_chart(
            self.model.sentiment(), self.t, interval=report.interval, zone=report.timezone,
            span=charts.local_span(report.since, report.until, self.zone))

    def _render_responses(self) -> None:
        report = self.model.report
        if report is None:
            return
        t, zone = self.t, self.zone
        dimension = self.response_dimension.value
        self.model.response_dimension = dimension
        first = table_rows(report, "response_times", metric="first_response", dimension=dimension)
        self.response_chart.object = charts.duration_chart(first, t, dimension=dimension)
        sla = table_rows(report, "sla", metric="first_response", dimension=dimension)
        self.sla_chart.object = charts.sla_chart(sla, t, dimension=dimension)
        self.tables["first_response"].object = html_table(first, t, zone, css="sc-first-response")
        self.tables["every_response"].object = html_table(
            table_rows(report, "response_times", metric="every_response", dimension=dimension), t, zone,
            css="sc-every-response")
        self.tables["resolution"].object = html_table(
            table_rows(report, "response_times", metric="resolution", dimension=dimension), t, zone,
            css="sc-resolution")
        self.tables["sla"].object = html_table(table_rows(report, "sla", dimension=dimension), t, zone, css="sc-sla")

