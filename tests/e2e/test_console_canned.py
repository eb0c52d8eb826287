"""Canned replies in real browsers: a manager writes one, an agent inserts it; agents cannot open the editor."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)

HOSTILE = '<img src=x onerror="window.__pwned=1">'


async def _pick_canned(page: Any, typed: str, name: str) -> None:
    """Type into the composer's canned search and pick `name`; typing again if the box was re-rendered meanwhile."""
    box = page.locator(".sc-canned input")
    option = page.locator(".sc-canned").get_by_text(name, exact=True)
    for _ in range(3):
        await box.fill("")
        await box.press_sequentially(typed)
        try:
            await option.wait_for(timeout=5_000)
        except Exception:  # playwright's TimeoutError: try once more
            continue
        await option.click()
        return
    raise AssertionError(f"the canned search never offered {name!r}")


async def test_a_manager_creates_a_reply_and_an_agent_inserts_it(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        # Giulia is already answering Tom when the reply is created: her open inbox gets it live.
        product.sandbox.customer_writes(7301, "Where is my parcel?", first_name="Tom", username="tomh")
        giulia = await signed_in_page(chromium, product.console, "giulia")
        await giulia.locator(".sc-row", has_text="Tom").click()
        await giulia.locator(".sc-msg.sc-inbound", has_text="Where is my parcel?").wait_for()

        # Marco is a manager whose interface is in Italian.
        marco = await signed_in_page(chromium, product.console, "marco", path="/canned")
        await marco.locator(".sc-canned-pick option", has_text="Greeting").wait_for(timeout=10_000)
        await marco.locator(".sc-canned-new button").click()
        await marco.locator(".sc-canned-name input").fill("Order check")
        await marco.locator(".sc-canned-text textarea").fill(
            "Hi {customer_name}, {agent_name} here: could you send me the order number? {brand}")
        await marco.locator(".sc-canned-preview", has_text="Hi Anna Bianchi, Marco (manager) here").wait_for()
        await marco.locator(".sc-canned-save button").click()
        await marco.locator(".sc-canned-info", has_text="Creata “Order check”").wait_for(timeout=5_000)
        await marco.locator(".sc-canned-pick option", has_text="Order check").wait_for()

        # Names are shown as text: a hostile one runs nothing and reads back as typed.
        await marco.locator(".sc-canned-new button").click()
        await marco.locator(".sc-canned-name input").fill(HOSTILE)
        await marco.locator(".sc-canned-text textarea").fill(f"{HOSTILE} {{customer_name}}")
        await marco.locator(".sc-canned-save button").click()
        await marco.locator(".sc-canned-heading", has_text=HOSTILE).wait_for(timeout=5_000)
        assert await marco.evaluate("window.__pwned") is None

        # A duplicate name is refused with a clear message.
        await marco.locator(".sc-canned-new button").click()
        await marco.locator(".sc-canned-name input").fill("order CHECK")
        await marco.locator(".sc-canned-text textarea").fill("again")
        await marco.locator(".sc-canned-save button").click()
        await marco.locator(".sc-canned-error", has_text="Esiste già una risposta chiamata “Order check”").wait_for(
            timeout=5_000)

        # Without reloading, the agent's composer offers the new reply.
        await _pick_canned(giulia, "Order", "Order check")
        box = giulia.locator(".sc-composer textarea")
        expected = "Hi Tom, Giulia (care) here: could you send me the order number? ACME"
        for _ in range(50):
            if await box.input_value() == expected:
                break
            await giulia.wait_for_timeout(100)
        assert await box.input_value() == expected
        assert marco.errors == [] and giulia.errors == []


async def test_an_agent_opening_the_canned_page_is_told_it_is_not_for_their_role(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        giulia = await signed_in_page(chromium, product.console, "giulia", path="/canned")
        await giulia.wait_for_url("**/inbox**")  # sign-in lands on a page the role may open
        await giulia.locator(".sc-nav-inbox").wait_for(timeout=10_000)
        assert await giulia.locator(".sc-nav-canned").count() == 0  # and the header offers no link to it
        await giulia.goto(f"{product.console}/canned")
        await giulia.get_by_text("Not for your role").wait_for(timeout=10_000)
        assert await giulia.locator(".sc-canned-editor").count() == 0
        assert await giulia.locator(".sc-canned-save").count() == 0
