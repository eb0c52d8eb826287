"""Tags in a real browser: Enter adds exactly what was typed, new slugs are created, bad ones are explained."""
from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.console.browser import browser, kill_panel_servers, served_product, signed_in_page  # noqa: F401 (autouse)


async def test_typed_tags_are_added_as_typed_and_custom_ones_are_created(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7601, "We run 12 shops in Turin, can we resell?", first_name="Nora")
        giulia = await signed_in_page(chromium, product.console, "giulia")
        row = giulia.locator(".sc-row", has_text="Nora")
        await row.click(timeout=20_000)
        await giulia.locator(".sc-msg.sc-inbound", has_text="12 shops").wait_for()

        box = giulia.locator(".sc-tags .sc-tag-input")
        chips = giulia.locator(".sc-tags .sc-tag-chip")
        await box.fill("lead")
        await box.press("Enter")
        await expect(chips).to_have_text(["#lead×"])
        await box.fill("turin")  # not a suggested tag: Enter creates it, it never picks "partnership"
        await expect(giulia.locator(".sc-tags .sc-tag-hint")).to_have_text("Enter adds #turin")
        await box.press("Enter")
        await expect(chips).to_have_text(["#lead×", "#turin×"])
        await expect(box).to_have_value("")

        # Not a slug: a visible reason, nothing added, what was typed stays to fix it.
        await box.fill("Big Shop!")
        await box.press("Enter")
        await expect(giulia.locator(".sc-tags .sc-tag-problem")).to_contain_text("“Big Shop!” cannot be a tag")
        await expect(chips).to_have_text(["#lead×", "#turin×"])
        await expect(box).to_have_value("Big Shop!")

        # Suggestions are added only by clicking them; a chip's × removes it.
        await box.fill("")
        await giulia.locator(".sc-tags .sc-tag-suggestion[data-tag=pr]").click()
        await expect(chips).to_have_text(["#lead×", "#turin×", "#pr×"])
        await giulia.get_by_role("button", name="Remove the tag pr").click()
        await expect(chips).to_have_text(["#lead×", "#turin×"])

        await giulia.locator(".sc-save-tags button").click()
        await row.locator(".sc-tag", has_text="#turin").wait_for(timeout=10_000)
        assert await row.locator(".sc-tag").all_inner_texts() == ["#lead", "#turin"]
        assert giulia.errors == []
