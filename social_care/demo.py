"""`social-care demo`: the sandboxes, the service on SQLite and a scripted customer stream, wired."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp

from connectors.telegram.sandbox import TelegramSandbox
from connectors.x.sandbox import XSandbox, snowflake_now
from social_care.config import RetryPolicy, Settings
from social_care.demo_script import PRESALE_NOTE, PRIYA, SCRIPT, X_CUSTOMERS, X_SCRIPT, DemoLine
from social_care.runner import start_service, wait_for_stop
from social_care.store.agents import add_agent, rotate_token, set_password
from social_care.store.db import Database

logger = logging.getLogger(__name__)

DEMO_TOKEN = "123456789:DEMO-sandbox-token"
DEMO_PASSWORD = "care-demo"  # demo only: printed on start, like the tokens
DEMO_AGENTS = (("giulia", "agent", "Giulia (care)"), ("luca", "agent", "Luca (care)"),
               ("sara", "marketing", "Sara (marketing)"), ("marco", "manager", "Marco (manager)"))


def demo_settings(folder: Path, *, port: int, sandbox: TelegramSandbox, x_sandbox: XSandbox) -> Settings:
    """Settings for the demo: SQLite in `folder`, a Telegram and an X channel on the sandboxes via webhooks."""
    return Settings(
        database_url=f"sqlite+aiosqlite:///{(folder / 'social-care.db').resolve()}",
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_attempts=5, backoff_base=0.5, backoff_cap=10.0),
        pipeline_interval=0.5,
        outbox_interval=0.5,
        channels=(
            {
                "platform": "telegram",
                "key": "acme",
                "name": "ACME Care (Telegram)",
                "mode": "webhook",
                "token": DEMO_TOKEN,
                "secret_token": secrets.token_urlsafe(24),
                "public_url": f"http://127.0.0.1:{port}",
                "api_base_url": sandbox.base_url,
                "api_file_url": sandbox.base_file_url,
            },
            {
                "platform": "x",
                "key": "acme",
                "name": "ACME on X",
                "user_id": x_sandbox.brand_user_id,
                "webhooks": True,
                "min_poll_interval": 15.0,
                "api_base_url": x_sandbox.url,
                **x_sandbox.credentials(),
            },
        ),
    )


async def _demo_tokens(database_url: str) -> dict[str, str]:
    db = Database(database_url)
    tokens = {}
    try:
        for name, role, display in DEMO_AGENTS:
            try:
                _agent, tokens[name] = await add_agent(db, name, role, display_name=display)
            except ValueError:
                tokens[name] = await rotate_token(db, name)
            await set_password(db, name, DEMO_PASSWORD)
    finally:
        await db.dispose()
    return tokens


def _play(sandbox: TelegramSandbox, line: DemoLine, last_message: dict[int, int]) -> None:
    who = line.customer
    person: dict[str, Any] = {"first_name": who.first_name, "last_name": who.last_name,
                              "username": who.username, "language_code": who.language_code}
    if line.edit_of_previous and who.chat_id in last_message:
        sandbox.customer_edits(who.chat_id, last_message[who.chat_id], line.text or "")
        return
    update = sandbox.customer_writes(who.chat_id, line.text, **person, **line.extra)
    last_message[who.chat_id] = update["message"]["message_id"]


async def play_x_script(sandbox: XSandbox, speed: float = 1.0) -> None:
    """Make the demo's X customers mention the brand and write DMs, then repeat slowly."""
    for customer in X_CUSTOMERS:
        sandbox.add_user(customer.user_id, customer.username, customer.name, followers=customer.followers,
                         verified=customer.verified)
    last_tweet: dict[str, str] = {}
    rounds = 0
    while True:
        for line in X_SCRIPT:
            await asyncio.sleep((line.after if rounds == 0 else 25) / max(speed, 0.01))
            who = line.customer.user_id
            if line.dm:
                sandbox.customer_dms(who, line.text)
            else:
                tweet = sandbox.customer_mentions(who, line.text, in_reply_to_tweet_id=last_tweet.get(who) if line.thread else None)
                last_tweet[who] = tweet["id"]
        rounds += 1


async def play_script(sandbox: TelegramSandbox, speed: float = 1.0) -> None:
    """Make the demo customers write, then keep a slow trickle going so the inbox stays alive."""
    last_message: dict[int, int] = {}
    for line in SCRIPT:
        await asyncio.sleep(line.after / max(speed, 0.01))
        _play(sandbox, line, last_message)
    while True:
        for line in SCRIPT:
            await asyncio.sleep(20 / max(speed, 0.01))
            if line.text and not line.edit_of_previous:
                _play(sandbox, line, last_message)


async def _echo_bot_messages(sandbox: TelegramSandbox) -> None:
    seen = 0
    while True:
        await asyncio.sleep(0.5)
        sent = sandbox.sent_messages()
        for message in sent[seen:]:
            print(f"[sandbox] the bot sent to chat {message['chat']['id']}: {message.get('text', '')[:80]!r}", flush=True)
        seen = len(sent)


