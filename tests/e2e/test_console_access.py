"""Who may open the console and what happens when a session ends, in a real browser."""
from __future__ import annotations

from pathlib import Path

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def test_roles_wrong_passwords_and_logout(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        context = await chromium.new_context()
        page = await context.new_page()
        await page.goto(f"{product.console}/inbox")
        assert "/login" in page.url
        await page.fill("input[name=name]", "giulia")
        await page.fill("input[name=password]", "care-demo-wrong")
        await page.click("button[type=submit]")
        await page.get_by_text("Wrong name or password.").wait_for()

        # Marketing asked for the inbox: signing in takes her to her own page instead; the inbox stays closed.
        sara = await signed_in_page(chromium, product.console, "sara")
        await sara.locator(".sc-nav-marketing").wait_for(timeout=10_000)
        assert sara.url.endswith("/marketing") and await sara.locator(".sc-nav-inbox").count() == 0
        await sara.goto(f"{product.console}/inbox")
        await sara.get_by_text("Not for your role").wait_for(timeout=10_000)
        assert await sara.locator(".sc-row").count() == 0 and await sara.locator(".sc-composer").count() == 0

        product.sandbox.customer_writes(7101, "Hello?", first_name="Ann")
        giulia = await signed_in_page(chromium, product.console, "giulia")
        await giulia.locator(".sc-row", has_text="Ann").click()
        # An agent takes a conversation for herself; only supervisors get the assign-to-someone menu.
        assert not await giulia.locator(".sc-assign").is_visible()
        marco = await signed_in_page(chromium, product.console, "marco")
        await marco.locator(".sc-row", has_text="Ann").click()
        await marco.locator(".sc-assign").wait_for()

        await giulia.locator(".sc-logout").click()
        await giulia.get_by_text("You are signed out.").wait_for()
        await giulia.goto(f"{product.console}/inbox")
        assert "/login" in giulia.url
