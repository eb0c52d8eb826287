"""The timeline in a real browser: a snooze shows a readable time in the agent's language, and waking is named."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import expect

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


async def test_a_snooze_reads_as_a_local_time_in_italian_and_the_customer_waking_it_is_named(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7701, "Ci sentiamo domani?", first_name="Gino")
        marco = await signed_in_page(chromium, product.console, "marco")  # Agent.language = "it"
        await marco.locator(".sc-row", has_text="Gino").click(timeout=20_000)
        await marco.locator(".sc-msg.sc-inbound", has_text="domani").wait_for()
        await marco.locator(".sc-snooze button").click()  # 4 h, the default
        snoozed = marco.locator(".sc-thread .sc-event-snoozed")
        await snoozed.wait_for(state="attached", timeout=10_000)  # the thread was redrawn with the snooze
        await marco.locator(".sc-thread .sc-timeline summary").click()
        await snoozed.wait_for(timeout=10_000)
        text = await snoozed.inner_text()
        assert not ISO.search(text), text
        month = await marco.evaluate("() => new Date(Date.now() + 4 * 3600e3).toLocaleString('it', {month: 'short'})")
        assert "posticipata fino a " in text and month in text, (text, month)

        # The customer writes again: the snooze ends and the timeline says so, not "aperta → aperta".
        product.sandbox.customer_writes(7701, "Anzi, mi serve oggi", first_name="Gino")
        await marco.locator(".sc-msg.sc-inbound", has_text="oggi").wait_for(timeout=15_000)  # the timeline stays open
        woke = marco.locator(".sc-thread .sc-event-unsnoozed")
        await expect(woke).to_contain_text("posticipo terminato: il cliente ha scritto", timeout=10_000)
        assert "aperta → aperta" not in await marco.locator(".sc-thread .sc-timeline").inner_text()
        assert marco.errors == []
