"""Sign-in: stored scrypt passwords, signed expiring cookies, logout, and the served pages' redirects."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from console.auth import COOKIE, SessionSigner, safe_next
from console.server import ConsoleHandle, start_console
from social_care.config import Settings
from social_care.secrets import Secret
from social_care.service import build_runtime
from tests.console.conftest import PASSWORD, T0, Clock
from tests.e2e.helpers import free_port


def test_a_cookie_is_signed_expires_and_can_be_revoked() -> None:
    clock = Clock(T0)
    signer = SessionSigner(b"k" * 32, ttl=60, clock=clock.epoch)
    value = signer.issue(agent_id=7, name="giulia", role="agent", language="it")
    claims = signer.verify(value)
    assert claims is not None and (claims.agent_id, claims.role, claims.language) == (7, "agent", "it")
    body, signature = value.split(".")
    assert signer.verify(body.replace(body[-2], "A" if body[-2] != "A" else "B") + "." + signature) is None
    assert SessionSigner(b"other-secret-123", clock=clock.epoch).verify(value) is None
    clock.advance(seconds=61)
    assert signer.verify(value) is None and signer.read(value) is not None  # expired, still readable for logout
    clock.advance(seconds=-61)
    signer.revoke(claims)
    assert signer.verify(value) is None
    assert signer.verify("garbage") is None and signer.verify(None) is None


def test_only_same_site_paths_are_followed_after_sign_in() -> None:
    assert safe_next("/inbox?c=4") == "/inbox?c=4"
    for bad in ("//evil.example/x", "https://evil.example", "javascript:alert(1)", "/\\evil", None, ""):
        assert safe_next(bad) == "/inbox"


@dataclass
class Served:
    handle: ConsoleHandle
    base: str
    clock: Clock


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
    yield Served(handle, handle.url, clock)
    handle.stop()
    await runtime.db.dispose()


async def _login(http: aiohttp.ClientSession, base: str, name: str, password: str) -> aiohttp.ClientResponse:
    return await http.post(f"{base}/login", data={"name": name, "password": password, "next": "/inbox?c=3"},
                           allow_redirects=False)


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
        cookie = right.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        value = right.cookies[COOKIE].value
        inbox = await http.get(f"{served.base}/inbox", headers={"Cookie": f"{COOKIE}={value}"}, allow_redirects=False)
        assert inbox.status == 200
        forged = await http.get(f"{served.base}/inbox", headers={"Cookie": f"{COOKIE}={value[:-3]}abc"},
                                allow_redirects=False)
        assert forged.status == 302


async def test_logout_ends_the_session_and_expiry_sends_back_to_sign_in(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        value = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        headers = {"Cookie": f"{COOKIE}={value}"}
        out = await http.get(f"{served.base}/logout", headers=headers, allow_redirects=False)
        assert out.status == 302 and out.headers["Location"] == "/login?out=1"
        again = await http.get(f"{served.base}/inbox", headers=headers, allow_redirects=False)
        assert again.status == 302  # the old cookie no longer opens the inbox
        value = (await _login(http, served.base, "giulia", PASSWORD)).cookies[COOKIE].value
        served.clock.advance(seconds=301)
        expired = await http.get(f"{served.base}/inbox", headers={"Cookie": f"{COOKIE}={value}"},
                                 allow_redirects=False)
        assert expired.status == 302 and "login" in expired.headers["Location"]
        page = await (await http.get(f"{served.base}/login?expired=1")).text()
        assert "your draft is kept" in page
