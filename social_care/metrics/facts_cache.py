"""Replayed conversation facts kept between reports while the conversation's log has not changed."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from social_care.metrics.cycles import ConversationFacts

# (events stored for the conversation, its last event id): a new event of any kind changes both or
# the count, also when PostgreSQL commits ids out of order.
LogVersion = tuple[int, int]
# About 1.3 KB of facts a conversation on the synthetic year (bench/bench_dashboard.py).
DEFAULT_MAX_CONVERSATIONS = 100_000


@dataclass(frozen=True, slots=True)
class _Entry:
    version: LogVersion
    settled_at: datetime  # the log's latest event: the facts hold for any `now` from here on
    facts: ConversationFacts


@dataclass
class FactsCache:
    """Facts by conversation, valid while the log's version is the same; least recently used go first.

    Once `now` is at or after every event of a log, `conversation_facts(log, now)` sees every triage
    state, lock and status change, so it gives the same facts for every later `now`; for an earlier
    `now` it does not, and such facts are neither kept nor served.
    """

    max_conversations: int = DEFAULT_MAX_CONVERSATIONS
    hits: int = 0
    misses: int = 0
    _entries: OrderedDict[int, _Entry] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        if self.max_conversations < 0:
            raise ValueError("max_conversations must be 0 (no cache) or more")

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._entries

    def get(self, conversation_id: int, version: LogVersion | None, now: datetime) -> ConversationFacts | None:
        """The cached facts when the log is still at `version` and `now` is past its latest event."""
        entry = self._entries.get(conversation_id)
        if entry is None or version is None or entry.version != version or now < entry.settled_at:
            self.misses += 1
            return None
        self._entries.move_to_end(conversation_id)
        self.hits += 1
        return entry.facts

    def put(self, version: LogVersion | None, settled_at: datetime | None, facts: ConversationFacts,
            now: datetime) -> None:
        """Keep facts replayed at `now` from a log read at `version` or later (a later one only misses)."""
        if version is None or settled_at is None or now < settled_at or self.max_conversations == 0:
            return  # a log with events after `now` gives facts for that `now` only
        self._entries[facts.conversation_id] = _Entry(version, settled_at, facts)
        self._entries.move_to_end(facts.conversation_id)
        while len(self._entries) > self.max_conversations:
            self._entries.popitem(last=False)
