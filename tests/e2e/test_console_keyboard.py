"""The keyboard drives the inbox, and a manager who prefers Italian gets the interface in Italian."""
from __future__ import annotations

from pathlib import Path

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def test_shortcuts_move_open_assign_focus_and_resolve_in_italian(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7301, "Primo cliente", first_name="Alba", language_code="it")
        product.sandbox.customer_writes(7302, "Secondo cliente", first_name="Bruno", language_code="it")
        page = await signed_in_page(chromium, product.console, "marco")  # Agent.language = "it"
        await page.get_by_role("heading", name="social-care · Posta in arrivo").wait_for(timeout=10_000)
        rows = page.locator(".sc-row")
        await rows.nth(1).wait_for(timeout=5_000)
        first, second = [await r.locator(".sc-name").inner_text() for r in await rows.all()]

        await page.keyboard.press("j")
        await page.locator(".sc-row.sc-cursor", has_text=second).wait_for()
        await page.keyboard.press("k")
        await page.locator(".sc-row.sc-cursor", has_text=first).wait_for()
        await page.keyboard.press("j")
        await page.locator(".sc-row.sc-cursor", has_text=second).wait_for()
        await page.keyboard.press("Enter")
        await page.locator(".sc-thread .sc-head .sc-name", has_text=second).wait_for()

        await page.keyboard.press("a")
        await page.locator(".sc-thread .sc-assignee", has_text="Marco").wait_for()
        await page.keyboard.press("?")
        await page.get_by_role("heading", name="Scorciatoie da tastiera").wait_for()
        await page.keyboard.press("Escape")

        await page.keyboard.press("r")
        focused = await page.evaluate("""() => {
            let node = document.activeElement;
            while (node && node.shadowRoot && node.shadowRoot.activeElement) node = node.shadowRoot.activeElement;
            return node ? node.tagName : null;
        }""")
        assert focused == "TEXTAREA"
        await page.keyboard.type("j k e")  # typing in the reply box is not a shortcut
        assert await page.locator(".sc-composer textarea").input_value() == "j k e"
        await page.locator(".sc-composer textarea").blur()

        await page.keyboard.press("e")
        await page.locator(".sc-thread .sc-status-resolved", has_text="risolta").wait_for()
        await page.locator(".sc-row", has_text=second).wait_for(state="detached", timeout=5_000)
        assert await page.locator(".sc-row").count() == 1
        assert page.errors == []


async def test_enter_opens_the_highlighted_customer_even_after_a_p1_arrives_above(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7311, "Question about sizes", first_name="Alba")
        product.sandbox.customer_writes(7312, "Question about colours", first_name="Bruno")
        page = await signed_in_page(chromium, product.console, "giulia")
        rows = page.locator(".sc-row")
        await rows.nth(1).wait_for(timeout=20_000)
        second = await rows.nth(1).locator(".sc-name").inner_text()
        await page.keyboard.press("j")
        await page.locator(".sc-row.sc-cursor", has_text=second).wait_for()

        # A P1 lands on top of the list ("chargeback" is a P1 rule in this config).
        product.sandbox.customer_writes(7313, "I will file a chargeback today", first_name="Carla")
        await rows.first.locator(".sc-name", has_text="Carla").wait_for(timeout=20_000)
        await page.locator(".sc-row.sc-cursor", has_text=second).wait_for()  # the highlight stayed on its customer
        await page.keyboard.press("Enter")
        await page.locator(".sc-thread .sc-head .sc-name", has_text=second).wait_for(timeout=10_000)
        assert await page.locator(".sc-thread .sc-head .sc-name").inner_text() == second
        assert page.errors == []
