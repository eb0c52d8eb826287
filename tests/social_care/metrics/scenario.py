"""A scripted week of care written through the real code paths at known instants (times in UTC).

Rome is UTC+1 in November, so the business hours 09:00-18:00 Rome are 08:00-17:00 UTC.
Thu 2026-11-19, Fri 2026-11-20, Sat 21, Sun 22, Mon 2026-11-23; `NOW` is Mon 12:00 UTC.

C1 telegram chat 1 (bot acknowledgement, failed delivery, note)
  Thu 09:00:00 customer m1 (ingested 09:00:30), P2 support, negative -0.5
  Thu 09:00:45 the bot's automatic acknowledgement is delivered          -> does not stop the clock
  Thu 09:20:05 giulia's reply is delivered                               -> first response 1205 s
  Thu 09:30:00 customer m2 (ingested 09:30:10), P3, negative -0.25      -> a new wait
  Thu 09:35:00 giulia adds a note                                        -> does not stop the clock
  Thu 09:50:02 giulia's reply fails (platform refuses)                   -> does not stop the clock
  Thu 10:00:03 the retried reply is delivered                            -> wait 1803 s
  Thu 10:10:00 giulia resolves                                           -> resolution 4200 s
C2 telegram chat 2 (reopened)
  Fri 10:00:00 customer m3, P3, neutral 0.0; Fri 10:30:00 luca's reply delivered -> 1800 s
  Fri 10:40:00 luca resolves                                             -> resolution 2400 s
  Fri 16:00:00 customer m4 (ingested 16:00:20) reopens it, P1, negative -0.75
  Fri 16:45:00 giulia's reply delivered                                  -> second cycle 2700 s (from 16:00)
  Mon 10:00:00 customer m5, P4, positive 0.5; unanswered at NOW          -> waiting
C3 telegram chat 3 (over the weekend)
  Fri 16:30:00 customer m6, P2, negative -0.5
  Mon 08:30:00 luca's reply delivered; 08:31 luca sets it pending
C4 X mention (marketing forward), Italian
  Fri 11:00:00 customer m7, triaged support P3, positive 0.75
  Fri 11:10:00 giulia forwards it to marketing with a note              -> does not stop the clock
  Fri 12:00:00 sara (marketing) replies publicly, delivered             -> 3600 s
  Fri 12:30:00 sara resolves                                             -> resolution 5400 s
C5 X mention (public complaint, breached now)
  Sun 23:30:00 customer m8 (Mon 00:30 in Rome), P1, public complaint, negative -1.0; unanswered
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.base import Connector
from social_care import actions
from social_care.domain import Author, InboundMessage, MessageKind, OutboundReply
from social_care.errors import PlatformError
from social_care.outbox.enqueue import enqueue_reply
from social_care.outbox.sender import OutboxSender, retry_delivery
from social_care.pipeline.stages import PipelineItem
from social_care.pipeline.worker import PipelineWorker
from social_care.store.agents import add_agent
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor
from social_care.store.models import Agent, Channel, Conversation, Message
from triage import TriageResult, TriageRules
from triage.types import Contribution

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULES = TriageRules.from_dict({"sla": {"P1": 60, "P2": 240, "P3": 1440, "P4": 4320, "marketing": 2880}})
RULES_NO_MARKETING = TriageRules.from_dict({"sla": {"P1": 60, "P2": 240, "P3": 1440, "P4": 4320}})
BUSINESS_HOURS = {"timezone": "Europe/Rome", "weekdays": ["09:00-18:00"]}
FAILING_TEXT = "Here is your tracking link"

# text -> (lang, compound, label, queue, priority, public complaint)
TRIAGE = {
    "My order never arrived": ("en", -0.5, "negative", "support", "P2", False),
    "Still nothing?": ("en", -0.25, "negative", "support", "P3", False),
    "How do I change my password?": ("en", 0.0, "neutral", "support", "P3", False),
    "It does not work AGAIN!!": ("en", -0.75, "negative", "support", "P1", False),
    "Thanks, it works now": ("en", 0.5, "positive", "support", "P4", False),
    "Where is my refund?": ("en", -0.5, "negative", "support", "P2", False),
    "Adoro il vostro nuovo prodotto! Spedite in Canada?": ("it", 0.75, "positive", "support", "P3", False),
    "@acme worst service ever, my package is lost": ("en", -1.0, "negative", "support", "P1", True),
}
SCORES = {"P1": 6, "P2": 4, "P3": 2, "P4": 0}


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """An instant in November 2026, UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


