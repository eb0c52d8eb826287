"""Marketing in a real browser: a thread an agent forwards shows up live with the note, gets an answer, goes back."""
from __future__ import annotations

from pathlib import Path

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def test_a_forwarded_thread_reaches_marketing_live_and_can_be_handed_back(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        giulia = await signed_in_page(chromium, product.console, "giulia")
        sara = await signed_in_page(chromium, product.console, "sara")  # asked for the inbox, lands on her page
        await sara.locator(".sc-empty").first.wait_for(timeout=10_000)
        assert sara.url.endswith("/marketing")

        # A problem and a lead in one message: triage keeps it in support, the agent forwards the lead.
        product.sandbox.customer_writes(7301, "My last order arrived broken. Also, we run 12 shops and would like "
                                        "to stock your products",
                                        first_name="Nora")
        await giulia.locator(".sc-row", has_text="Nora").click()
        await giulia.locator(".sc-msg.sc-inbound", has_text="12 shops").wait_for()
        await giulia.get_by_placeholder("Note for marketing").fill("Reseller lead <b>12 shops</b>")
        await giulia.locator(".sc-forward button").click()

        # Live on the marketing page, with who sent it and the note, shown as text.
        row = sara.locator(".sc-row", has_text="Nora")
        await row.wait_for(timeout=5_000)
        handoff = row.locator(".sc-handoff")
        assert await handoff.inner_text() == "↪ from support, sent by giulia: Reseller lead <b>12 shops</b>"
        await row.click()
        await sara.locator(".sc-msg.sc-inbound", has_text="12 shops").wait_for()
        box = sara.locator(".sc-composer textarea")
        await box.fill("Hi Nora, our partnerships team will call you tomorrow.")
        await box.press("Control+Enter")
        (sent,) = await product.sandbox.wait_sent(1, chat_id=7301, timeout=10)
        assert sent["text"] == "Hi Nora, our partnerships team will call you tomorrow."
        await sara.locator(".sc-msg.sc-outbound .sc-delivery-sent").wait_for(timeout=5_000)

        # Tag it as a lead: the list shows the tag.
        await sara.locator(".sc-tags .sc-tag-suggestion[data-tag=lead]").click()
        await sara.locator(".sc-save-tags button").click()
        await row.locator(".sc-tag", has_text="#lead").wait_for(timeout=5_000)

        # Hand it back: it leaves marketing and the support inbox says who sent it and why.
        await sara.get_by_placeholder("Note for support").fill("Also asks about a damaged parcel")
        await sara.locator(".sc-hand-back button").click()
        await row.wait_for(state="detached", timeout=5_000)
        back = giulia.locator(".sc-row", has_text="Nora").locator(".sc-handoff")
        await back.get_by_text("from marketing, sent by sara: Also asks about a damaged parcel").wait_for(timeout=5_000)

        # Each role keeps to its pages.
        await sara.goto(f"{product.console}/inbox")
        await sara.get_by_text("Not for your role").wait_for(timeout=10_000)
        await sara.get_by_role("link", name="Marketing").wait_for()
        await giulia.goto(f"{product.console}/marketing")
        await giulia.get_by_text("Not for your role").wait_for(timeout=10_000)
        assert giulia.errors == [] and sara.errors == []
