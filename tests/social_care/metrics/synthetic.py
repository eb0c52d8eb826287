"""A synthetic year of care written straight into a store, with the response times it was built from.

Rows are shaped like the ones ingest, the pipeline, the outbox and the actions write (see scenario.py for
the real code paths). Used at small scale by test_synthetic.py and at full scale as a benchmark:

    python -m tests.social_care.metrics.synthetic --conversations 100000 [--url URL | --postgres]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from social_care.store.db import Database
from social_care.store.migrate import upgrade
from social_care.store.models import Agent, Channel, Contact, Conversation, Event, Identity, Message, OutboxItem
from tests.social_care.metrics.bulk import bulk_insert

START = datetime(2025, 1, 1, tzinfo=UTC)
AGENTS = ("giulia", "luca", "sara", "marco", "anna", "piero")
PRIORITIES = ("P1", "P2", "P3", "P4")
LABELS = (("negative", -0.6), ("neutral", 0.0), ("positive", 0.6))
# Bulk inserts need the same keys in every row.
MESSAGE_DEFAULTS: dict[str, Any] = {"identity_id": None, "agent_id": None, "delivery_status": None,
                                    "pipeline_state": None, "lang": None, "sentiment": None, "sentiment_label": None}


@dataclass
class Truth:
    """What the generator meant: every cycle's first response (seconds, None if unanswered) and resolution."""

    first_responses: list[float | None] = field(default_factory=list)
    resolutions: list[float] = field(default_factory=list)
    inbound: int = 0
    events: int = 0


@dataclass
class _Rows:
    contacts: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)


