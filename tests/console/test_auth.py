"""Sign-in: stored scrypt passwords, signed expiring cookies, logout, and the served pages' redirects."""
from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from console.auth import COOKIE, SessionSigner, landing, safe_next
from console.login_guard import FORM_COOKIE, LoginThrottle
from console.server import ConsoleHandle, start_console
from social_care.config import Settings
from social_care.secrets import Secret
from social_care.service import build_runtime
from tests.console.conftest import PASSWORD, T0, Clock
from tests.e2e.helpers import free_port


def test_a_cookie_is_signed_expires_and_carries_its_session_epoch() -> None:
    clock = Clock(T0)
    signer = SessionSigner(b"k" * 32, ttl=60, clock=clock.epoch)
    value = signer.issue(agent_id=7, name="giulia", role="agent", language="it", epoch=3)
    claims = signer.verify(value)
    assert claims is not None and (claims.agent_id, claims.role, claims.language, claims.epoch) == (7, "agent", "it", 3)
    body, signature = value.split(".")
    assert signer.verify(body.replace(body[-2], "A" if body[-2] != "A" else "B") + "." + signature) is None
    assert SessionSigner(b"other-secret-123", clock=clock.epoch).verify(value) is None
    clock.advance(seconds=61)
    assert signer.verify(value) is None and signer.read(value) is not None  # expired, still readable
    assert signer.verify("garbage") is None and signer.verify(None) is None
    # The sign-out form's token is per session and tells nothing about the cookie.
    other = signer.read(signer.issue(agent_id=7, name="giulia", role="agent", language="it", epoch=3))
    assert other is not None and signer.logout_token(claims) != signer.logout_token(other)
    assert signer.logout_token(claims) not in value and signature not in signer.logout_token(claims)


def test_only_same_site_paths_are_followed_after_sign_in() -> None:
    assert safe_next("/inbox?c=4") == "/inbox?c=4"
    for bad in ("//evil.example/x", "https://evil.example", "javascript:alert(1)", "/\\evil", None, ""):
        assert safe_next(bad) == "/inbox"


@dataclass
class Served:
    handle: ConsoleHandle
    base: str
    clock: Clock
    runtime: Any
    settings: Settings


@pytest.fixture
async def served(sqlite_url: str) -> AsyncIterator[Served]:
    from social_care.store.agents import add_agent, set_password

    settings = Settings(database_url=sqlite_url, host="127.0.0.1", port=free_port(),
                        session_secret=Secret("a-test-secret-of-enough-length"))
    runtime = await build_runtime(settings)
    for name, role in (("giulia", "agent"), ("sara", "marketing")):
        await add_agent(runtime.db, name, role)
        await set_password(runtime.db, name, PASSWORD)
    clock = Clock(T0)
    import time

    clock.at = clock.at.fromtimestamp(time.time(), tz=T0.tzinfo)
    signer = SessionSigner(settings.session_secret.reveal().encode(), ttl=300, clock=clock.epoch)  # type: ignore[union-attr]
    handle = await start_console(runtime, settings, port=free_port(), signer=signer)
    yield Served(handle, handle.url, clock, runtime, settings)
    handle.stop()
    await runtime.db.dispose()


async def _form(http: aiohttp.ClientSession, base: str) -> tuple[str, str]:
    """Open the sign-in form like a browser: its hidden token and the cookie that must match it."""
    response = await http.get(f"{base}/login")
    token = re.search(r'name="form_token" value="([^"]+)"', await response.text())
    assert token is not None
    return token.group(1), response.cookies[FORM_COOKIE].value


async def _login(http: aiohttp.ClientSession, base: str, name: str, password: str) -> aiohttp.ClientResponse:
    token, cookie = await _form(http, base)
    headers = {"Cookie": f"{FORM_COOKIE}={cookie}"}
    return await http.post(f"{base}/login", allow_redirects=False, headers=headers,
                           data={"name": name, "password": password, "next": "/inbox?c=3", "form_token": token})


