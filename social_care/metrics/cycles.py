"""Pure: one conversation's event log -> response cycles, waits and customer-message facts (docs/metrics.md)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import NamedTuple

from social_care.metrics.records import ConversationLog, LoggedEvent, StoredMessage

PRIORITY_ORDER = ("P1", "P2", "P3", "P4")
QUEUE_ORDER = ("support", "marketing", "other")
_PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITY_ORDER)}
# A message nobody could triage gets what the store gives a new conversation.
DEFAULT_PRIORITY = "P3"
DEFAULT_QUEUE = "support"
UNKNOWN = "unknown"
_REPLAY_ORDER = attrgetter("at", "id")
_FACT_ORDER = attrgetter("at", "message_id")
_LOCK_ORDER = itemgetter(0)


# Named tuples rather than dataclasses: a year holds hundreds of thousands of each, and tuples are cheaper
# to build; fields and properties read the same.
class TriageState(NamedTuple):
    """A customer message's triage from some instant on."""

    at: datetime
    priority: str | None
    queue: str | None
    lang: str | None
    label: str | None
    compound: float | None


class MessageFact(NamedTuple):
    """A customer message as the trend and volume figures count it."""

    message_id: int
    conversation_id: int
    channel_id: int
    at: datetime
    lang: str
    label: str | None
    compound: float | None
    queue: str
    public_complaint: bool


class Wait(NamedTuple):
    """From a customer message nobody had answered yet to the next delivered human reply."""

    started_at: datetime
    message_id: int
    priority: str
    queue: str
    answered_at: datetime | None = None
    agent_id: int | None = None
    closed_at: datetime | None = None  # resolved before any reply


class Cycle(NamedTuple):
    """A response cycle: the first customer message of a conversation or of a reopening, to `resolved`."""

    conversation_id: int
    index: int
    channel_id: int
    started_at: datetime
    lang: str
    waits: tuple[Wait, ...]
    replies: int = 0
    resolved_at: datetime | None = None
    resolved_by: int | None = None

    @property
    def first(self) -> Wait:
        return self.waits[0]

    @property
    def priority(self) -> str:
        return self.first.priority

    @property
    def queue(self) -> str:
        return self.first.queue


class ConversationFacts(NamedTuple):
    """Everything the figures need from one conversation, as of `now`."""

    conversation_id: int
    channel_id: int
    created_at: datetime | None
    status: str
    queue: str
    cycles: tuple[Cycle, ...]
    messages: tuple[MessageFact, ...]

    @property
    def waiting(self) -> Wait | None:
        """The open wait of the current cycle, if the customer is waiting for us."""
        if not self.cycles or self.cycles[-1].resolved_at is not None:
            return None
        last = self.cycles[-1].waits[-1]
        return last if last.answered_at is None and last.closed_at is None else None


class _OpenWait:
    __slots__ = ("started_at", "message_id", "arrivals")

    def __init__(self, started_at: datetime, message_id: int) -> None:
        self.started_at = started_at
        self.message_id = message_id
        self.arrivals: list[tuple[StoredMessage, datetime]] = []


class _OpenCycle:
    __slots__ = ("started_at", "lang_message", "waits", "wait", "replies")

    def __init__(self, started_at: datetime, lang_message: int) -> None:
        self.started_at = started_at
        self.lang_message = lang_message
        self.waits: list[Wait] = []
        self.wait: _OpenWait | None = None
        self.replies = 0


