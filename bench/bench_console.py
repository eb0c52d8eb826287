"""Console figures: opening the inbox and a conversation in a big store, live latency, memory per session.

Run: .venv/bin/python bench/bench_console.py [--conversations 100000] [--messages 1000000] [--sessions 100]
     [--postgres] [--db PATH (SQLite file to reuse)] [--skip-browser]
The store is filled with synthetic rows in bulk, then the console's own view-models and a real Chromium
(Debian's, via Playwright) are timed against it. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiohttp import web

from connectors.telegram.sandbox import TelegramSandbox
from console.auth import SessionSigner
from console.canned import load_canned
from console.commands import Commands
from console.context import ConsoleContext, SessionAgent
from console.i18n import Translator
from console.presence import Presence
from console.server import start_console
from console.viewmodels.conversation import ConversationModel
from console.viewmodels.inbox import InboxModel
from social_care.bus import Bus
from social_care.config import Settings
from social_care.secrets import Secret
from social_care.service import build_app, build_runtime
from social_care.store.agents import add_agent, set_password
from social_care.store.db import Database
from social_care.store.migrate import upgrade

PASSWORD = "bench-password"
TEXTS = ("Where is my parcel? It has been a week", "I was charged twice for order {n}",
         "Il pacco non è arrivato, numero {n}", "Love the new app!", "Can I change my delivery address?",
         "Refund still missing for order {n}", "Servizio pessimo, terza volta questa settimana")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--renderer-process-limit=4"]


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), in MB."""
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def rows(conversations: int, messages: int, seed: int = 7) -> dict[str, Any]:
    """Synthetic contacts, identities, conversations and messages (as tuples for executemany)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    per = max(1, messages // conversations)
    data: dict[str, Any] = {"contacts": [], "identities": [], "conversations": [], "messages": []}
    mid = 0
    for c in range(1, conversations + 1):
        created = now - timedelta(minutes=rng.randint(5, 60 * 24 * 30))
        name = f"Customer {c}"
        data["contacts"].append((c, name, stamp(created), stamp(created)))
        data["identities"].append((c, c, 1, str(100_000 + c), name, f"cust{c}", rng.choice((None, 120, 15_000)),
                                   0, 0, stamp(created), stamp(created)))
        status = "open" if rng.random() < 0.6 else "resolved"
        priority = rng.choice((1, 2, 2, 3, 3, 3, 4))
        sla = stamp(now + timedelta(minutes=rng.randint(-120, 600))) if status == "open" and priority < 4 else None
        assignee = 1  # the bench's "someone else": the live test watches Unassigned
        data["conversations"].append((c, 1, c, c, f"chat:{100_000 + c}", status, rng.choice(("support", "support", "marketing")),
                                      priority, "[]", assignee, sla, 0, stamp(created) if status == "open" else None,
                                      stamp(created), stamp(created), stamp(created) if status == "resolved" else None))
        for m in range(per):
            mid += 1
            at = created + timedelta(minutes=m)
            inbound = m % 3 != 2
            text = rng.choice(TEXTS).format(n=mid)
            data["messages"].append((mid, c, 1, "inbound" if inbound else "outbound", "direct",
                                     f"{c}:{m}" if inbound else None, text, 0, 0, "[]", "{}", stamp(at), stamp(at),
                                     None if inbound else "sent", "done" if inbound else None, 1, "{}"))
    return data


def fill_sqlite(path: Path, conversations: int, messages: int) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    data = rows(conversations, messages)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    with db:
        db.execute("INSERT OR IGNORE INTO channels (id, platform, key, name, created_at) VALUES (1, 'telegram', 'acme', 'ACME', ?)",
                   (stamp(datetime.now(UTC)),))
        db.execute("INSERT OR IGNORE INTO agents (id, name, role, active, created_at) VALUES (1, 'bench-owner', 'agent', 1, ?)",
                   (stamp(datetime.now(UTC)),))
        db.executemany("INSERT INTO contacts (id, name, created_at, updated_at) VALUES (?,?,?,?)", data["contacts"])
        db.executemany("INSERT INTO identities (id, contact_id, channel_id, platform_user_id, display_name, handle, followers,"
                       " is_bot, blocked, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", data["identities"])
        db.executemany("INSERT INTO conversations (id, channel_id, contact_id, identity_id, thread_key, status, queue, priority,"
                       " priority_reasons, assignee_id, sla_due, public, waiting_since, created_at, updated_at, resolved_at)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", data["conversations"])
        db.executemany("INSERT INTO messages (id, conversation_id, channel_id, direction, kind, platform_message_id, text,"
                       " public, automated, attachments, raw, sent_at, received_at, delivery_status, pipeline_state,"
                       " pipeline_attempts, triage) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", data["messages"])
    db.execute("ANALYZE")
    db.close()


async def fill_postgres(url: str, conversations: int, messages: int) -> None:
    import asyncpg

    await asyncio.to_thread(upgrade, url)
    data = rows(conversations, messages)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        def dt(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        await conn.execute("INSERT INTO channels (id, platform, key, name, created_at) VALUES (1, 'telegram', 'acme', 'ACME', now())"
                           " ON CONFLICT DO NOTHING")
        await conn.execute("INSERT INTO agents (id, name, role, active, created_at) VALUES (1, 'bench-owner', 'agent', true,"
                           " now()) ON CONFLICT DO NOTHING")
        await conn.copy_records_to_table("contacts", columns=["id", "name", "created_at", "updated_at"],
                                         records=[(i, n, dt(a), dt(b)) for i, n, a, b in data["contacts"]])
        await conn.copy_records_to_table(
            "identities", columns=["id", "contact_id", "channel_id", "platform_user_id", "display_name", "handle",
                                   "followers", "is_bot", "blocked", "created_at", "updated_at"],
            records=[(*r[:7], bool(r[7]), bool(r[8]), dt(r[9]), dt(r[10])) for r in data["identities"]])
        await conn.copy_records_to_table(
            "conversations", columns=["id", "channel_id", "contact_id", "identity_id", "thread_key", "status", "queue",
                                      "priority", "priority_reasons", "assignee_id", "sla_due", "public", "waiting_since",
                                      "created_at", "updated_at", "resolved_at"],
            records=[(*r[:8], r[8], r[9], dt(r[10]), bool(r[11]), dt(r[12]), dt(r[13]), dt(r[14]), dt(r[15]))
                     for r in data["conversations"]])
        await conn.copy_records_to_table(
            "messages", columns=["id", "conversation_id", "channel_id", "direction", "kind", "platform_message_id", "text",
                                 "public", "automated", "attachments", "raw", "sent_at", "received_at", "delivery_status",
                                 "pipeline_state", "pipeline_attempts", "triage"],
            records=[(*r[:7], bool(r[7]), bool(r[8]), r[9], r[10], dt(r[11]), dt(r[12]), *r[13:]) for r in data["messages"]])
        for table in ("agents", "contacts", "identities", "conversations", "messages"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def timed(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"median {statistics.median(ordered) * 1000:7.1f} ms   max {ordered[-1] * 1000:7.1f} ms   (n={len(ordered)})"


async def view_model_figures(url: str, agent_id: int) -> None:
    db = Database(url)
    bus = Bus()
    context = ConsoleContext(db=db, bus=bus, commands=Commands(db, bus), presence=Presence(),
                             signer=SessionSigner(b"b" * 32), brand="ACME", default_language="en", canned=load_canned())
    agent = SessionAgent(agent_id, "bench", "Bench", "agent", "en", time.time() + 3600)
    t = Translator("en")
    try:
        cases = {"inbox, first page (open, all)": {}, "inbox, mine": {"scope": "mine"},
                 "inbox, unassigned": {"scope": "unassigned"}, "inbox, P1 only": {"priority": 1},
                 "inbox, search 'charged twice'": {"search": "charged twice"}}
        for label, filters in cases.items():
            samples = []
            for _ in range(3 if "search" in label else 10):
                inbox = InboxModel(context, agent, t, **filters)
                started = time.perf_counter()
                await inbox.refresh()
                samples.append(time.perf_counter() - started)
            print(f"  {label:<44} {timed(samples)}   total={inbox.total}")
        inbox = InboxModel(context, agent, t)
        await inbox.refresh()
        deep = []
        for page in (100, 1000):
            started = time.perf_counter()
            await inbox.go_to_page(page)
            deep.append(time.perf_counter() - started)
        print(f"  {'inbox, pages 100 and 1000 (OFFSET)':<44} {timed(deep)}")
        rng = random.Random(3)
        samples = []
        for _ in range(20):
            conversation = ConversationModel(context, agent, t)
            conversation.bind_session("bench")
            started = time.perf_counter()
            await conversation.open(rng.randint(1, inbox.total or 1))
            samples.append(time.perf_counter() - started)
        print(f"  {'open a conversation (thread, customer)':<44} {timed(samples)}")
    finally:
        await db.dispose()


async def browser_figures(url: str, sessions: int, measure_refresher: bool = False) -> None:
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium):
        print("  (skipped: /usr/bin/chromium is missing; apt-get install chromium)")
        return
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    async with TelegramSandbox() as sandbox:
        port = _free_port()
        settings = Settings(database_url=url, host="127.0.0.1", port=port, console=False,
                            session_secret=Secret("bench-console-secret-0123456789"), pipeline_interval=0.1,
                            outbox_interval=0.1,
                            channels=({"platform": "telegram", "key": "acme", "name": "ACME", "mode": "webhook",
                                       "token": sandbox.token, "secret_token": "bench-secret-token",
                                       "public_url": f"http://127.0.0.1:{port}", "api_base_url": sandbox.base_url},))
        runtime = await build_runtime(settings)
        # The priority refresher's first round after a start recomputes every thread waiting an hour or
        # more (most of the 60,000 here); it is measured on its own below, kept out of the console's figures.
        refresher, runtime.refresher = runtime.refresher, None
        try:
            await add_agent(runtime.db, "benchagent", "agent")
        except ValueError:
            pass
        await set_password(runtime.db, "benchagent", PASSWORD)
        app = build_app(runtime)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        console = await start_console(runtime, settings, port=_free_port())
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                first = await _session(browser, console.url)
                await first.locator(".sc-scope").get_by_text("Unassigned").click()
                await first.locator(".sc-total").get_by_text("conversations").wait_for()
                await asyncio.sleep(1.0)
                latencies = []
                run = random.randrange(10**6)  # a reused database keeps earlier runs' customers
                for n in range(5):
                    chat = 990_000_000 + run * 10 + n
                    name = f"Live{run}x{n}"
                    started = time.perf_counter()
                    sandbox.customer_writes(chat, f"Bench live message {n}", first_name=name)
                    await first.locator(".sc-row", has_text=name).wait_for(timeout=20_000)
                    latencies.append(time.perf_counter() - started)
                    await asyncio.sleep(0.3)
                print(f"  {'sandbox message -> row in an open inbox':<44} {timed(latencies)}")

                base = rss_mb()
                pages = []
                timings = []
                for _ in range(sessions):
                    started = time.perf_counter()
                    try:
                        page = await _session(browser, console.url)
                    except PlaywrightTimeout as err:  # a figure with a note beats no figure
                        print(f"  session {len(pages) + 1} did not render: {type(err).__name__}")
                        break
                    timings.append(time.perf_counter() - started)
                    # Freeze the rendered tab: its server session stays connected and alive, while the
                    # browser (on the same two cores) stops ticking clocks for pages nobody looks at.
                    cdp = await page.context.new_cdp_session(page)
                    await cdp.send("Page.setWebLifecycleState", {"state": "frozen"})
                    pages.append(page)
                sessions = max(1, len(pages))
                await asyncio.sleep(2.0)
                after = rss_mb()
                print(f"  {'sign-in to rendered inbox (sequential)':<44} {timed(timings)}")
                print(f"  {'server sessions alive':<44} {len(list(console.server._tornado._applications['/inbox'].sessions))}")
                print(f"  {'server memory: 1 session -> +' + str(sessions):<44} {base:7.1f} MB -> {after:7.1f} MB"
                      f" = {(after - base) / sessions:5.2f} MB per session")
                if console.context.pages is not None:
                    print(f"  {'shared inbox queries: hits / misses':<44} {console.context.pages.hits} / "
                          f"{console.context.pages.misses}")
                for page in pages:
                    await page.context.close()
                if refresher is not None and measure_refresher:
                    first = datetime.now(UTC)
                    for label, at in (("first round after a start", first),
                                      ("a round a minute later", first + timedelta(minutes=1))):
                        started = time.perf_counter()
                        changed = await refresher.run_once(at)
                        print(f"  {'priority refresher, ' + label:<44} {time.perf_counter() - started:7.1f} s"
                              f" ({refresher.last_refreshed} recomputed, {changed} changed)")
                await asyncio.sleep(20)  # unused sessions are dropped after 15 s
                print(f"  {'server memory after closing them (+20 s)':<44} {rss_mb():7.1f} MB")
                await browser.close()
        finally:
            console.stop()
            await runner.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _session(browser: Any, console: str) -> Any:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(f"{console}/inbox")
    await page.fill("input[name=name]", "benchagent")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.locator(".sc-row").first.wait_for(timeout=30_000)
    return page


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--db", type=Path, help="SQLite file to fill once and reuse")
    parser.add_argument("--postgres", action="store_true", help="also run on a PostgreSQL 15 started for the bench")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--refresher", action="store_true", help="also time one round of the priority refresher")
    args = parser.parse_args()

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-console-")))
        path = args.db or folder / "console.db"
        print(f"SQLite: {args.conversations:,} conversations, {args.messages:,} messages ({path})")
        if not path.exists():
            started = time.perf_counter()
            fill_sqlite(path, args.conversations, args.messages)
            print(f"  filled in {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:.0f} MB")
        url = f"sqlite+aiosqlite:///{path}"
        await view_model_figures(url, agent_id=2)
        if not args.skip_browser:
            await browser_figures(url, args.sessions, args.refresher)

        if args.postgres:
            sys.path.insert(0, str(REPO))
            from tests.support import postgres

            server = stack.enter_context(postgres.postgres_server())
            pg_url = stack.enter_context(postgres.fresh_database(server))
            print(f"PostgreSQL: {args.conversations:,} conversations, {args.messages:,} messages")
            started = time.perf_counter()
            await fill_postgres(pg_url, args.conversations, args.messages)
            print(f"  filled in {time.perf_counter() - started:.1f} s")
            await view_model_figures(pg_url, agent_id=2)


if __name__ == "__main__":
    asyncio.run(main())