async def test_sign_in_with_the_stored_password_sets_a_signed_http_only_cookie(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        response = await http.get(f"{served.base}/inbox", allow_redirects=False)
        assert response.status == 302 and "login" in response.headers["Location"]
        page = await (await http.get(f"{served.base}/login")).text()
        assert 'type="password"' in page
        wrong = await _login(http, served.base, "giulia", "not-the-password")
        assert wrong.status == 401 and "Wrong name or password." in await wrong.text()
        unknown = await _login(http, served.base, "<script>alert(1)</script>", "whatever")
        assert "<script>alert(1)</script>" not in await unknown.text()  # echoed back escaped
        right = await _login(http, served.base, "giulia", PASSWORD)
        assert right.status == 302 and right.headers["Location"] == "/inbox?c=3"
        cookie = next(c for c in right.headers.getall("Set-Cookie") if c.startswith(f"{COOKIE}="))
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        value = right.cookies[COOKIE].value
        inbox = await http.get(f"{served.base}/inbox", headers={"Cookie": f"{COOKIE}={value}"}, allow_redirects=False)
        assert inbox.status == 200
        forged = await http.get(f"{served.base}/inbox", headers={"Cookie": f"{COOKIE}={value[:-3]}abc"},
                                allow_redirects=False)
        assert forged.status == 302


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={value}"}


async def _logout_token(http: aiohttp.ClientSession, base: str, value: str) -> str:
    """The sign-out form's token, as the page offers it."""
    page = await (await http.get(f"{base}/logout", headers=_cookie(value), allow_redirects=False)).text()
    token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert token is not None, page
    return token.group(1)


async def _logout(http: aiohttp.ClientSession, base: str, value: str) -> aiohttp.ClientResponse:
    token = await _logout_token(http, base, value)
    return await http.post(f"{base}/logout", headers=_cookie(value), data={"form_token": token},
                           allow_redirects=False)


async def _opens_inbox(http: aiohttp.ClientSession, base: str, cookie: str) -> bool:
    response = await http.get(f"{base}/inbox", headers=_cookie(cookie), allow_redirects=False)
    return response.status == 200


async def _another_console(served: Served) -> ConsoleHandle:
    # Another process: the same secret and database, nothing in memory shared with the first console.
    secret = served.settings.session_secret.reveal().encode()  # type: ignore[union-attr]
    signer = SessionSigner(secret, ttl=300, clock=served.clock.epoch)
    return await start_console(served.runtime, served.settings, port=free_port(), signer=signer)


async def test_logout_ends_the_session_and_expiry_sends_back_to_sign_in(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        value = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        out = await _logout(http, served.base, value)
        assert out.status == 302 and out.headers["Location"] == "/login?out=1"
        assert not await _opens_inbox(http, served.base, value)  # the old cookie no longer opens the inbox
        value = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        served.clock.advance(seconds=301)
        expired = await http.get(f"{served.base}/inbox", headers=_cookie(value), allow_redirects=False)
        assert expired.status == 302 and "login" in expired.headers["Location"]
        page = await (await http.get(f"{served.base}/login?expired=1")).text()
        assert "your draft is kept" in page


async def test_a_link_or_a_foreign_form_cannot_sign_anyone_out(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        value = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        # A cross-site link (GET) only shows the sign-out form.
        shown = await http.get(f"{served.base}/logout", headers=_cookie(value), allow_redirects=False)
        assert shown.status == 200 and 'method="post"' in await shown.text()
        assert COOKIE not in shown.cookies
        # A form posted from elsewhere has no token, or a guessed one.
        for data in ({}, {"form_token": "guessed"}):
            refused = await http.post(f"{served.base}/logout", headers=_cookie(value), data=data,
                                      allow_redirects=False)
            assert refused.status == 403 and COOKIE not in refused.cookies
        assert await _opens_inbox(http, served.base, value)
        # Another session's token does not sign this one out either.
        other = (await _login(http, served.base, "sara", PASSWORD)).cookies[COOKIE].value
        foreign = await http.post(f"{served.base}/logout", headers=_cookie(value),
                                  data={"form_token": await _logout_token(http, served.base, other)},
                                  allow_redirects=False)
        assert foreign.status == 403 and await _opens_inbox(http, served.base, value)


async def test_logout_and_password_change_end_every_session_in_every_console_at_once(served: Served) -> None:
    from social_care.store.agents import set_password

    running = await _another_console(served)
    started_after: ConsoleHandle | None = None
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            laptop = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
            phone = (await _login(http, running.url, "giulia", PASSWORD)).cookies[COOKIE].value
            sara = (await _login(http, served.base, "sara", PASSWORD)).cookies[COOKIE].value
            assert await _opens_inbox(http, running.url, laptop)
            await _logout(http, served.base, laptop)
            # No waiting: the other console asks the store on every request.
            for base in (served.base, running.url):
                assert not await _opens_inbox(http, base, laptop) and not await _opens_inbox(http, base, phone)
            started_after = await _another_console(served)  # a restart
            assert not await _opens_inbox(http, started_after.url, laptop)
            again = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
            assert await _opens_inbox(http, started_after.url, again)  # her new session works everywhere
            assert await _opens_inbox(http, running.url, again)

            # `social-care agent password` (another process) ends her sessions too, at once.
            await set_password(served.runtime.db, "giulia", "a-brand-new-password")
            for base in (served.base, running.url, started_after.url):
                assert not await _opens_inbox(http, base, again)
            assert (await _login(http, served.base, "giulia", PASSWORD)).status == 401
            assert (await _login(http, running.url, "giulia", "a-brand-new-password")).status == 302
            marketing = await http.get(f"{served.base}/marketing", headers=_cookie(sara), allow_redirects=False)
            assert marketing.status == 200  # other agents' sessions are untouched
    finally:
        running.stop()
        if started_after is not None:
            started_after.stop()


async def test_a_sign_in_not_posted_from_our_form_is_refused(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        # A cross-site page can post the fields, but it cannot read the form's token or set our cookie.
        forged = await http.post(f"{served.base}/login", allow_redirects=False,
                                 data={"name": "giulia", "password": PASSWORD, "form_token": "guessed"})
        assert forged.status == 403 and "sign-in form expired" in await forged.text()
        assert COOKIE not in forged.cookies


async def test_repeated_wrong_passwords_lock_the_account_for_a_while(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for _ in range(5):
            assert (await _login(http, served.base, "giulia", "guess")).status == 401
        locked = await _login(http, served.base, "giulia", PASSWORD)  # even the right password waits now
        assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
        assert "Too many failed attempts" in await locked.text() and COOKIE not in locked.cookies
        # Another account is not locked by someone guessing giulia's password.
        assert (await _login(http, served.base, "sara", PASSWORD)).status == 302


def test_the_throttle_counts_per_name_and_per_address_and_forgets_after_the_lockout() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_per_name=3, max_per_address=5, window=60, lockout=120, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("Giulia", "10.0.0.1")
    throttle.succeeded("giulia", "10.0.0.1")  # a right password resets the account's count
    for _ in range(2):
        throttle.failed("giulia", "10.0.0.1")
    assert throttle.retry_after("giulia", "10.0.0.2") == 0
    throttle.failed("GIULIA", "10.0.0.2")
    assert throttle.retry_after("giulia", "10.0.0.9") == 120  # names are compared case-insensitively
    for name in ("a", "b", "c", "d", "e"):
        throttle.failed(name, "10.0.0.3")
    assert throttle.retry_after("someone-else", "10.0.0.3") == 120  # one address trying many accounts
    now[0] = 121
    assert throttle.retry_after("giulia", "10.0.0.1") == 0 and throttle.retry_after("x", "10.0.0.3") == 0


def test_after_sign_in_each_role_lands_on_a_page_it_may_open() -> None:
    assert landing(None, "agent") == "/inbox" and landing(None, "marketing") == "/marketing"
    assert landing("/inbox?c=4", "marketing") == "/marketing"  # marketing may not open the inbox
    assert landing("/dashboard", "agent") == "/inbox" and landing("/dashboard", "manager") == "/dashboard"
    assert landing("//evil.example", "manager") == "/inbox"
    assert landing("/logout", "agent") == "/inbox" and landing("/login?next=/inbox", "marketing") == "/marketing"


async def test_a_page_the_role_may_not_open_is_answered_403(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        sara = (await _login(http, served.base, "sara", PASSWORD)).cookies[COOKIE].value
        giulia = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        for cookie, page in ((sara, "inbox"), (giulia, "dashboard"), (giulia, "canned"), (giulia, "marketing")):
            response = await http.get(f"{served.base}/{page}", headers=_cookie(cookie), allow_redirects=False)
            body = await response.text()
            assert response.status == 403 and "Not for your role" in body, (page, response.status)
            assert "Bokeh" not in body  # refused before any session was built
        assert (await http.get(f"{served.base}/marketing", headers=_cookie(sara), allow_redirects=False)).status == 200


def _embedded_token(page: str) -> dict[str, Any]:
    from bokeh.util.token import get_token_payload

    tokens = re.findall(r'\\?"token\\?"\s*:\s*\\?"([A-Za-z0-9_\-.]+)\\?"', page)
    assert tokens, "no Bokeh session token in the page"
    return dict(get_token_payload(tokens[0]))


async def test_the_session_cookie_is_nowhere_in_what_the_page_can_read(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        value = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        body, signature = value.split(".")
        response = await http.get(f"{served.base}/inbox", headers={"Cookie": f"{COOKIE}={value}; other=1"},
                                  allow_redirects=False)
        page = await response.text()
        assert response.status == 200
        payload = _embedded_token(page)
        assert payload.get("cookies") in ({}, None) and "Cookie" not in payload.get("headers", {})
        for secret in (value, body, signature):
            assert secret not in page and secret not in json.dumps(payload)


async def test_every_console_response_forbids_framing_and_sets_a_content_security_policy(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        value = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        sara = (await _login(http, served.base, "sara", PASSWORD)).cookies[COOKIE].value
        inbox = await http.get(f"{served.base}/inbox", headers=_cookie(value), allow_redirects=False)
        static = re.search(r'src="/?(static/[^"]+\.js[^"]*)"', await inbox.text())
        assert static is not None
        token, form_cookie = await _form(http, served.base)
        responses = [
            inbox,
            await http.get(f"{served.base}/login"),
            await http.post(f"{served.base}/login", allow_redirects=False, headers={"Cookie": f"{FORM_COOKIE}={form_cookie}"},
                            data={"name": "giulia", "password": PASSWORD, "form_token": token}),
            await http.get(f"{served.base}/inbox", allow_redirects=False),  # not signed in: a redirect
            await http.get(f"{served.base}/", headers=_cookie(value), allow_redirects=False),
            await http.get(f"{served.base}/inbox", headers=_cookie(sara), allow_redirects=False),  # 403
            await http.get(f"{served.base}/{static.group(1)}"),
            await http.get(f"{served.base}/logout", headers=_cookie(value), allow_redirects=False),
            await _logout(http, served.base, value),
            await http.get(f"{served.base}/no-such-page"),
        ]
        for response in responses:
            assert response.headers.get("X-Frame-Options") == "DENY", response.url
            policy = response.headers.get("Content-Security-Policy", "")
            assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, response.url
        assert [r.status for r in responses] == [200, 200, 302, 302, 302, 403, 200, 200, 302, 404]