class _Triage:
    """Each customer message's triage over time, and the queue locks agents set on the conversation."""

    __slots__ = ("states", "locks")

    def __init__(self, log: ConversationLog) -> None:
        self.states: dict[int, list[TriageState]] = {}
        corrected: list[tuple[datetime, str]] = []
        forwarded: list[tuple[datetime, str]] = []
        last_change: dict[int, int] | None = None
        for event in log.events:
            kind = event.kind
            if kind == "triaged":
                if event.message_id is None:
                    continue
                data = event.data
                state = TriageState(event.at, _str(data.get("priority")), _str(data.get("queue")),
                                    _str(data.get("lang")), _str(data.get("label")), _float(data.get("sentiment")))
                states = self.states.get(event.message_id)
                if states is None:
                    self.states[event.message_id] = [state]
                else:
                    states.append(state)
            elif kind == "triage_corrected":
                if event.message_id is None:
                    continue
                if last_change is None:
                    last_change = {e.message_id: e.id for e in log.events
                                   if e.kind in ("triaged", "triage_corrected") and e.message_id is not None}
                self._correct(log, event, last_change[event.message_id] == event.id, corrected)
            elif kind == "forwarded" and event.data.get("to"):
                forwarded.append((event.at, str(event.data["to"])))
        # Stable sort: at equal instants a correction's lock comes before a forward's.
        self.locks = sorted(corrected + forwarded, key=_LOCK_ORDER) if corrected or forwarded else []

    def _correct(self, log: ConversationLog, event: LoggedEvent, latest: bool,
                 locks: list[tuple[datetime, str]]) -> None:
        assert event.message_id is not None
        states = self.states.setdefault(event.message_id, [])
        stored = log.messages.get(event.message_id)
        previous = states[-1] if states else None
        changed = event.data.get("changes") or {}
        # The event does not carry the corrected priority; the message row has it when this
        # correction is the message's latest triage change.
        priority = (stored.priority if stored is not None and latest
                    else previous.priority if previous else None)
        queue = _str(changed.get("queue")) or (previous.queue if previous else None)
        states.append(TriageState(event.at, priority, queue, previous.lang if previous else None,
                                  previous.label if previous else None, previous.compound if previous else None))
        if "queue" in changed:
            locks.append((event.at, str(changed["queue"])))

    def at(self, message_id: int, when: datetime) -> TriageState | None:
        """The message's triage as known at `when`; its first one when triage came only later."""
        states = self.states.get(message_id)
        if not states:
            return None
        known = states[0]
        if len(states) == 1:
            return known
        for state in states:
            if state.at > when:
                break
            known = state
        return known

    def locked_queue(self, when: datetime) -> str | None:
        """The queue an agent (forward or correction) put the conversation in by `when`."""
        if not self.locks:
            return None
        queue = None
        for at, locked in self.locks:
            if at > when:
                break
            queue = locked
        return queue

    def wait_attributes(self, messages: Sequence[int], when: datetime) -> tuple[str, str]:
        """(priority, queue) of a wait: its highest-priority message, and the queue rule of triage."""
        rank = len(PRIORITY_ORDER)
        queues: set[str | None] = set()
        for message_id in messages:
            state = self.at(message_id, when)
            if state is None:
                continue
            rank = min(rank, _PRIORITY_RANK.get(state.priority or "", rank))
            queues.add(state.queue)
        priority = PRIORITY_ORDER[rank] if rank < len(PRIORITY_ORDER) else DEFAULT_PRIORITY
        queue = self.locked_queue(when)
        if queue is None:
            queue = DEFAULT_QUEUE
            for candidate in QUEUE_ORDER:
                if candidate in queues:
                    queue = candidate
                    break
        return priority, queue


