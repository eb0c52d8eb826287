"""Pipeline stages: pure, deterministic steps that enrich one inbound message."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from triage import TriageRules


@dataclass(frozen=True)
class PipelineItem:
    """One inbound message on its way through the stages, with what they found so far."""

    message_id: int
    conversation_id: int
    text: str
    platform: str
    public: bool
    sent_at: datetime
    author_handle: str | None = None
    author_followers: int | None = None
    lang: str | None = None
    sentiment: float | None = None
    sentiment_label: str | None = None
    triage: Mapping[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> PipelineItem:
        """A copy with `changes` applied."""
        return dataclasses.replace(self, **changes)


class Stage(Protocol):
    """A step of the pipeline; it returns a new item and writes nothing itself."""

    name: str

    def process(self, item: PipelineItem) -> PipelineItem: ...


class TriageStage:
    """Language, sentiment, complaint/anger/urgency flags, queue and priority with reasons, in one pass."""

    name = "triage"

    def __init__(self, rules: TriageRules) -> None:
        from triage import Triager

        self.triager = Triager(rules)

    def process(self, item: PipelineItem) -> PipelineItem:
        from triage import TriageInput

        result = self.triager.triage(
            TriageInput(
                text=item.text,
                channel=item.platform,
                public=item.public,
                author_followers=item.author_followers,
                author_handle=item.author_handle,
            )
        )
        return item.with_(lang=result.lang, sentiment=result.sentiment, sentiment_label=result.sentiment_label,
                          triage=result.as_json())


def run_stages(stages: Sequence[Stage], item: PipelineItem) -> PipelineItem:
    """Apply every stage in order."""
    for stage in stages:
        item = stage.process(item)
    return item


def default_stages(rules: TriageRules) -> list[Stage]:
    """The stages `serve` runs: full triage (which includes language and sentiment)."""
    return [TriageStage(rules)]