class _Writer:
    """Assigns ids and builds the rows of one conversation at a time."""

    def __init__(self, rng: random.Random, truth: Truth, channels: dict[str, int], agents: list[int]) -> None:
        self.rng = rng
        self.truth = truth
        self.channels = channels
        self.agents = agents
        self.message_id = 0
        self.event_id = 0
        self.rows = _Rows()

    def event(self, conversation_id: int, kind: str, at: datetime, *, message_id: int | None = None,
              agent_id: int | None = None, contact_id: int | None = None, data: dict[str, Any] | None = None) -> None:
        self.event_id += 1
        self.rows.events.append({"id": self.event_id, "conversation_id": conversation_id, "message_id": message_id,
                                 "agent_id": agent_id, "contact_id": contact_id, "kind": kind, "at": at,
                                 "data": data or {}})

    def customer(self, cid: int, contact: int, identity: int, channel: int, sent: datetime, public: bool,
                 opening: str | None = None) -> datetime:
        self.message_id += 1
        received = sent + timedelta(seconds=self.rng.uniform(0.2, 8))
        if opening == "created":
            self.event(cid, "created", received, contact_id=contact)
        elif opening == "reopened":
            self.event(cid, "reopened", received, data={"by": "customer"})
        label, compound = self.rng.choice(LABELS)
        priority = self.rng.choices(PRIORITIES, weights=(1, 3, 5, 3))[0]
        queue = self.rng.choices(("support", "marketing", "other"), weights=(16, 3, 1))[0]
        lang = self.rng.choice(("en", "it"))
        complaint = label == "negative" and public
        self.rows.messages.append({
            **MESSAGE_DEFAULTS,
            "id": self.message_id, "conversation_id": cid, "channel_id": channel, "direction": "inbound",
            "kind": "mention" if public else "direct", "platform_message_id": f"m{self.message_id}",
            "identity_id": identity, "text": "synthetic", "public": public, "automated": False, "attachments": [],
            "raw": {}, "sent_at": sent, "received_at": received, "pipeline_state": "done", "pipeline_attempts": 1,
            "lang": lang, "sentiment": compound, "sentiment_label": label,
            "triage": {"lang": lang, "sentiment": compound, "sentiment_label": label, "complaint": complaint,
                       "public_complaint": complaint, "queue": queue, "priority": priority, "reasons": []},
        })
        self.event(cid, "received", received, message_id=self.message_id, contact_id=contact,
                   data={"source_id": f"m{self.message_id}", "kind": "direct", "sent_at": sent.isoformat()})
        self.event(cid, "triaged", received + timedelta(seconds=1), message_id=self.message_id,
                   data={"lang": lang, "sentiment": compound, "label": label, "priority": priority, "queue": queue,
                         "reasons": []})
        self.truth.inbound += 1
        return received

    def reply(self, cid: int, channel: int, queued: datetime, delivered: datetime, agent: int | None) -> None:
        self.message_id += 1
        automated = agent is None
        outbox_id = str(uuid.UUID(int=self.rng.getrandbits(128)))
        self.rows.messages.append({
            **MESSAGE_DEFAULTS,
            "id": self.message_id, "conversation_id": cid, "channel_id": channel, "direction": "outbound",
            "kind": "direct", "platform_message_id": f"r{self.message_id}", "agent_id": agent, "text": "reply",
            "public": False, "automated": automated, "attachments": [], "raw": {}, "sent_at": delivered,
            "received_at": queued, "delivery_status": "sent", "pipeline_attempts": 0, "triage": {},
        })
        self.rows.outbox.append({
            "id": outbox_id, "message_id": self.message_id, "conversation_id": cid, "channel_id": channel,
            "recipient_id": "r", "mode": "private", "text": "reply", "state": "sent", "in_flight": False,
            "attempts": 1, "rate_limit_waits": 0, "next_attempt_at": queued, "created_at": queued,
            "updated_at": delivered, "sent_at": delivered, "platform_message_id": f"r{self.message_id}",
        })
        self.event(cid, "replied", queued, message_id=self.message_id, agent_id=agent,
                   data={"outbox_id": outbox_id, "mode": "private", "automated": automated})
        self.event(cid, "delivered", delivered, message_id=self.message_id, agent_id=agent,
                   data={"outbox_id": outbox_id, "platform_message_id": f"r{self.message_id}", "error": None,
                         "attempts": 1, "automated": automated})

    def conversation(self, cid: int, opened: datetime, horizon: datetime) -> None:
        rng = self.rng
        platform = rng.choices(("telegram", "x"), weights=(7, 3))[0]
        channel = self.channels[platform]
        public = platform == "x" and rng.random() < 0.5
        self.rows.contacts.append({"id": cid, "name": f"c{cid}", "created_at": opened, "updated_at": opened})
        self.rows.identities.append({"id": cid, "contact_id": cid, "channel_id": channel, "platform_user_id": f"u{cid}",
                                     "is_bot": False, "blocked": False, "created_at": opened, "updated_at": opened})
        status, resolved_at = "open", None
        sent = opened
        for cycle in range(2):
            received = self.customer(cid, cid, cid, channel, sent, public, "reopened" if cycle else "created")
            if rng.random() < 0.3:
                self.reply(cid, channel, received + timedelta(seconds=5), received + timedelta(seconds=6), None)
            answer = sent + timedelta(seconds=rng.lognormvariate(7.5, 1.2))
            if answer > horizon:
                self.truth.first_responses.append(None)
                return self._conversation_row(cid, channel, opened, "open", None, public)
            agent = rng.choice(self.agents)
            self.reply(cid, channel, answer - timedelta(seconds=2), answer, agent)
            self.truth.first_responses.append((answer - sent).total_seconds())
            last = answer
            if rng.random() < 0.3:
                follow = last + timedelta(minutes=rng.uniform(1, 60))
                self.customer(cid, cid, cid, channel, follow, public)
                last = follow + timedelta(minutes=rng.uniform(1, 120))
                self.reply(cid, channel, last - timedelta(seconds=2), last, agent)
            if rng.random() < 0.2:
                self.event(cid, "noted", last + timedelta(minutes=1), agent_id=agent)
            resolved_at = last + timedelta(minutes=rng.uniform(1, 30))
            if resolved_at > horizon:
                return self._conversation_row(cid, channel, opened, "open", None, public)
            self.event(cid, "resolved", resolved_at, agent_id=agent, data={"from": "open", "to": "resolved"})
            self.truth.resolutions.append((resolved_at - sent).total_seconds())
            status = "resolved"
            sent = resolved_at + timedelta(hours=rng.uniform(1, 100))
            if rng.random() > 0.15 or sent > horizon:
                break
            status = "open"
        self._conversation_row(cid, channel, opened, status, resolved_at if status == "resolved" else None, public)

    def _conversation_row(self, cid: int, channel: int, opened: datetime, status: str, resolved_at: datetime | None,
                          public: bool) -> None:
        self.rows.conversations.append({
            "id": cid, "channel_id": channel, "contact_id": cid, "identity_id": cid, "thread_key": f"t{cid}",
            "status": status, "queue": "support", "queue_locked": False, "priority": 3, "priority_reasons": [],
            "public": public, "resolved_at": resolved_at, "created_at": opened, "updated_at": opened,
        })


