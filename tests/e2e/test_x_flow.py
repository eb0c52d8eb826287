"""The X channel through the whole service: mentions and DMs in, public replies, DMs and "move to DM" out."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from connectors.x.sandbox import XSandbox
from social_care.config import RetryPolicy, Settings
from social_care.service import build_app, build_runtime
from social_care.store.agents import add_agent


@dataclass
class XRig:
    sandbox: XSandbox
    client: TestClient
    headers: dict[str, str]

    async def get(self, path: str, **params: str) -> dict:  # type: ignore[type-arg]
        async with self.client.get(path, headers=self.headers, params=params) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, body: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
        async with self.client.post(path, headers=self.headers, json=body) as response:
            return response.status, await response.json()

    async def conversations(self, count: int, timeout: float = 10.0) -> list[dict]:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = (await self.get("/api/conversations"))["conversations"]
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} conversations, got {rows}")


@pytest.fixture
async def x(tmp_path: Path) -> AsyncIterator[XRig]:
    async with XSandbox() as sandbox:
        creds = sandbox.credentials()
        section = {"platform": "x", "key": "acme", "name": "ACME on X", "user_id": "1000", "webhooks": True,
                   "min_poll_interval": 0.2, "api_base_url": sandbox.url, **creds}
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db", channels=(section,),
                            retry=RetryPolicy(max_attempts=2, backoff_base=0.05, backoff_cap=0.1),
                            pipeline_interval=0.05, outbox_interval=0.05)
        runtime = await build_runtime(settings, stages=[])
        _agent, token = await add_agent(runtime.db, "giulia", "agent")
        client = TestClient(TestServer(build_app(runtime)))
        await client.start_server()
        try:
            await sandbox.subscribe(str(client.make_url("/webhooks/x/acme")))
            sandbox.add_user("42", "tomh", "Tom Harper", followers=12_000, verified=True)
            sandbox.add_user("43", "quiet_ann", "Ann", accepts_dms=False)
            yield XRig(sandbox, client, {"Authorization": f"Bearer {token}"})
        finally:
            await client.close()


async def test_a_public_complaint_arrives_once_and_gets_a_public_reply(x: XRig) -> None:
    tweet = x.sandbox.customer_mentions("42", "@acme charged twice for order 4471, still no refund")
    (row,) = await x.conversations(1)
    assert row["public"] is True and row["customer"]["handle"] == "tomh" and row["customer"]["followers"] == 12_000
    await asyncio.sleep(0.6)  # polling sees the same tweet again: still one message
    detail = await x.get(f"/api/conversations/{row['id']}")
    assert [m["platform_message_id"] for m in detail["messages"]] == [f"tweet:{tweet['id']}"]
    status, reply = await x.post(f"/api/conversations/{row['id']}/replies",
                                 {"text": "@tomh So sorry, Tom! Refund on its way.", "mode": "public"})
    assert status == 202
    await x.sandbox.wait_sent(tweets=1)
    (sent,) = x.sandbox.sent_tweets()
    assert {"type": "replied_to", "id": tweet["id"]} in sent["referenced_tweets"]
    for _ in range(100):
        message = await x.get(f"/api/messages/{reply['id']}")
        if message["delivery"]["status"] == "sent":
            break
        await asyncio.sleep(0.02)
    assert message["platform_message_id"] == f"tweet:{sent['id']}"
    # The customer answers our reply: it stays in the same conversation (reply chain).
    x.sandbox.customer_mentions("42", "@acme thanks, got it", in_reply_to_tweet_id=sent["id"])
    for _ in range(200):
        detail = await x.get(f"/api/conversations/{row['id']}")
        if len([m for m in detail["messages"] if m["direction"] == "inbound"]) == 2:
            break
        await asyncio.sleep(0.02)
    assert [m["text"] for m in detail["messages"]][-1] == "@acme thanks, got it"


async def test_move_to_dm_invites_publicly_then_writes_privately(x: XRig) -> None:
    x.sandbox.customer_mentions("42", "@acme my account is locked and I can't pay my bill")
    (row,) = await x.conversations(1)
    status, _ = await x.post(f"/api/conversations/{row['id']}/replies",
                             {"mode": "move_to_dm", "text": "Hi Tom, can you share the email on your account?"})
    assert status == 202
    await x.sandbox.wait_sent(tweets=1, dms=1)
    assert "direct message" in x.sandbox.sent_tweets()[0]["text"]
    assert x.sandbox.sent_dms()[0]["text"] == "Hi Tom, can you share the email on your account?"
    # The customer answers in DM: another conversation, same contact.
    x.sandbox.customer_dms("42", "sure, it's tom@example.com")
    rows = await x.conversations(2)
    assert len({r["customer"]["contact_id"] for r in rows}) == 1
    assert {r["public"] for r in rows} == {True, False}


async def test_limits_and_refusals_are_clear_through_the_api(x: XRig) -> None:
    x.sandbox.customer_mentions("43", "@acme the app crashes on login")
    (row,) = await x.conversations(1)
    too_long = "é" * 200 + "日本" * 41  # 200 + 164 weighted = 364 > 280, though only 282 code points
    status, body = await x.post(f"/api/conversations/{row['id']}/replies", {"text": too_long, "mode": "public"})
    assert status == 400 and "280" in body["error"] and "X counts" in body["error"]
    status, reply = await x.post(f"/api/conversations/{row['id']}/replies", {"text": "Let's talk in DM", "mode": "private"})
    assert status == 202
    for _ in range(200):
        message = await x.get(f"/api/messages/{reply['id']}")
        if message["delivery"]["status"] in ("failed", "sent"):
            break
        await asyncio.sleep(0.02)
    assert message["delivery"]["status"] == "failed"
    assert "not allowed to send a message" in message["delivery"]["error"]
    assert len(x.sandbox.calls("create_dm")) == 1  # a refusal is not retried
    for _ in range(100):  # the budget is known after the first successful poll
        channels = (await x.get("/api/channels"))["channels"]
        (channel,) = channels
        if channel["budgets"]["mentions"]["limit"]:
            break
        await asyncio.sleep(0.05)
    assert channel["state"] == "ready"
    mentions_budget = channel["budgets"]["mentions"]
    assert mentions_budget["limit"] and mentions_budget["remaining"] is not None