def conversation_facts(log: ConversationLog, *, now: datetime) -> ConversationFacts:
    """Replay a conversation's log up to `now` into cycles, waits and message facts."""
    triage = _Triage(log)
    events = sorted([e for e in log.events if e.at <= now], key=_REPLAY_ORDER)
    created_at: datetime | None = None
    status = "open"
    cycles: list[Cycle] = []
    facts: list[MessageFact] = []
    current: _OpenCycle | None = None
    for event in events:
        kind = event.kind
        if kind == "created":
            created_at = event.at if created_at is None else created_at
            status = "open"
        elif kind == "received":
            message = log.messages.get(event.message_id) if event.message_id is not None else None
            if message is None or message.automated:
                continue  # a bot writing to us is not a customer waiting
            started = clock_start(event)
            if current is None:
                current = _OpenCycle(started, message.id)
            if current.wait is None:
                current.wait = _OpenWait(started, message.id)
            current.wait.arrivals.append((message, started))
        elif kind == "delivered":
            if event.data.get("automated") or current is None:
                continue
            current.replies += 1
            if current.wait is not None:
                current.waits.append(_close(log, current.wait, triage, event.at, now, facts, answered_by=event.agent_id))
                current.wait = None
        elif kind == "resolved":
            status = "resolved"
            if current is not None:
                if current.wait is not None:
                    current.waits.append(_close(log, current.wait, triage, event.at, now, facts, closed=True))
                    current.wait = None
                cycles.append(_cycle(log, current, len(cycles) + 1, triage, now, event))
                current = None
        elif kind == "reopened":
            status = "open"
        elif kind == "status_changed":
            status = str(event.data.get("to") or status)
    waiting: Wait | None = None
    if current is not None:
        if current.wait is not None:
            waiting = _close(log, current.wait, triage, now, now, facts, still_open=True)
            current.waits.append(waiting)
            current.wait = None
        cycles.append(_cycle(log, current, len(cycles) + 1, triage, now, None))
    facts.sort(key=_FACT_ORDER)
    # The inbox's rule: a waiting thread is in its wait's queue; an answered one in its latest message's.
    queue = waiting.queue if waiting is not None else triage.locked_queue(now) or (
        facts[-1].queue if facts else DEFAULT_QUEUE)
    return ConversationFacts(log.id, log.channel_id, created_at, status, queue, tuple(cycles), tuple(facts))


def clock_start(event: LoggedEvent) -> datetime:
    """When the customer wrote: their platform timestamp, clamped to when it reached us (skewed clocks)."""
    raw = event.data.get("sent_at")
    if not isinstance(raw, str):
        return event.at
    try:
        sent = datetime.fromisoformat(raw)
    except ValueError:
        return event.at
    if sent.tzinfo is None:
        return event.at
    return min(sent, event.at)


def _close(log: ConversationLog, wait: _OpenWait, triage: _Triage, at: datetime, now: datetime,
           facts: list[MessageFact], *, answered_by: int | None = None, closed: bool = False,
           still_open: bool = False) -> Wait:
    """End a wait (answered, closed by a resolution, or still open at `now`); its messages become facts."""
    priority, queue = triage.wait_attributes([message.id for message, _arrived in wait.arrivals], at)
    facts.extend(_fact(log, message, arrived, queue, triage, now) for message, arrived in wait.arrivals)
    if still_open:
        return Wait(wait.started_at, wait.message_id, priority, queue)
    if closed:
        return Wait(wait.started_at, wait.message_id, priority, queue, closed_at=at)
    return Wait(wait.started_at, wait.message_id, priority, queue, answered_at=at, agent_id=answered_by)


def _cycle(log: ConversationLog, current: _OpenCycle, index: int, triage: _Triage, now: datetime,
           resolved: LoggedEvent | None) -> Cycle:
    state = triage.at(current.lang_message, now)
    return Cycle(
        conversation_id=log.id,
        index=index,
        channel_id=log.channel_id,
        started_at=current.started_at,
        lang=(state.lang if state and state.lang else UNKNOWN),
        waits=tuple(current.waits),
        replies=current.replies,
        resolved_at=resolved.at if resolved else None,
        resolved_by=resolved.agent_id if resolved else None,
    )


def _fact(log: ConversationLog, message: StoredMessage, at: datetime, queue: str, triage: _Triage,
          now: datetime) -> MessageFact:
    state = triage.at(message.id, now)
    return MessageFact(
        message_id=message.id,
        conversation_id=log.id,
        channel_id=log.channel_id,
        at=at,
        lang=(state.lang if state and state.lang else UNKNOWN),
        label=state.label if state else None,
        compound=state.compound if state else None,
        queue=queue,
        public_complaint=message.public_complaint,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
