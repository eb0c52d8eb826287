"""A session that ends while the agent is typing: sign in again, come back to the same draft."""
from __future__ import annotations

from pathlib import Path

from tests.console.browser import PASSWORD, browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def test_an_expired_session_signs_in_again_and_keeps_the_draft(tmp_path: Path) -> None:
    async with served_product(tmp_path, session_ttl=25) as product, browser() as chromium:
        product.sandbox.customer_writes(7201, "Is my refund coming?", first_name="Bea")
        page = await signed_in_page(chromium, product.console, "giulia")
        await page.locator(".sc-row", has_text="Bea").click()
        await page.locator(".sc-msg.sc-inbound", has_text="refund coming").wait_for()
        box = page.locator(".sc-composer textarea")
        await box.click()  # waits until the composer is shown; typing into a hidden box goes nowhere
        await box.press_sequentially("Hi Bea, the refund left on Monday")
        assert await box.input_value() == "Hi Bea, the refund left on Monday"
        await page.wait_for_url("**/login?expired=1**", timeout=45_000)
        await page.get_by_text("your draft is kept").wait_for()
        await page.fill("input[name=name]", "giulia")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.locator(".sc-msg.sc-inbound", has_text="refund coming").wait_for(timeout=10_000)
        restored = page.locator(".sc-composer textarea")
        for _ in range(50):
            if await restored.input_value():
                break
            await page.wait_for_timeout(100)
        assert await restored.input_value() == "Hi Bea, the refund left on Monday"
        assert page.errors == []