async def _echo_x_replies(sandbox: XSandbox) -> None:
    seen_tweets = seen_dms = 0
    while True:
        await asyncio.sleep(0.5)
        tweets, dms = sandbox.sent_tweets(), sandbox.sent_dms()
        for tweet in tweets[seen_tweets:]:
            print(f"[x sandbox] @{sandbox.brand_username} tweeted: {tweet['text'][:80]!r}", flush=True)
        for dm in dms[seen_dms:]:
            print(f"[x sandbox] @{sandbox.brand_username} sent a DM: {dm['text'][:80]!r}", flush=True)
        seen_tweets, seen_dms = len(tweets), len(dms)


async def forward_presale_question(api: str, token: str, *, customer: str = PRIYA.first_name,
                                   note: str = PRESALE_NOTE, timeout: float = 120.0) -> int | None:
    """Play an agent who hands a customer's pre-sale question to marketing with a note, through the REST API."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession(headers=headers) as http:
        while asyncio.get_running_loop().time() < deadline:
            async with http.get(f"{api}/api/conversations", params={"limit": "100"}) as response:
                listed = await response.json() if response.status == 200 else {"conversations": []}
            for conversation in listed["conversations"]:
                name = (conversation["customer"] or {}).get("name") or ""
                if name.startswith(customer) and conversation["queue"] != "marketing":
                    async with http.post(f"{api}/api/conversations/{conversation['id']}/forward",
                                         json={"queue": "marketing", "note": note}) as response:
                        if response.status == 200:
                            print(f"[demo] giulia forwarded {customer}'s question to marketing", flush=True)
                            return int(conversation["id"])
            await asyncio.sleep(2)
    return None


async def run_demo(folder: Path, *, port: int = 8080, sandbox_port: int = 8082, x_sandbox_port: int = 8083,
                   speed: float = 1.0, duration: float | None = None) -> None:
    """Run the whole demo until Ctrl+C (or for `duration` seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    sandbox = TelegramSandbox(DEMO_TOKEN, host="127.0.0.1", port=sandbox_port, first_update_id=int(time.time()))
    await sandbox.start()
    x_sandbox = XSandbox(host="127.0.0.1", port=x_sandbox_port, first_id=snowflake_now())
    await x_sandbox.start()
    settings = demo_settings(folder, port=port, sandbox=sandbox, x_sandbox=x_sandbox)
    runner = await start_service(settings)
    await x_sandbox.subscribe(f"http://127.0.0.1:{port}/webhooks/x/acme")
    tokens = await _demo_tokens(settings.database_url)
    api = f"http://127.0.0.1:{port}"
    from console.server import console_port

    console_url = f"http://127.0.0.1:{console_port(settings)}"
    print(f"""
social-care demo is running (database: {folder / 'social-care.db'})

  REST API        {api}/api/conversations      (OpenAPI: {api}/api/openapi.json)
  Telegram fake   {sandbox.url}/sandbox/state  (what the bot sent: {sandbox.url}/sandbox/sent)
  X fake          {x_sandbox.url}/sandbox/state  (tweets and DMs the brand sent: {x_sandbox.url}/sandbox/sent)
  Channels        {api}/api/channels           (state, X rate-limit budgets)

  Console         {console_url}/inbox       agents (giulia, luca) and the manager (marco)
                  {console_url}/marketing   marketing (sara): threads triage or an agent sent there
                  {console_url}/dashboard   the manager's trends, response times and SLAs (marco)

  Demo agents (console password for all: {DEMO_PASSWORD}) and their API tokens (new on every start):
""" + "\n".join(f"    {name:<7} {role:<10} {tokens[name]}" for name, role, _ in DEMO_AGENTS) + f"""

  Try:
    curl -s -H 'Authorization: Bearer {tokens['giulia']}' {api}/api/conversations
    curl -s -H 'Authorization: Bearer {tokens['giulia']}' -H 'Content-Type: application/json' \\
         -d '{{"text": "Ciao! Ci pensiamo noi."}}' {api}/api/conversations/1/replies
    curl -s {sandbox.url}/sandbox/sent
    curl -s -H 'Content-Type: application/json' -d '{{"text": "Hello from a customer"}}' \\
         {sandbox.url}/sandbox/chats/4242/messages

Customers start writing now. Ctrl+C stops the demo.
""", flush=True)
    tasks = [asyncio.create_task(play_script(sandbox, speed)), asyncio.create_task(_echo_bot_messages(sandbox)),
             asyncio.create_task(play_x_script(x_sandbox, speed)), asyncio.create_task(_echo_x_replies(x_sandbox)),
             asyncio.create_task(forward_presale_question(api, tokens["giulia"]))]
    try:
        await wait_for_stop(duration)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
        await x_sandbox.stop()
        await sandbox.stop()
