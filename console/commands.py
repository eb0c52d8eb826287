"""What the console does to conversations: the shared actions plus snooze and triage corrections.

Every command reloads the agent (so a role change or deactivation applies at once), runs in one
write transaction, records an event, and tells live sessions through the bus after the commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from social_care import actions
from social_care.bus import Bus
from social_care.permissions import WORKING_ROLES
from social_care.pipeline.conversation_state import refresh_conversation
from social_care.store.db import Database
from social_care.store.models import Agent
from social_care.store.sessions import current_epoch
from triage import TriageRules


@dataclass(frozen=True)
class Sent:
    """A reply or note that was stored: its message id."""

    message_id: int


class SessionEnded(actions.Forbidden):
    """The browser session was signed out (logout, or a password change) after this page was opened."""


@dataclass(frozen=True)
class SignedInSession:
    """The console session a `Commands` acts for: its agent and the session epoch its cookie carries."""

    agent_id: int
    epoch: int


async def _agent(session: AsyncSession, agent_id: int, signed_in: SignedInSession | None = None) -> Agent:
    if signed_in is not None:
        # Checked in the write's own transaction, against the store shared by every console process.
        if agent_id != signed_in.agent_id or await current_epoch(session, agent_id, lock=True) != signed_in.epoch:
            raise SessionEnded("you were signed out: sign in again (your draft is kept in this browser)")
    agent = await session.get(Agent, agent_id)
    if agent is None or not agent.active:
        raise actions.Forbidden("your account is no longer active")
    if agent.role not in WORKING_ROLES:
        raise actions.Forbidden(f"the {agent.role} role cannot work on conversations here")
    return agent


class Commands:
    """The console's write side; `agent_id` is the signed-in agent."""

    def __init__(self, db: Database, bus: Bus, rules: TriageRules | None = None,
                 signed_in: SignedInSession | None = None) -> None:
        self.db = db
        self.bus = bus
        self.rules = rules
        self.signed_in = signed_in

    def for_session(self, agent_id: int, epoch: int) -> Commands:
        """The same commands for one browser session: every write first checks the session was not ended."""
        return Commands(self.db, self.bus, self.rules, SignedInSession(agent_id, epoch))

    def _changed(self, *conversation_ids: int) -> None:
        self.bus.publish("conversation.changed", ids=list(conversation_ids))

    async def reply(self, agent_id: int, conversation_id: int, text: str, *, mode: str = "private") -> Sent:
        """Queue a reply through the outbox."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            outcome = await actions.reply(session, agent, conversation_id, text, mode=mode)
            message_id = outcome.message.id
            outbox_id = outcome.outbox.id
        self.bus.publish("outbox.enqueued", id=outbox_id)
        self._changed(conversation_id)
        return Sent(message_id)

    async def note(self, agent_id: int, conversation_id: int, text: str) -> Sent:
        """Add an internal note."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            message = await actions.add_note(session, agent, conversation_id, text)
            message_id = message.id
        self._changed(conversation_id)
        return Sent(message_id)

    async def assign(self, agent_id: int, conversation_id: int, assignee: str | None, *, force: bool = False) -> None:
        """Assign to an agent by name (None unassigns)."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            await actions.assign(session, agent, conversation_id, assignee, force=force)
        self._changed(conversation_id)

    async def claim(self, agent_id: int, conversation_id: int) -> None:
        """Assign to the signed-in agent (a supervisor may take it from someone else)."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            force = agent.role != "agent"
            await actions.assign(session, agent, conversation_id, agent.name, force=force)
        self._changed(conversation_id)

    async def set_status(self, agent_id: int, conversation_id: int, status: str) -> None:
        """Resolve, reopen, or wait for the customer."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            await actions.set_status(session, agent, conversation_id, status)
        self._changed(conversation_id)

    async def snooze(self, agent_id: int, conversation_id: int, until: datetime, *, now: datetime | None = None) -> None:
        """Hide an open conversation until `until`; a customer message wakes it earlier (ingest does that)."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            await actions.snooze(session, agent, conversation_id, until, now=now)
        self._changed(conversation_id)

    async def tag(self, agent_id: int, conversation_id: int, tags: list[str]) -> None:
        """Replace the conversation's tags (lowercase slugs such as lead, praise, pr, partnership)."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            await actions.tag(session, agent, conversation_id, tags)
        self._changed(conversation_id)

    async def forward(self, agent_id: int, conversation_id: int, queue: str, note: str | None) -> None:
        """Move to another queue, with a note for the people there."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            await actions.forward(session, agent, conversation_id, queue, note or None)
            if self.rules is not None:  # the new queue has its own SLA target (marketing: maybe none)
                await session.flush()
                await refresh_conversation(session, conversation_id, self.rules)
        self._changed(conversation_id)

    async def correct_triage(self, agent_id: int, message_id: int, changes: dict[str, Any]) -> None:
        """Correct a customer message's queue or flags (a label for retraining) and re-prioritise the thread."""
        if self.rules is None:
            raise actions.Conflict("triage is not configured in this process")
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            message = await actions.correct_triage(session, agent, message_id, changes, self.rules)
            await session.flush()
            await refresh_conversation(session, message.conversation_id, self.rules)
            conversation_id = message.conversation_id
        self._changed(conversation_id)

    async def retry(self, agent_id: int, message_id: int) -> None:
        """Queue a failed or unknown reply again."""
        async with self.db.write() as session:
            agent = await _agent(session, agent_id, self.signed_in)
            item = await actions.retry_reply(session, agent, message_id)
            outbox_id, conversation_id = item.id, item.conversation_id
        self.bus.publish("outbox.enqueued", id=outbox_id)
        self._changed(conversation_id)


async def load_agent(db: Database, agent_id: int) -> Agent | None:
    """The active agent with this id, or None."""
    async with db.read() as session:
        return await session.scalar(select(Agent).where(Agent.id == agent_id, Agent.active.is_(True)))