class FakeClock:
    """Stands in for `utcnow` in every module that stamps events."""

    MODULES = ("social_care.store.ingest", "social_care.outbox.enqueue", "social_care.outbox.sender",
               "social_care.actions", "social_care.pipeline.worker", "social_care.pipeline.conversation_state")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = at(1, 0)
        for module in self.MODULES:
            monkeypatch.setattr(f"{module}.utcnow", self)

    def __call__(self) -> datetime:
        return self.now


class ScriptedTriage:
    """A triage stage with known answers, so the expected figures can be computed by hand."""

    name = "triage"

    def process(self, item: PipelineItem) -> PipelineItem:
        lang, compound, label, queue, priority, public_complaint = TRIAGE[item.text]
        result = TriageResult(
            lang=lang, sentiment=compound, sentiment_label=label, complaint=label == "negative",
            complaint_score=0.9 if label == "negative" else 0.1, angry=False, urgent=priority == "P1",
            public_complaint=public_complaint, queue=queue, priority=priority, score=SCORES[priority],
            reasons=("scripted",), breakdown=(Contribution("script", "scripted", SCORES[priority]),),
        )
        return item.with_(lang=lang, sentiment=compound, sentiment_label=label, triage=result.as_json())


@dataclass
class FakePlatform:
    """A connector that accepts every reply but the one scripted to be refused once."""

    slug: str
    channel_key: str = "acme"
    sent: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=lambda: {FAILING_TEXT})

    async def send(self, reply: OutboundReply) -> str:
        if reply.text in self.refused:
            self.refused.discard(reply.text)
            raise PlatformError("Bad Request: chat not found", status=400)
        self.sent.append(reply.text)
        return f"{self.slug}-{len(self.sent)}"


def telegram(chat: int, n: int, text: str, sent_at: datetime) -> InboundMessage:
    return InboundMessage(platform="telegram", channel_key="acme", source_id=f"{chat}:{n}", thread_key=f"chat:{chat}",
                          author=Author(platform_id=str(chat), name=f"Customer {chat}"), text=text, sent_at=sent_at)


def mention(tweet: str, user: str, text: str, sent_at: datetime) -> InboundMessage:
    return InboundMessage(platform="x", channel_key="acme", source_id=tweet, thread_key=f"tweet:{tweet}",
                          author=Author(platform_id=user, name=f"user {user}", handle=f"user{user}"), text=text,
                          sent_at=sent_at, kind=MessageKind.MENTION, public=True)


@dataclass
class Scenario:
    """The store after the script, with the conversation ids by name."""

    db: Database
    url: str
    conversations: dict[str, int]


class Script:
    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db = db
        self.clock = clock
        self.channels = ChannelDirectory(db)
        self.ingest = Ingestor(db, self.channels)
        self.worker = PipelineWorker(db, [ScriptedTriage()], rules=RULES)
        self.agents: dict[str, Agent] = {}
        self.sender: OutboxSender | None = None

    async def setup(self) -> None:
        self.clock.now = at(1, 8)
        telegram_id = await self.channels.register("telegram", "acme", "ACME on Telegram")
        x_id = await self.channels.register("x", "acme", "ACME on X")
        connectors: dict[int, Connector] = {telegram_id: FakePlatform("telegram"), x_id: FakePlatform("x")}  # type: ignore[dict-item]
        self.sender = OutboxSender(db=self.db, connectors=connectors)
        for name, role in (("giulia", "agent"), ("luca", "agent"), ("sara", "marketing"), ("marco", "manager")):
            self.agents[name], _token = await add_agent(self.db, name, role)

    async def customer(self, when: datetime, record: InboundMessage) -> int:
        """The message reaches us at `when`; triage runs two seconds later. Returns its conversation id."""
        self.clock.now = when
        result = await self.ingest([record])
        self.clock.now = when + timedelta(seconds=2)
        await self.worker.run_once()
        async with self.db.read() as session:
            return (await session.get(Message, result.stored[0])).conversation_id  # type: ignore[union-attr]

    async def reply(self, when: datetime, agent: str, conversation_id: int, text: str, mode: str = "private") -> int:
        self.clock.now = when
        async with self.db.write() as session:
            outcome = await actions.reply(session, self.agents[agent], conversation_id, text, mode=mode)
            return outcome.message.id

    async def bot_acknowledgement(self, when: datetime, conversation_id: int) -> None:
        self.clock.now = when
        async with self.db.write() as session:
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None
            await enqueue_reply(session, conversation, agent_id=None, text="Thanks! An agent will answer soon.",
                                automated=True)

    async def deliver(self, when: datetime) -> None:
        self.clock.now = when
        assert self.sender is not None
        assert await self.sender.run_once() == 1

    async def act(self, when: datetime, action, agent: str, *args) -> None:  # type: ignore[no-untyped-def]
        self.clock.now = when
        async with self.db.write() as session:
            await action(session, self.agents[agent], *args)

    async def retry(self, when: datetime, agent: str, message_id: int) -> None:
        self.clock.now = when
        async with self.db.write() as session:
            await retry_delivery(session, message_id, agent_id=self.agents[agent].id)


