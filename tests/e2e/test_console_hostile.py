"""Hostile customer content is shown as text in a real browser: no script runs and the layout holds."""
from __future__ import annotations

from pathlib import Path

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)

NAME = '<img src=x onerror="window.__pwned=1">Eve\u202e'
TEXTS = [
    '<script>window.__pwned=2</script><b>bold?</b>',
    '[click me](javascript:window.__pwned=3) and javascript:window.__pwned=4',
    '<a href="javascript:window.__pwned=5">link</a> <svg onload="window.__pwned=6"></svg>',
    'before \u202eevil override\u202c after and zero\u200bwidth\u200d joiner\ufeff',
    'A' * 4000,
]


async def test_hostile_names_and_texts_are_inert_text_and_the_layout_holds(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        for text in TEXTS:
            product.sandbox.customer_writes(6660, text, first_name=NAME, username="eve_x")
        page = await signed_in_page(chromium, product.console, "giulia")
        row = page.locator(".sc-row").first
        await row.wait_for(timeout=10_000)
        await page.locator(".sc-row .sc-preview", has_text="AAAA").wait_for(timeout=5_000)
        await row.click()
        await page.locator(".sc-msg.sc-inbound").nth(len(TEXTS) - 1).wait_for(timeout=5_000)
        await page.wait_for_timeout(500)

        assert await page.evaluate("window.__pwned") is None, "customer content ran as script"
        assert await page.locator(".sc-thread .sc-head .sc-name").inner_text() == NAME
        shown = [await m.inner_text() for m in await page.locator(".sc-msg.sc-inbound .sc-text").all()]
        assert shown[0] == TEXTS[0] and shown[1] == TEXTS[1] and shown[2] == TEXTS[2]
        assert "\u200b" in shown[3] and "\u202e" in shown[3]  # kept, shown as text
        assert await page.locator(".sc-thread img, .sc-thread script, .sc-thread svg, .sc-inbox img").count() == 0
        assert await page.locator(".sc-thread a[href^='javascript'], .sc-inbox a").count() == 0

        # The layout holds: nothing pushes the page sideways, the giant message wraps inside its bubble.
        width = await page.evaluate("window.innerWidth")
        assert await page.evaluate("document.scrollingElement.scrollWidth") <= width + 1
        for selector in (".sc-inbox-list", ".sc-thread-view", ".sc-composer"):
            box = await page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, selector
        giant = await page.locator(".sc-msg.sc-inbound").nth(4).bounding_box()
        thread = await page.locator(".sc-thread-view").bounding_box()
        assert giant is not None and thread is not None and giant["x"] + giant["width"] <= thread["x"] + thread["width"] + 1
        # The RTL override stays inside the customer's name: the header around it reads left to right.
        assert await page.evaluate(
            """() => getComputedStyle(document.body).direction""") == "ltr"

        # Bad replies are refused with a clear message and nothing is sent.
        await page.locator(".sc-send").click()
        await page.locator(".sc-error-box").get_by_text("The reply is empty").wait_for()
        await page.locator(".sc-composer textarea").fill("x" * 4100)
        await page.locator(".sc-counter-over").get_by_text("4100 / 4096").wait_for()
        await page.locator(".sc-send").click()
        await page.locator(".sc-error-box").get_by_text(
            "The reply is 4100 characters as Telegram counts them; the limit is 4096.").wait_for()
        assert product.sandbox.sent_messages() == []
        assert page.errors == []
