"""The records that go into and come out of triage."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUEUES = ("support", "marketing", "other")
PRIORITIES = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True, slots=True)
class TriageInput:
    """One inbound message as triage sees it."""

    text: str
    channel: str | None = None
    public: bool = False
    author_followers: int | None = None
    author_handle: str | None = None
    waiting_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Contribution:
    """One term of the additive priority score; `key` groups terms (`waiting` is recomputed later)."""

    key: str
    reason: str
    points: int

    def as_json(self) -> list[Any]:
        return [self.key, self.reason, self.points]


@dataclass(frozen=True, slots=True)
class TriageResult:
    """Everything triage decided about one message, with the reasons an agent sees."""

    lang: str
    sentiment: float
    sentiment_label: str
    complaint: bool
    complaint_score: float
    angry: bool
    urgent: bool
    public_complaint: bool
    queue: str
    priority: str
    score: int
    reasons: tuple[str, ...]
    tags: tuple[str, ...] = ()
    breakdown: tuple[Contribution, ...] = ()
    queue_reason: str = ""  # why a cue or rule chose the queue ("sales lead", "rule: vip"); empty when the model did

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the issue's fields plus `score_breakdown` ([key, reason, points] rows)."""
        return {
            "lang": self.lang,
            "sentiment": self.sentiment,
            "sentiment_label": self.sentiment_label,
            "complaint": self.complaint,
            "complaint_score": self.complaint_score,
            "angry": self.angry,
            "urgent": self.urgent,
            "public_complaint": self.public_complaint,
            "queue": self.queue,
            "queue_reason": self.queue_reason,
            "priority": self.priority,
            "score": self.score,
            "reasons": list(self.reasons),
            "tags": list(self.tags),
            "score_breakdown": [c.as_json() for c in self.breakdown],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TriageResult:
        """Rebuild a result stored with `as_json`."""
        return cls(
            lang=str(data["lang"]),
            sentiment=float(data["sentiment"]),
            sentiment_label=str(data["sentiment_label"]),
            complaint=bool(data["complaint"]),
            complaint_score=float(data["complaint_score"]),
            angry=bool(data["angry"]),
            urgent=bool(data["urgent"]),
            public_complaint=bool(data["public_complaint"]),
            queue=str(data["queue"]),
            priority=str(data["priority"]),
            score=int(data["score"]),
            reasons=tuple(data.get("reasons", ())),
            tags=tuple(data.get("tags", ())),
            breakdown=tuple(Contribution(str(k), str(r), int(p)) for k, r, p in data.get("score_breakdown", ())),
            queue_reason=str(data.get("queue_reason", "")),
        )
