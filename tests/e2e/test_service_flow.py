"""A customer's message travels the whole way and the agent's reply comes back, through real processes."""
from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
from sqlalchemy import select

from connectors.telegram.sandbox import TelegramSandbox
from social_care.store.agents import add_agent
from social_care.store.db import Database
from social_care.store.migrate import upgrade
from social_care.store.models import Message
from tests.e2e.helpers import free_port, start_cli, telegram_channel_toml, wait_healthy

REPO = Path(__file__).resolve().parents[2]


def write_config(path: Path, *, db: Path, port: int, sandbox: TelegramSandbox) -> Path:
    path.write_text(f"""
[service]
host = "127.0.0.1"
port = {port}

[database]
url = "sqlite+aiosqlite:///{db}"

[outbox]
backoff_base = 0.1
backoff_cap = 1.0
""" + telegram_channel_toml(sandbox, port))
    return path


async def agent_token(db_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{db_path}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        return (await add_agent(db, "giulia", "agent"))[1]
    finally:
        await db.dispose()


async def stored_ids(db_path: Path) -> list[str]:
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with db.read() as session:
            return list((await session.scalars(select(Message.platform_message_id).where(Message.direction == "inbound"))).all())
    finally:
        await db.dispose()


async def test_webhook_to_api_and_reply_back_to_the_customer(tmp_path: Path) -> None:
    async with TelegramSandbox() as sandbox:
        port = free_port()
        db_path = tmp_path / "care.db"
        token = await agent_token(db_path)
        config = write_config(tmp_path / "care.toml", db=db_path, port=port, sandbox=sandbox)
        proc = start_cli("serve", "--config", str(config), cwd=REPO, log=tmp_path / "service.log")
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            await wait_healthy(base, proc)
            assert sandbox.webhook_info()["url"] == f"{base}/webhooks/telegram/acme"  # setWebhook on start
            written = time.monotonic()
            sandbox.customer_writes(777, "Hello, my card was charged twice!", first_name="Tom", username="tomh")
            async with aiohttp.ClientSession(headers=headers) as http:
                conversation = None
                while time.monotonic() - written < 10:
                    async with http.get(f"{base}/api/conversations") as response:
                        listed = await response.json()
                    if listed["conversations"]:
                        conversation = listed["conversations"][0]
                        break
                    await asyncio.sleep(0.05)
                assert conversation is not None, "the message never reached the API"
                assert conversation["customer"]["handle"] == "tomh"
                assert conversation["last_message"] == "Hello, my card was charged twice!"
                async with http.get(f"{base}/api/conversations/{conversation['id']}") as response:
                    detail = await response.json()
                customer_message = detail["messages"][0]
                async with http.post(f"{base}/api/conversations/{conversation['id']}/replies",
                                     json={"text": "Sorry Tom, refunding the duplicate now.",
                                           "reply_to_message_id": customer_message["id"]}) as response:
                    assert response.status == 202
                    reply = await response.json()
                (sent,) = await sandbox.wait_sent(1, chat_id=777, timeout=10)
                assert sent["text"] == "Sorry Tom, refunding the duplicate now."
                assert sent["reply_to_message"]["text"] == "Hello, my card was charged twice!"
                for _ in range(100):
                    async with http.get(f"{base}/api/messages/{reply['id']}") as response:
                        status = (await response.json())["delivery"]["status"]
                    if status == "sent":
                        break
                    await asyncio.sleep(0.05)
                assert status == "sent"
                for _ in range(100):  # triage runs beside the outbox; it may finish after the reply
                    async with http.get(f"{base}/api/conversations/{conversation['id']}") as response:
                        analysis = (await response.json())["messages"][0]["analysis"]
                    if analysis["state"] == "done":
                        break
                    await asyncio.sleep(0.05)
                assert analysis["state"] == "done" and analysis["lang"] == "en"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        assert proc.returncode == 0
        log = (tmp_path / "service.log").read_text()
        assert "webhook registered" in log  # the log is there and says what happened...
        for private in (sandbox.token, token, "charged twice", "refunding the duplicate"):
            assert private not in log  # ...with ids only: no secrets, no customer or agent text


async def test_sigkill_during_a_burst_loses_nothing_acknowledged_and_stores_nothing_twice(tmp_path: Path) -> None:
    total = 1000
    async with TelegramSandbox(webhook_retry_delay=0.2) as sandbox:
        port = free_port()
        db_path = tmp_path / "care.db"
        await agent_token(db_path)
        config = write_config(tmp_path / "care.toml", db=db_path, port=port, sandbox=sandbox)
        base = f"http://127.0.0.1:{port}"
        proc = start_cli("serve", "--config", str(config), cwd=REPO, log=tmp_path / "service.log")
        await wait_healthy(base, proc)
        source_of = {}
        for n in range(total):
            update = sandbox.customer_writes(10_000 + n % 50, f"burst message {n}", first_name=f"Customer {n % 50}")
            message = update["message"]
            source_of[update["update_id"]] = f"{message['chat']['id']}:{message['message_id']}"
        while len(sandbox.webhook_acked_update_ids) < total // 3:
            await asyncio.sleep(0.01)
        proc.kill()  # SIGKILL: no cleanup, no flush
        proc.wait(timeout=10)
        acked_before_kill = set(sandbox.webhook_acked_update_ids)
        assert 0 < len(acked_before_kill) < total
        ids_after_kill = await stored_ids(db_path)
        acked_sources = {source_of[uid] for uid in acked_before_kill}
        assert acked_sources <= set(ids_after_kill), "a message acknowledged with 200 was lost"

        proc = start_cli("serve", "--config", str(config), cwd=REPO, log=tmp_path / "service.log")
        try:
            await wait_healthy(base, proc)
            deadline = time.monotonic() + 120
            while len(set(sandbox.webhook_acked_update_ids)) < total and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert set(sandbox.webhook_acked_update_ids) == set(source_of)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        ids = await stored_ids(db_path)
        assert len(ids) == total, f"{len(ids)} stored for {total} sent"
        assert len(set(ids)) == total  # each exactly once



async def test_a_rejected_token_disables_only_that_channel_and_the_service_stays_up(tmp_path: Path) -> None:
    async with TelegramSandbox() as sandbox, TelegramSandbox(token="987654321:OTHER-token") as other:
        port = free_port()
        db_path = tmp_path / "care.db"
        token = await agent_token(db_path)
        config = write_config(tmp_path / "care.toml", db=db_path, port=port, sandbox=sandbox)
        config.write_text(config.read_text() + f"""
[[channels]]
platform = "telegram"
key = "wrong"
mode = "polling"
token = "111111111:REVOKED-token"
api_base_url = "{other.base_url}"
""")
        proc = start_cli("serve", "--config", str(config), cwd=REPO, log=tmp_path / "service.log")
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(base, proc)
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
                for _ in range(100):
                    async with http.get(f"{base}/api/channels") as response:
                        channels = {c["key"]: c for c in (await response.json())["channels"]}
                    if channels["acme"]["state"] == "ready" and channels["wrong"]["state"] == "disabled":
                        break
                    await asyncio.sleep(0.1)
            assert channels["acme"]["state"] == "ready"
            assert channels["wrong"]["state"] == "disabled" and channels["wrong"]["error"]
            assert "REVOKED" not in channels["wrong"]["error"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
