"""Browser-test support: the product served as `social-care serve`, Debian Chromium driven by Playwright."""
from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from connectors.telegram.sandbox import TelegramSandbox
from connectors.x.sandbox import XSandbox
from social_care.store.agents import add_agent, set_password
from social_care.store.db import Database
from social_care.store.migrate import upgrade
from social_care.store.models import Agent
from tests.e2e.helpers import free_port, start_cli, telegram_channel_toml, wait_healthy, wait_ok
from tests.support.real_parts import missing, require_executable

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "care-e2e-password"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
AGENTS = (("giulia", "agent", "Giulia (care)", None), ("luca", "agent", "Luca (care)", None),
          ("sara", "marketing", "Sara (marketing)", None), ("marco", "manager", "Marco (manager)", "it"))


def chromium_path() -> str:
    """Debian's chromium, or skip (fail in CI); the Playwright package must be there too."""
    path = require_executable("chromium", "chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing("the playwright Python package")
    return path


@dataclass
class Product:
    """A running `social-care serve` with its console, and the Telegram sandbox it talks to."""

    sandbox: TelegramSandbox
    api: str
    console: str
    process: subprocess.Popen[str]
    log: Path
    x: XSandbox | None = None  # the X sandbox, when the product was started with an X channel


async def _agents(db_path: Path, agents: Iterable[tuple[str, str, str, str | None]]) -> None:
    url = f"sqlite+aiosqlite:///{db_path}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        for name, role, display, language in agents:
            await add_agent(db, name, role, display_name=display)
            await set_password(db, name, PASSWORD)
            if language:
                async with db.write() as session:
                    await session.execute(update(Agent).where(Agent.name == name).values(language=language))
    finally:
        await db.dispose()


def _x_channel_toml(x: XSandbox) -> str:
    """An X channel polled quickly (no webhooks: polling alone brings mentions and DMs in)."""
    creds = "\n".join(f'{key} = "{value}"' for key, value in x.credentials().items())
    return f"""
[[channels]]
platform = "x"
key = "acme"
name = "ACME on X"
user_id = "{x.brand_user_id}"
min_poll_interval = 0.2
api_base_url = "{x.url}"
{creds}
"""


def _config(path: Path, *, db: Path, port: int, sandbox: TelegramSandbox, x: XSandbox | None = None) -> Path:
    path.write_text(f"""
[service]
host = "127.0.0.1"
port = {port}
brand = "ACME"
session_secret = "e2e-console-session-secret-0123456789"

[database]
url = "sqlite+aiosqlite:///{db}"

[pipeline]
interval = 0.1

[triage]
[[triage.rules]]
match = "chargeback"   # a brand rule that makes any message mentioning it P1 (the toast test relies on it)
priority_bump = 8

[outbox]
interval = 0.1
backoff_base = 0.1
backoff_cap = 1.0
""" + telegram_channel_toml(sandbox, port) + (_x_channel_toml(x) if x is not None else ""))
    return path


@asynccontextmanager
async def served_product(tmp_path: Path, *, session_ttl: float | None = None, x: bool = False) -> AsyncIterator[Product]:
    """Start the product like an operator would (`social-care serve --config`) with its console (and X: `x`)."""
    async with AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(TelegramSandbox())
        x_sandbox = await stack.enter_async_context(XSandbox()) if x else None
        port, console_port = free_port(), free_port()
        db_path = tmp_path / "care.db"
        await _agents(db_path, AGENTS)
        config = _config(tmp_path / "care.toml", db=db_path, port=port, sandbox=sandbox, x=x_sandbox)
        env = {"SOCIAL_CARE_CONSOLE_PORT": str(console_port)}
        if session_ttl is not None:
            env["SOCIAL_CARE_CONSOLE_SESSION_TTL"] = str(session_ttl)
        log = tmp_path / "service.log"
        proc = start_cli("serve", "--config", str(config), cwd=REPO, log=log, env=env)
        api, console = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{console_port}"
        try:
            await wait_healthy(api, proc)
            await _wait_console(console, proc)
            yield Product(sandbox, api, console, proc, log, x_sandbox)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        assert proc.returncode == 0, log.read_text()[-3000:]


async def _wait_console(url: str, proc: subprocess.Popen[str]) -> None:
    await wait_ok(f"{url}/login", proc, "the console did not answer in time", timeout=20.0)


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    """A headless Debian Chromium (never a downloaded one)."""
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in_page(chromium: Any, console: str, name: str, *, path: str = "/inbox") -> Any:
    """A fresh browser context signed in as `name`, showing `path` (JS errors are collected on page.errors)."""
    context = await chromium.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    await page.goto(f"{console}{path}")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    return page


@pytest.fixture(autouse=True)
def kill_panel_servers() -> Iterator[None]:
    """Panel servers left running in this process keep pytest from exiting (CONSOLE.md); import it to use it."""
    yield
    from panel.io.state import state

    state.kill_all_servers()
