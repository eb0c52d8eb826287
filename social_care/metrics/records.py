"""What the metrics engine reads from the store: one conversation's event log and its customer messages."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

# The event kinds the definitions use; every other kind (notes, assignments, failed deliveries...) is
# irrelevant to the clocks by definition, so it is not even read.
CLOCK_KINDS = (
    "created",
    "received",
    "reopened",
    "resolved",
    "status_changed",
    "forwarded",
    "triaged",
    "triage_corrected",
    "delivered",
)
# The kinds whose `data` the replay reads; the others' is not even decoded.
DATA_KINDS = frozenset({"received", "status_changed", "forwarded", "triaged", "triage_corrected", "delivered"})
EMPTY: Mapping[str, Any] = MappingProxyType({})


# Named tuples, not dataclasses: a year of log is about a million of these, and a tuple is built several
# times faster than a frozen dataclass.
class LoggedEvent(NamedTuple):
    """One row of the `events` table."""

    id: int
    kind: str
    at: datetime
    message_id: int | None = None
    agent_id: int | None = None
    data: Mapping[str, Any] = EMPTY


class StoredMessage(NamedTuple):
    """A customer (inbound) message as stored now: flags the `triaged` event does not carry."""

    id: int
    automated: bool = False
    public: bool = False
    priority: str | None = None
    queue: str | None = None
    public_complaint: bool = False


class ConversationLog(NamedTuple):
    """A conversation's whole event log (time order) and its inbound messages by id."""

    id: int
    channel_id: int
    events: tuple[LoggedEvent, ...]
    messages: Mapping[int, StoredMessage]


@dataclass(frozen=True, slots=True)
class Directory:
    """Names for ids: channels as `platform:key` (with their platform) and agents by name."""

    channels: Mapping[int, tuple[str, str]] = field(default_factory=dict)  # id -> (label, platform)
    agents: Mapping[int, str] = field(default_factory=dict)

    def channel_label(self, channel_id: int) -> str:
        return self.channels.get(channel_id, (f"channel {channel_id}", ""))[0]

    def platform(self, channel_id: int) -> str | None:
        return self.channels.get(channel_id, ("", None))[1] or None

    def agent(self, agent_id: int | None) -> str:
        if agent_id is None:
            return NONE
        return self.agents.get(agent_id, f"agent {agent_id}")


NONE = "(none)"
