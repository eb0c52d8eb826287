"""A P1 arriving raises a toast in every open inbox; an ordinary message does not."""
from __future__ import annotations

from pathlib import Path

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def test_a_p1_raises_a_toast_and_a_routine_message_does_not(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        giulia = await signed_in_page(chromium, product.console, "giulia")
        await giulia.locator(".sc-empty").first.wait_for(timeout=10_000)
        toasts = giulia.locator(".notyf__toast")

        product.sandbox.customer_writes(7401, "Hello, what are your opening hours?", first_name="Olga")
        await giulia.locator(".sc-row", has_text="Olga").wait_for(timeout=5_000)

        # The brand's rule (tests/console/browser.py) makes a chargeback threat P1.
        product.sandbox.customer_writes(7402, "I am filing a chargeback with my bank today", first_name="Piet")
        toast = toasts.filter(has_text="P1: Piet on Telegram")
        await toast.wait_for(timeout=5_000)
        assert await toasts.count() == 1  # none for Olga's routine question
        row = giulia.locator(".sc-row").first  # and the P1 is on top of the list
        await row.get_by_text("Piet").wait_for(timeout=5_000)
        assert await row.locator(".sc-pri").inner_text() == "P1"
        assert giulia.errors == []