async def resume(db: Database, clock: FakeClock) -> Script:
    """A script that goes on writing into a store `play` has written (its channels and agents)."""
    script = Script(db, clock)
    async with db.read() as session:
        script.agents = {agent.name: agent for agent in (await session.scalars(select(Agent))).all()}
        channels = (await session.execute(select(Channel.id, Channel.platform))).all()
    # Platform ids of their own: those `play` sent are taken.
    connectors: dict[int, Connector] = {cid: FakePlatform(f"{platform}-resumed") for cid, platform in channels}  # type: ignore[misc]
    script.sender = OutboxSender(db=db, connectors=connectors)
    return script


async def play(db: Database, clock: FakeClock) -> dict[str, int]:
    """Write the scenario of the module docstring; returns the conversation ids."""
    s = Script(db, clock)
    await s.setup()
    ids: dict[str, int] = {}
    # C1, Thursday: bot acknowledgement, a refused reply retried, a note.
    ids["C1"] = await s.customer(at(19, 9, 0, 30), telegram(1, 1, "My order never arrived", at(19, 9)))
    await s.bot_acknowledgement(at(19, 9, 0, 40), ids["C1"])
    await s.deliver(at(19, 9, 0, 45))
    await s.reply(at(19, 9, 20), "giulia", ids["C1"], "Sorry! Let me check.")
    await s.deliver(at(19, 9, 20, 5))
    await s.customer(at(19, 9, 30, 10), telegram(1, 2, "Still nothing?", at(19, 9, 30)))
    await s.act(at(19, 9, 35), actions.add_note, "giulia", ids["C1"], "courier says it left the depot")
    refused = await s.reply(at(19, 9, 50), "giulia", ids["C1"], FAILING_TEXT)
    await s.deliver(at(19, 9, 50, 2))
    await s.retry(at(19, 10), "giulia", refused)
    await s.deliver(at(19, 10, 0, 3))
    await s.act(at(19, 10, 10), actions.set_status, "giulia", ids["C1"], "resolved")
    # C2, Friday morning: answered and resolved.
    ids["C2"] = await s.customer(at(20, 10, 0, 5), telegram(2, 1, "How do I change my password?", at(20, 10)))
    await s.reply(at(20, 10, 29, 58), "luca", ids["C2"], "Settings > Security.")
    await s.deliver(at(20, 10, 30))
    await s.act(at(20, 10, 40), actions.set_status, "luca", ids["C2"], "resolved")
    # C4, Friday: an X mention forwarded to marketing, answered and resolved by marketing.
    ids["C4"] = await s.customer(at(20, 11, 0, 4), mention(
        "9001", "501", "Adoro il vostro nuovo prodotto! Spedite in Canada?", at(20, 11)))
    await s.act(at(20, 11, 10), actions.forward, "giulia", ids["C4"], "marketing", "pre-sale lead from Canada")
    await s.reply(at(20, 11, 59, 58), "sara", ids["C4"], "Sì! Spediamo in Canada.", "public")
    await s.deliver(at(20, 12))
    await s.act(at(20, 12, 30), actions.set_status, "sara", ids["C4"], "resolved")
    # C2 reopened by the customer on Friday afternoon.
    assert await s.customer(at(20, 16, 0, 20), telegram(2, 2, "It does not work AGAIN!!", at(20, 16))) == ids["C2"]
    # C3, Friday at 17:30 in Rome, half an hour before closing.
    ids["C3"] = await s.customer(at(20, 16, 30, 5), telegram(3, 1, "Where is my refund?", at(20, 16, 30)))
    await s.reply(at(20, 16, 44, 58), "giulia", ids["C2"], "Fixing it now.")
    await s.deliver(at(20, 16, 45))
    # C5, Sunday night: a public complaint nobody answers.
    ids["C5"] = await s.customer(at(22, 23, 30, 10), mention(
        "9002", "502", "@acme worst service ever, my package is lost", at(22, 23, 30)))
    # Monday.
    await s.reply(at(23, 8, 29, 58), "luca", ids["C3"], "Your refund left on Friday.")
    await s.deliver(at(23, 8, 30))
    await s.act(at(23, 8, 31), actions.set_status, "luca", ids["C3"], "pending")
    assert await s.customer(at(23, 10, 0, 3), telegram(2, 3, "Thanks, it works now", at(23, 10))) == ids["C2"]
    clock.now = NOW
    return ids
