"""The spike banner on every console page: shown to everyone on duty while a spike alert is active (one hour)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import panel as pn
from bokeh.document import Document

from console.i18n import Translator
from social_care.metrics.business_hours import BusinessHours
from social_care.metrics.spike_watch import ACTIVE_FOR, TOPIC, SpikeAlert, active_alerts
from social_care.store.db import Database

logger = logging.getLogger(__name__)

BANNER_TICK_MS = 60_000  # how often an expired alert is taken down

STYLE = """
.sc-spike { background: #c62828; color: #fff; padding: 8px 14px; border-radius: 6px; font: 600 14px system-ui, sans-serif;
  display: flex; flex-direction: column; gap: 2px; }
.sc-spike .sc-spike-line::before { content: "⚠ "; }
"""


class SpikeBanner:
    """A pane listing the active alerts; fed by the bus (any thread) and loaded from the events at start."""

    def __init__(self, db: Database, t: Translator, *, now: Callable[[], datetime], zone: ZoneInfo | None = None,
                 calendar: BusinessHours | None = None, doc: Document | None = None) -> None:
        self.db = db
        self.t = t
        self.now = now
        self.zone = zone or (calendar.timezone if calendar is not None else ZoneInfo("UTC"))
        self.doc = doc
        self.alerts: dict[str, SpikeAlert] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.pane = pn.pane.HTML("", sizing_mode="stretch_width", visible=False, stylesheets=[STYLE],
                                 css_classes=["sc-spike-banner"], margin=(2, 5))

    async def load(self) -> None:
        """Show the alerts raised in the last hour (a page opened after the alert still shows it)."""
        self._loop = asyncio.get_running_loop()
        try:
            for alert in await active_alerts(self.db, now=self.now()):
                self._keep(alert)
        except Exception:
            logger.exception("loading spike alerts failed")
        self.render()

    def on_bus(self, topic: str, data: dict[str, Any]) -> None:
        """Bus listener, any thread: hand the alert to the session's own thread."""
        if topic != TOPIC:
            return
        raised = data.get("raised_at")
        try:
            at = datetime.fromisoformat(raised) if isinstance(raised, str) else self.now()
        except ValueError:
            at = self.now()
        alert = SpikeAlert.from_data(data, at)
        if alert is None:
            return

        def show() -> None:
            self._keep(alert)
            self.render()

        if self.doc is not None and self.doc.session_context is not None:
            self.doc.add_next_tick_callback(show)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(show)
        else:
            show()

    async def tick(self) -> None:
        """Periodic: drop alerts older than an hour."""
        self.render()

    def _keep(self, alert: SpikeAlert) -> None:
        current = self.alerts.get(alert.signal)
        if current is None or alert.raised_at >= current.raised_at:
            self.alerts[alert.signal] = alert

    def render(self) -> None:
        """Redraw from the active alerts; every value is escaped."""
        now = self.now()
        self.alerts = {s: a for s, a in self.alerts.items() if now - a.raised_at < ACTIVE_FOR}
        lines = []
        for alert in sorted(self.alerts.values(), key=lambda a: a.signal):
            text = self.t(f"spike.banner.{alert.signal}", current=alert.current,
                          threshold=f"{alert.threshold:.1f}",
                          end=alert.window_end.astimezone(self.zone).strftime("%H:%M"))
            lines.append(f'<div class="sc-spike-line" data-signal="{escape(alert.signal)}">{escape(text)}</div>')
        self.pane.object = f'<div class="sc-spike" role="alert">{"".join(lines)}</div>' if lines else ""
        self.pane.visible = bool(lines)
