"""The manager dashboard in a real browser: charts with data, a CSV download, roles, and the spike banner."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)

ANGRY = ("This is terrible, I hate this awful service!", "Worst experience ever, I am furious and disgusted.",
         "Horrible. Your product is broken and useless, terrible support.")

# Every ColumnDataSource of the page's Bokeh documents, with its column lengths.
SOURCES_JS = """() => {
  const out = [];
  for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
    for (const model of doc.all_models) {
      if (model.type !== "ColumnDataSource") continue;
      const data = model.data instanceof Map ? Object.fromEntries(model.data) : model.data;
      out.push(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.length])));
    }
  }
  return out;
}"""


async def sources(page: Any) -> list[dict[str, int]]:
    return await page.evaluate(SOURCES_JS)


async def test_dashboard_charts_csv_roles_and_the_spike_banner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The spike watcher checks every second and alerts from 2 negative messages (baseline: nothing).
    monkeypatch.setenv("SOCIAL_CARE_ALERTS_CHECK_INTERVAL", "1")
    monkeypatch.setenv("SOCIAL_CARE_ALERTS_MIN_COUNT", "2")
    async with served_product(tmp_path) as product, browser() as chromium:
        giulia = await signed_in_page(chromium, product.console, "giulia")
        await giulia.locator(".sc-inbox-list").wait_for(state="attached", timeout=30_000)
        assert not await giulia.locator(".sc-spike").is_visible()

        for index, text in enumerate(ANGRY):
            product.sandbox.customer_writes(8100 + index, text, first_name=f"<b>Angry {index}</b>")
        # The open inbox page shows the banner once the watcher sees the spike (published on the bus).
        banner = giulia.locator(".sc-spike-line[data-signal=negative]")
        await banner.wait_for(timeout=20_000)
        assert "Spike of negative messages" in await banner.inner_text()

        # Roles: an agent and marketing get the wrong-role page, the manager the dashboard.
        await giulia.goto(f"{product.console}/dashboard")
        await giulia.get_by_text("Not for your role").wait_for(timeout=10_000)
        assert await giulia.locator(".sc-dashboard").count() == 0
        sara = await signed_in_page(chromium, product.console, "sara", path="/dashboard")
        await sara.wait_for_url("**/marketing")  # sign-in lands a role on a page it may open
        await sara.goto(f"{product.console}/dashboard")
        await sara.get_by_text("Not for your role").wait_for(timeout=10_000)
        assert await sara.locator(".sc-dashboard").count() == 0

        marco = await signed_in_page(chromium, product.console, "marco", path="/dashboard")  # Italian
        await marco.locator(".sc-dash-status", has_text="Dati dal").wait_for(timeout=30_000)
        for css in ("sc-dash-sentiment", "sc-dash-volume", "sc-dash-conversations", "sc-dash-complaints",
                    "sc-dash-response", "sc-dash-sla"):
            await marco.locator(f".{css} canvas").first.wait_for(state="attached", timeout=15_000)
        assert await marco.locator(".sc-spike-line").count() == 1  # the banner is on every page
        found = await sources(marco)
        volume = [s for s in found if set(s) == {"x", "label", "count"} and s["x"] > 0]
        sentiment = [s for s in found if "negative" in s and s["x"] > 0]
        assert volume and sentiment, found
        assert marco.errors == []

        async with marco.expect_download(timeout=15_000) as info:
            await marco.locator(".sc-dash-download-response_times").first.click()
        download = await info.value
        assert download.suggested_filename == "response_times.csv"
        text = Path(await download.path()).read_text(encoding="utf-8")
        assert next(csv.reader(io.StringIO(text))) == ["metric", "dimension", "group", "count", "median_seconds",
                                                       "p90_seconds"]