async def generate(db: Database, *, conversations: int, days: int = 365, seed: int = 1,
                   batch: int = 5000) -> Truth:
    """Write `conversations` conversations opened uniformly over `days` days from START; returns the truth."""
    rng = random.Random(seed)
    truth = Truth()
    horizon = START + timedelta(days=days)
    async with db.write_engine.begin() as conn:
        await conn.execute(insert(Channel), [{"id": 1, "platform": "telegram", "key": "acme", "name": "Telegram"},
                                             {"id": 2, "platform": "x", "key": "acme", "name": "X"}])
        await conn.execute(insert(Agent), [{"id": i + 1, "name": name, "role": "agent", "active": True}
                                           for i, name in enumerate(AGENTS)])
    writer = _Writer(rng, truth, {"telegram": 1, "x": 2}, list(range(1, len(AGENTS) + 1)))
    opened = sorted(START + timedelta(seconds=rng.uniform(0, days * 86400)) for _ in range(conversations))
    for index, when in enumerate(opened, start=1):
        writer.conversation(index, when, horizon)
        if len(writer.rows.conversations) >= batch or index == conversations:
            rows, writer.rows = writer.rows, _Rows()
            truth.events += len(rows.events)
            async with db.write_engine.begin() as conn:
                for model, values in ((Contact, rows.contacts), (Identity, rows.identities),
                                      (Conversation, rows.conversations), (Message, rows.messages),
                                      (OutboxItem, rows.outbox), (Event, rows.events)):
                    await bulk_insert(conn, model.__table__, values)
    if db.is_postgres:
        async with db.write_engine.begin() as conn:
            for table in ("channels", "agents", "contacts", "identities", "conversations", "messages", "events"):
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
    return truth


async def _bench(url: str, conversations: int) -> None:
    from social_care.metrics import compute
    from triage import TriageRules

    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        began = time.perf_counter()
        truth = await generate(db, conversations=conversations)
        print(f"generated {conversations} conversations, {truth.inbound} customer messages, {truth.events} events "
              f"in {time.perf_counter() - began:.1f} s")
        rules = TriageRules.from_dict({"sla": {"marketing": 2880}})
        now = START + timedelta(days=365)
        for label, since in (("a week", now - timedelta(days=7)), ("a month", now - timedelta(days=30)),
                             ("the year", START)):
            began, cpu = time.perf_counter(), time.process_time()
            report = await compute(db, since=since, until=now, now=now, rules=rules)
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
            first = report.duration("first_response")
            print(f"compute over {label}: {elapsed:.2f} s wall, {cpu:.2f} s CPU in this process "
                  f"({len(report.cycles)} cycles, first response median {first.median_seconds if first else None} s)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MB")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--url", help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL 15 (tests/support)")
    args = parser.parse_args()
    if args.postgres:
        from tests.support import postgres

        with postgres.postgres_server() as server, postgres.fresh_database(server) as url:
            asyncio.run(_bench(url, args.conversations))
        return
    if args.url:
        asyncio.run(_bench(args.url, args.conversations))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_bench(f"sqlite+aiosqlite:///{tmp}/bench.db", args.conversations))


if __name__ == "__main__":
    main()
