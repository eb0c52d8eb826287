"""The composer in a real browser: mode shown is mode used, collisions need a second click, no stale notes, no lost text."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import WebSocketRoute, expect

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def open_row(page: Any, customer: str, text: str) -> None:
    """Open a conversation from the list and wait until the page has switched to it (its draft restored)."""
    await page.locator(".sc-row", has_text=customer).click(timeout=20_000)
    await page.locator(".sc-msg.sc-inbound", has_text=text).wait_for()
    await page.wait_for_url("**/inbox?c=*")


async def write(page: Any, text: str) -> None:
    """Type a draft and wait until the server has it (its counter counts it)."""
    await page.locator(".sc-composer textarea").fill(text)
    await expect(page.locator(".sc-counter")).to_contain_text(f"{len(text)} / ", timeout=10_000)


async def test_a_collision_is_shown_above_send_and_sending_anyway_takes_a_second_click(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7401, "Hi, my order 8812 never arrived", first_name="Tom")
        giulia = await signed_in_page(chromium, product.console, "giulia")
        luca = await signed_in_page(chromium, product.console, "luca")  # 1440 x 900, like a laptop
        for page in (giulia, luca):
            await open_row(page, "Tom", "8812")

        await write(luca, "Hello Tom, let me check 8812")
        await write(giulia, "Hi Tom, 8812 ships today.")
        await giulia.locator(".sc-send button").click()
        await product.sandbox.wait_sent(1, chat_id=7401, timeout=10)
        await luca.locator(".sc-msg.sc-outbound", has_text="ships today").wait_for(timeout=10_000)

        # Luca's first click sends nothing: it shows the warning above the button, in view, and arms the button.
        send = luca.locator(".sc-send button")
        await send.click()
        await expect(send).to_have_text("Send anyway", timeout=10_000)
        warning = luca.locator(".sc-warning-box .sc-alert")
        await expect(warning).to_contain_text("replied while you were typing")
        await expect(warning).to_be_in_viewport()
        warning_box, send_box = await warning.bounding_box(), await send.bounding_box()
        assert warning_box is not None and send_box is not None and warning_box["y"] < send_box["y"]
        assert len(product.sandbox.sent_messages(chat_id=7401)) == 1
        assert await luca.locator(".sc-msg.sc-outbound").count() == 1

        # The second, deliberate click sends it.
        await send.click()
        second = await product.sandbox.wait_sent(2, chat_id=7401, timeout=10)
        assert second[-1]["text"] == "Hello Tom, let me check 8812"
        await expect(send).to_have_text("Send")
        await expect(luca.locator(".sc-warning-box")).to_have_text("")
        assert giulia.errors == [] and luca.errors == []


async def test_a_failed_reply_does_not_keep_a_green_reply_queued_beside_it(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7501, "Can you call me back?", first_name="Rita")
        giulia = await signed_in_page(chromium, product.console, "giulia")
        await open_row(giulia, "Rita", "call me back")
        product.sandbox.inject_fault("sendMessage", "403", count=None)  # the customer blocked the bot
        await write(giulia, "Sure, Rita: what number?")
        await giulia.locator(".sc-send button").click()
        await giulia.locator(".sc-msg.sc-outbound .sc-delivery-failed").wait_for(timeout=15_000)
        # Only the current state shows: the failure, not a green "Reply queued." from before it.
        await expect(giulia.locator(".sc-info-box")).not_to_contain_text("Reply queued.", timeout=5_000)
        assert giulia.errors == []



class SlowLink:
    """The console's server messages reach a page in order, one every `gap` seconds (a slow, busy link)."""

    def __init__(self, gap: float) -> None:
        self.gap = gap  # set to 0 to let what is queued through at once
        self.tasks: list[asyncio.Task[None]] = []

    async def install(self, page: Any) -> None:
        """Route the page's websockets through this link (those opened from now on)."""
        await page.route_web_socket(lambda url: url.endswith("/ws"), self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        frames: asyncio.Queue[str | bytes] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                frame = await frames.get()
                if self.gap and isinstance(frame, str) and frame.startswith("{") and '"msgtype"' in frame:
                    await asyncio.sleep(self.gap)  # a Bokeh message starts with its header frame
                ws.send(frame)

        self.tasks.append(asyncio.create_task(deliver()))
        server.on_message(frames.put_nowait)

    def close(self) -> None:
        """Stop delivering."""
        for task in self.tasks:
            task.cancel()


async def test_a_reply_typed_the_moment_the_thread_shows_is_sent_whole_on_a_slow_link(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7601, "Where is parcel 3301?", first_name="Nora")
        product.sandbox.customer_writes(7602, "Do you ship to Malta?", first_name="Ugo")
        giulia = await signed_in_page(chromium, product.console, "giulia")
        await giulia.locator(".sc-row", has_text="Ugo").wait_for(timeout=20_000)
        link = SlowLink(0.3)
        await link.install(giulia)
        try:
            await giulia.reload()
            box = giulia.locator(".sc-composer textarea")

            # Nora: a draft kept for later. Ugo: typed as soon as his message shows, as an agent does, and sent
            # once the counter counts it (the old console swapped drafts after that and sent nothing).
            await giulia.locator(".sc-row", has_text="Nora").click(timeout=30_000)
            await giulia.locator(".sc-msg.sc-inbound", has_text="3301").wait_for(timeout=30_000)
            await box.fill("Nora, parcel 3301 is")
            await giulia.locator(".sc-row", has_text="Ugo").click()
            await giulia.locator(".sc-msg.sc-inbound", has_text="Malta").wait_for(timeout=30_000)
            await write(giulia, "Yes Ugo, we ship to Malta.")
            await box.press("Control+Enter")
            (sent,) = await product.sandbox.wait_sent(1, chat_id=7602, timeout=30)
            assert sent["text"] == "Yes Ugo, we ship to Malta."
            await expect(box).to_have_value("", timeout=30_000)  # the console took the reply

            # Nora's draft was kept under her conversation (the thread on screen when it was typed), and
            # nothing of Ugo's reply is left as a draft.
            nora_id = await giulia.locator(".sc-row", has_text="Nora").get_attribute("data-id")
            drafts = await giulia.evaluate(
                "() => Object.fromEntries(Object.keys(localStorage).filter(k => k.startsWith('sc-draft:'))"
                ".map(k => [k, localStorage.getItem(k)]))")
            assert drafts == {f"sc-draft:giulia:{nora_id}": "Nora, parcel 3301 is"}, drafts
            assert product.sandbox.sent_messages(chat_id=7601) == []
            assert giulia.errors == []
        finally:
            link.close()
