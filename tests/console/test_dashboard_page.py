"""The dashboard page without a browser: charts carry data, tables escape, CSVs are the CLI's, the bus refreshes."""
from __future__ import annotations

from types import SimpleNamespace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource

from console.dashboard import page as page_module
from console.dashboard.model import DashboardModel, ReportCache
from console.dashboard.page import DashboardPage
from console.dashboard.tables import html_table
from console.context import SessionAgent
from console.i18n import Translator
from console.page_registry import page_factories
from console.pages import may_open
from social_care.metrics.export import table_csv
from social_care.metrics.registry import MetricsConfig
from tests.console.conftest import World
from tests.social_care.metrics.conftest import clock, scenario  # noqa: F401 (fixtures)
from social_care.metrics import BusinessHours
from tests.social_care.metrics.scenario import BUSINESS_HOURS, NOW, RULES, Scenario
from triage import TriageRules


def sources(pane: pn.pane.Bokeh) -> list[ColumnDataSource]:
    assert pane.object is not None
    return [m for m in pane.object.references() if isinstance(m, ColumnDataSource)]


def real_now() -> datetime:
    # Ingest stamps events with the real clock; the dashboard must look at the same instants.
    return datetime.now(UTC) + timedelta(minutes=1)


async def dashboard(world: World, language: str = "en") -> DashboardPage:
    model = DashboardModel(world.db, config=MetricsConfig(TriageRules.from_dict({})), now=real_now,
                           cache=ReportCache())
    page = DashboardPage(world.context, world.session_agent("marco", language=language), session_id="d1", model=model)
    pn.panel(page.layout()).get_root(Document())
    return page


async def test_the_dashboard_draws_charts_tables_and_csvs(scenario: Scenario) -> None:
    context = SimpleNamespace(db=scenario.db, now=lambda: NOW)
    model = DashboardModel(scenario.db, config=MetricsConfig(RULES, BusinessHours.from_dict(BUSINESS_HOURS)),
                           now=lambda: NOW, cache=ReportCache())
    page = DashboardPage(context, SessionAgent(4, "marco", "<b>Marco</b>", "manager", "en", 2e9),  # type: ignore[arg-type]
                         session_id="d1", model=model)
    pn.panel(page.layout()).get_root(Document())
    await page.start()
    report = page.model.report
    assert report is not None and page.model.error == ""
    for pane in (page.sentiment_chart, page.complaints_chart, page.volume_chart, page.conversations_chart,
                 page.response_chart, page.sla_chart):
        assert pane.object is not None
    sentiment = next(s for s in sources(page.sentiment_chart) if "negative" in s.data)
    # The last 7 Rome days to Monday noon: Thu, Fri, Mon (test_scenario.py).
    assert (sentiment.data["messages"], sentiment.data["negative"]) == ([2, 4, 2], [1.0, 0.5, 0.5])
    assert sum(sum(s.data.get("count", [])) for s in sources(page.volume_chart)) == 8 * 2  # total + per channel
    assert page.sentiment_chart.object.title.text == "Sentiment of customer messages"
    assert page.volume_chart.object.title.text == "Inbound messages"
    assert "4h 00m" in page.kpis.object  # the oldest wait, C5's, in business hours (Mon 08:00-12:00 UTC)
    assert f'href="/inbox?c={scenario.conversations["C5"]}"' in page.tables["breaches_now"].object
    assert "<b>Marco</b>" not in str(page.layout())
    for name, download in page.downloads.items():
        assert download.filename == f"{name}.csv"
        assert download.callback().getvalue().decode() == table_csv(report, name)

    # The trend can be narrowed to one channel.
    page.trend_dimension.value = "channel"
    assert page.trend_group.visible and page.trend_group.options == ["telegram:acme", "x:acme"]
    page.trend_group.value = "x:acme"
    assert page.model.sentiment().messages == (1, 1)

    # The bus only marks the figures stale; the tick recomputes once DEBOUNCE has passed.
    loaded = page.model.loaded_at
    page.on_bus("message.received", {"ids": [9]})
    await page.tick()
    assert page.model.loaded_at == loaded
    page.model.loaded_at = loaded - page_module.DEBOUNCE - 1  # type: ignore[operator]
    await page.tick()
    assert page.model.loaded_at != loaded and not page._dirty
    page.close()


async def test_italian_labels_and_a_bad_custom_range(world: World) -> None:
    page = await dashboard(world, "it")
    await page.start()
    assert page.sentiment_chart.object.title.text == "Sentiment dei messaggi dei clienti"
    page.preset.value = "custom"
    assert page.start_date.visible and page.end_date.visible and page.apply.visible
    page.start_date.value, page.end_date.value = page.end_date.value, page.start_date.value
    await page.refresh()
    assert "prima della data" in page.status.object or "before" in page.status.object


def test_tables_escape_everything_and_link_breaches() -> None:
    html = html_table([{"conversation_id": 7, "channel": "<img src=x onerror=alert(1)>", "queue": "support",
                        "overdue_seconds": 5400.0}], Translator("en"), ZoneInfo("UTC"), css="sc-breaches")
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<a href="/inbox?c=7" target="_top">#7</a>' in html and "1h 30m" in html


def test_the_dashboard_is_registered_for_managers_and_admins_only() -> None:
    assert page_factories()["dashboard"] is DashboardPage
    assert [role for role in ("agent", "marketing", "manager", "admin") if may_open("dashboard", role)] == [
        "manager", "admin"]


@pytest.mark.parametrize("role", ["agent", "marketing"])
async def test_other_roles_get_the_not_for_your_role_page(world: World, role: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from console import app

    name = {"agent": "giulia", "marketing": "sara"}[role]
    agent = world.session_agent(name)
    cookie = world.context.signer.issue(agent_id=agent.id, name=agent.name, role=agent.role, language="en")
    # As ConsoleAuth hands a checked sign-in to the session it builds (the page never reads the cookie).
    monkeypatch.setattr(app, "session_claims", lambda: world.context.signer.verify(cookie))
    shown = app.page_app(world.context, "dashboard", DashboardPage)
    assert "Not for your role" in shown.object and "manager" in shown.object
