"""Pipeline stages: pure, deterministic steps that enrich one inbound message."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


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


class LanguageStage:
    """Identifies the language: en, it or other."""

    name = "language"

    def process(self, item: PipelineItem) -> PipelineItem:
        from sentiment import detect_language

        return item.with_(lang=detect_language(item.text))


class SentimentStage:
    """Scores sentiment with the analyzer for the message's language (VADER for English)."""

    name = "sentiment"

    def __init__(self, ignore_words: Sequence[str] = ()) -> None:
        self.ignore_words = tuple(ignore_words)

    def process(self, item: PipelineItem) -> PipelineItem:
        from sentiment import analyze

        result = analyze(item.text, item.lang, ignore_words=self.ignore_words)
        return item.with_(lang=result.lang, sentiment=result.compound, sentiment_label=result.label)


def run_stages(stages: Sequence[Stage], item: PipelineItem) -> PipelineItem:
    """Apply every stage in order."""
    for stage in stages:
        item = stage.process(item)
    return item


def default_stages(triage_config: Mapping[str, Any] | None = None) -> list[Stage]:
    """The stages `serve` runs: language, then sentiment."""
    ignore = list((triage_config or {}).get("ignore_words", []))
    return [LanguageStage(), SentimentStage(ignore)]
