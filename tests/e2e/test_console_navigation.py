"""Moving between console pages in a real browser leaves nothing broken behind in the service's log."""
from __future__ import annotations

from pathlib import Path

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def test_going_from_the_dashboard_to_the_canned_page_logs_no_orphaned_task(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(9101, "Where is my parcel?", first_name="Nadia")
        marco = await signed_in_page(chromium, product.console, "marco", path="/dashboard")
        await marco.locator(".sc-dash-kpis .sc-kpi").first.wait_for(timeout=30_000)
        for _ in range(3):
            await marco.locator(".sc-nav-canned").click()
            await marco.locator(".sc-canned-search input").wait_for(timeout=20_000)
            await marco.locator(".sc-nav-dashboard").click()
            await marco.locator(".sc-dash-kpis .sc-kpi").first.wait_for(timeout=30_000)
        await marco.context.close()
    log = product.log.read_text()
    assert "Task exception was never retrieved" not in log, log[-4000:]
    assert "WebSocketClosedError" not in log, log[-4000:]
