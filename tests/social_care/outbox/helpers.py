"""Real parts for the outbox tests: Telegram channels served by their own sandboxes, replies, waits."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connectors.base import Connector
from connectors.telegram.connector import TelegramConnector
from connectors.telegram.sandbox import ApiCall, TelegramSandbox
from social_care.config import RetryPolicy
from social_care.outbox.enqueue import enqueue_reply
from social_care.outbox.sender import OutboxSender
from social_care.store.models import Conversation, Message, OutboxItem
from tests.social_care.conftest import Store, customer_message

FAST = RetryPolicy(max_attempts=3, backoff_base=0.05, backoff_cap=0.2)


@dataclass
class Rig:
    """One Telegram channel of the store, its sandbox and its started connector."""

    store: Store
    sandbox: TelegramSandbox
    connector: TelegramConnector
    channel_id: int
    key: str = "acme"

    def sender(self, policy: RetryPolicy = FAST, **options: Any) -> OutboxSender:
        """A sender for this channel alone, polling every 50 ms."""
        return OutboxSender(self.store.db, {self.channel_id: self.connector}, policy=policy, interval=0.05, **options)


@asynccontextmanager
async def telegram_channel(store: Store, key: str = "acme") -> AsyncIterator[Rig]:
    """The channel telegram:<key> in `store`, served by a sandbox of its own."""
    channel_id = await store.channels.register("telegram", key, f"ACME Telegram {key}")
    async with TelegramSandbox() as sandbox:
        connector = TelegramConnector.from_config(
            key,
            {"token": sandbox.token, "mode": "webhook", "secret_token": "s3cret", "api_base_url": sandbox.base_url},
            ingest=store.ingest,
            cursors=lambda *a: asyncio.sleep(0, None),
        )
        await connector.start()
        try:
            yield Rig(store, sandbox, connector, channel_id, key)
        finally:
            await connector.stop()


def sender_for(rigs: list[Rig], policy: RetryPolicy = FAST, **options: Any) -> OutboxSender:
    """One sender for several channels of the same store."""
    connectors: Mapping[int, Connector] = {rig.channel_id: rig.connector for rig in rigs}
    return OutboxSender(rigs[0].store.db, connectors, policy=policy, interval=0.05, **options)


async def customer_writes_and_agent_replies(rig: Rig, chat: int = 42, text: str = "We are on it!") -> int:
    """The customer writes through the sandbox; an agent's reply is enqueued. Returns the reply's message id."""
    update = rig.sandbox.customer_writes(chat, "My order never arrived", first_name="Giulia")
    inbound = dataclasses.replace(customer_message(update["message"]["message_id"], chat=chat), channel_key=rig.key)
    await rig.store.ingest([inbound])
    return await agent_replies(rig, chat, text)


async def agent_replies(rig: Rig, chat: int, text: str) -> int:
    """An agent's reply to the conversation with `chat`, quoting its first message. Returns the reply's id."""
    async with rig.store.db.write() as session:
        conversation = await session.scalar(select(Conversation).where(
            Conversation.channel_id == rig.channel_id, Conversation.thread_key == f"chat:{chat}"))
        inbound = await session.scalar(select(Message).where(Message.conversation_id == conversation.id)
                                       .order_by(Message.id).limit(1))
        message, _item = await enqueue_reply(session, conversation, agent_id=None, text=text, reply_to=inbound)
        return message.id


async def wait_for(predicate: Callable[[], Awaitable[object]], timeout: float = 15.0) -> None:
    """Poll `predicate` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def outbox_state(rig: Rig, message_id: int) -> OutboxItem:
    """The outbox row of a reply, as stored now."""
    async with rig.store.db.read() as session:
        item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert item is not None
        return item


async def reaches(rig: Rig, message_id: int, states: set[str], timeout: float = 15.0) -> OutboxItem:
    """Wait until the reply's outbox row is in one of `states`; return it."""
    async def reached() -> bool:
        return (await outbox_state(rig, message_id)).state in states

    await wait_for(reached, timeout)
    return await outbox_state(rig, message_id)


async def run_until(rig: Rig, sender: OutboxSender, message_id: int, states: set[str], timeout: float = 15.0) -> OutboxItem:
    """Run the sender until the reply reaches one of `states`, then stop it."""
    task = asyncio.create_task(sender.run())
    try:
        return await reaches(rig, message_id, states, timeout)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def send_calls(sandbox: TelegramSandbox) -> list[ApiCall]:
    """Every sendMessage the sandbox received, failed ones included."""
    return [call for call in sandbox.requests if call.method.lower() == "sendmessage"]
