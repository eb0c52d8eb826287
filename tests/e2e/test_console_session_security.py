"""What a signed-in page can read, who may frame it, and how signing out ends open tabs, in a real browser."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.console.browser import (  # noqa: F401 (autouse)
    PASSWORD,
    REPO,
    browser,
    kill_panel_servers,
    served_product,
    signed_in_page,
)

# Collects Content-Security-Policy violations from the page (they are composed events: shadow roots included).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI), true);
"""


def _decoded_tokens(html: str) -> list[str]:
    """Every Bokeh session token embedded in the page, decoded the way page JavaScript could decode it."""
    decoded = []
    for token in re.findall(r'\\?"token\\?"\s*:\s*\\?"([A-Za-z0-9_\-.]+)\\?"', html):
        for part in token.split("."):
            try:
                decoded.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8", "replace"))
            except ValueError:
                continue
    return decoded


async def _session_cookie(page: Any) -> str:
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == "sc_console"]
    assert cookie["httpOnly"]
    return str(cookie["value"])


async def test_the_page_cannot_read_the_session_cookie_and_the_console_still_works(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7401, "Has my parcel left?", first_name="Cleo")
        context = await chromium.new_context(viewport={"width": 1440, "height": 900})
        await context.add_init_script(CSP_WATCH)
        page = await context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        await page.goto(f"{product.console}/inbox")
        await page.fill("input[name=name]", "giulia")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.locator(".sc-row", has_text="Cleo").click()
        await page.locator(".sc-msg.sc-inbound", has_text="parcel left").wait_for(timeout=10_000)

        value = await _session_cookie(page)
        body, signature = value.split(".")
        html = await page.content()
        raw = await (await page.request.get(f"{product.console}/inbox")).text()  # the page as served
        readable = await page.evaluate("""() => JSON.stringify({
            cookie: document.cookie,
            html: document.documentElement.outerHTML,
            local: Object.entries(localStorage), session: Object.entries(sessionStorage),
            url: location.href,
            shadow: (function walk(root) {  // everything rendered inside Panel's shadow roots
                return [...root.querySelectorAll('*')].filter(e => e.shadowRoot)
                    .map(e => e.shadowRoot.innerHTML + walk(e.shadowRoot)).join('');
            })(document),
        })""")
        tokens = _decoded_tokens(raw) + _decoded_tokens(html)
        assert tokens, "the served page embeds no Bokeh token to check"
        for place in (html, raw, readable, *tokens):
            for secret in (value, body, signature):
                assert secret not in place
        assert "sc_console" not in readable and all("sc_console" not in token for token in tokens)

        # Still a working console: the reply reaches the customer, with nothing the policy blocked.
        await page.locator(".sc-composer textarea").fill("Yes Cleo, it left this morning")
        await page.locator(".sc-composer textarea").press("Control+Enter")
        (sent,) = await product.sandbox.wait_sent(1, chat_id=7401, timeout=10)
        assert sent["text"] == "Yes Cleo, it left this morning"
        assert await page.evaluate("window.__cspViolations") == [] and page.errors == []

        # Headers on the page itself, and another site cannot frame it.
        response = await page.goto(f"{product.console}/inbox")
        assert response is not None
        headers = await response.all_headers()
        assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers["content-security-policy"]
        await page.locator(".sc-row", has_text="Cleo").wait_for(timeout=10_000)
        other_site = await context.new_page()
        await other_site.goto(f"{product.api}/healthz")  # another origin (the service's port)
        await other_site.set_content(f'<iframe id="f" src="{product.console}/inbox"></iframe>')
        frame = other_site.frames[-1]
        await frame.wait_for_load_state()
        assert await frame.locator(".sc-row").count() == 0 and await frame.locator("input[name=name]").count() == 0


async def test_signing_out_in_one_tab_ends_the_other_tab_at_once(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7402, "Can I change my address?", first_name="Dario")
        first = await signed_in_page(chromium, product.console, "giulia")
        second = await first.context.new_page()  # a second tab of the same browser
        await second.goto(f"{product.console}/inbox")
        await second.locator(".sc-row", has_text="Dario").click()
        await second.locator(".sc-msg.sc-inbound", has_text="change my address").wait_for(timeout=10_000)
        await second.locator(".sc-composer textarea").fill("Sure Dario, send me the new one")

        # A link from elsewhere (GET /logout) signs nobody out: it only offers the form.
        probe = await first.context.new_page()
        await probe.goto(f"{product.console}/logout")
        await probe.locator("form.sc-logout-form").wait_for()
        await probe.close()
        await second.locator(".sc-composer textarea").wait_for()

        await first.locator(".sc-logout").click()
        await first.get_by_text("You are signed out.").wait_for(timeout=10_000)
        await second.get_by_text("You were signed out").wait_for(timeout=5_000)
        assert await second.locator(".sc-composer").count() == 0  # nothing left to send with
        # Reloading does not bring the inbox back, and no reply left.
        await second.reload()
        assert "/login" in second.url
        assert product.sandbox.sent_messages(chat_id=7402) == []


async def test_a_password_change_from_the_cli_ends_a_live_tab(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7403, "Is the shop open on Sunday?", first_name="Ebe")
        page = await signed_in_page(chromium, product.console, "luca")
        await page.locator(".sc-row", has_text="Ebe").click()
        await page.locator(".sc-composer textarea").fill("Yes, 10 to 18")
        database = f"sqlite+aiosqlite:///{tmp_path / 'care.db'}"
        changed = subprocess.run([sys.executable, "-m", "social_care.cli", "agent", "password", "luca",
                                  "--database-url", database], input="a-new-password-for-luca\n", text=True,
                                 cwd=REPO, capture_output=True, timeout=60)
        assert changed.returncode == 0, changed.stderr
        # Another process changed it: this console sees it on its next check of open tabs (every 2 s).
        await page.get_by_text("You were signed out").wait_for(timeout=10_000)
        assert await page.locator(".sc-composer").count() == 0
        assert product.sandbox.sent_messages(chat_id=7403) == []
        response = await page.goto(f"{product.console}/inbox")
        assert response is not None and "/login" in page.url
        assert json.dumps(product.sandbox.sent_messages()) == "[]"


async def test_every_page_renders_under_the_content_security_policy(tmp_path: Path) -> None:
    async with served_product(tmp_path) as product, browser() as chromium:
        product.sandbox.customer_writes(7404, "Do you ship to Malta?", first_name="Fabio")
        context = await chromium.new_context(viewport={"width": 1440, "height": 900})
        await context.add_init_script(CSP_WATCH)
        page = await context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        await page.goto(f"{product.console}/login")
        await page.fill("input[name=name]", "marco")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        for path in ("/inbox", "/marketing", "/dashboard", "/canned"):
            response = await page.goto(f"{product.console}{path}")
            assert response is not None and response.status == 200
            assert "frame-ancestors 'none'" in (await response.all_headers())["content-security-policy"]
            await page.locator(f".sc-nav-{path.strip('/')}[aria-current=page]").wait_for(timeout=15_000)
            if path == "/dashboard":
                await page.locator(".sc-dashboard").wait_for(timeout=15_000)
            assert await page.evaluate("window.__cspViolations") == [], path
        assert page.errors == []
