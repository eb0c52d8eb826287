"""The triage stage: language, sentiment, complaint / anger / urgency flags, queue and priority."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sentiment.analyzer import Scorer, clean, ignore_pattern
from sentiment.language import detect_language
from sentiment.linear import LinearModel
from sentiment.phrases import TextKeys, text_keys
from sentiment.vader import vader_scores
from triage import cues, priority
from triage.rules import TriageRules
from triage.types import QUEUES, Contribution, TriageInput, TriageResult

MODEL_PATH = Path(__file__).parent / "models" / "triage.json.gz"
COMPLAINT_THRESHOLD = 0.5
ANGRY_THRESHOLD = 0.5
URGENT_THRESHOLD = 0.5
MAX_TEXT = 5000
"""Characters looked at for cues and rules; models and VADER cap further on their own."""

_HAS_CONTENT_RE = re.compile(r"[^\W\d_]|[\U0001F000-\U0001FAFF\u2600-\u27BF]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_NOISE_RE = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+")


@lru_cache(maxsize=2)
def load_triage_model(path: Path = MODEL_PATH) -> LinearModel:
    """The shipped complaint / queue / angry / urgent model, loaded once per path."""
    return LinearModel.load(path)


_SCORERS: dict[int, tuple[LinearModel, Scorer]] = {}


def scorer_for(model: LinearModel) -> Scorer:
    """The sentiment models and `model` merged for one feature look-up per text; built once per model."""
    hit = _SCORERS.get(id(model))
    if hit is None or hit[0] is not model:
        if len(_SCORERS) >= 4:
            _SCORERS.clear()
        hit = _SCORERS[id(model)] = (model, Scorer([model]))
    return hit[1]


@dataclass(frozen=True, slots=True)
class Flags:
    """What the text says, before brand rules and priority."""

    lang: str
    sentiment: float
    sentiment_label: str
    complaint_score: float
    complaint: bool
    angry: bool
    angry_reasons: tuple[str, ...]
    urgent: bool
    urgent_reasons: tuple[str, ...]
    queue: str
    queue_reason: str = ""


class Triager:
    """Built once from the brand's rules; `triage()` is pure and takes well under a millisecond."""

    def __init__(self, rules: TriageRules | None = None, *, model: LinearModel | None = None) -> None:
        self.rules = rules or TriageRules()
        self.model = model or load_triage_model()
        self._ignore = ignore_pattern(frozenset(self.rules.ignore_words))
        self._scorer = scorer_for(self.model)
        self._columns = {head.name: head.start for head in self.model.heads if head.binary}
        self._queue_head = self.model.head("queue")

    def flags(self, text: str) -> Flags:
        """Language, sentiment, complaint, anger, urgency and the model's queue for one text."""
        text = text[:MAX_TEXT]
        content = _NOISE_RE.sub(" ", text)
        if not _HAS_CONTENT_RE.search(content):
            return Flags("other", 0.0, "neutral", 0.0, False, False, (), False, (), "other")
        scorer = self._scorer
        summed = scorer.summed(clean(text, self._ignore))
        if not _LETTER_RE.search(content):
            # Emoji only: the sentiment is real, but there is nothing a model could route on.
            sentiment = scorer.sentiment(text, "other", summed, vader_scores(text))
            queue = "marketing" if sentiment.label == "positive" else "other"
            return Flags("other", sentiment.compound, sentiment.label, 0.0, False, False, (), False, (), queue)
        lang = detect_language(text)
        keys = text_keys(text)
        vader = None if lang == "it" else vader_scores(text, self._ignore)
        sentiment = scorer.sentiment(text, lang, summed, vader, keys)
        raw = scorer.models.logits(self.model.name, summed).tolist()
        complaint_score = _sigmoid(raw[self._columns["complaint"]])
        if lang == "it" and sentiment.label != "positive" and cues.matches(cues.COMPLAINT_CUES_IT, text, keys):
            # The complaint model learned English; Italian complaints are caught by their phrases.
            complaint_score = max(complaint_score, 0.8)
        urgent_reasons = cues.matches(cues.URGENT_CUES, text, keys)
        if cues.MONEY_TAKEN_REASON in urgent_reasons:
            # A wrong charge is a breach whatever the wording; the model sees few of them.
            complaint_score = max(complaint_score, 0.8)
        complaint = complaint_score >= COMPLAINT_THRESHOLD
        negative = sentiment.label == "negative" or complaint

        angry_reasons = cues.matches(cues.ANGRY_CUES, text, keys)
        if cues.shouting(text):
            angry_reasons += ("shouting",)
        angry = _sigmoid(raw[self._columns["angry"]]) >= ANGRY_THRESHOLD or (bool(angry_reasons) and negative)
        if not angry:
            angry_reasons = ()

        queue_head = self._queue_head
        queue_probs = _softmax(raw[queue_head.start : queue_head.stop])
        queue = queue_head.labels[queue_probs.index(max(queue_probs))]
        urgent = _sigmoid(raw[self._columns["urgent"]]) >= URGENT_THRESHOLD or (
            bool(urgent_reasons) and (negative or queue == "support")
        )
        if not urgent:
            urgent_reasons = ()
        queue, queue_reason = _settle_queue(queue, queue_probs[0], lang, sentiment.label, complaint, urgent, text, keys)
        return Flags(
            lang=lang,
            sentiment=sentiment.compound,
            sentiment_label=sentiment.label,
            complaint_score=round(complaint_score, 4),
            complaint=complaint,
            angry=angry,
            angry_reasons=angry_reasons,
            urgent=urgent,
            urgent_reasons=urgent_reasons,
            queue=queue,
            queue_reason=queue_reason,
        )

    def triage(self, inp: TriageInput) -> TriageResult:
        """Triage one inbound message."""
        text = inp.text if isinstance(inp.text, str) else str(inp.text or "")
        flags = self.flags(text)
        queue, queue_reason = flags.queue, flags.queue_reason
        tags: list[str] = []
        parts: list[Contribution] = []
        for rule in self.rules.rules:
            if not rule.pattern.search(text[:MAX_TEXT]):
                continue
            if rule.queue is not None:
                queue, queue_reason = rule.queue, f"rule: {rule.tag or rule.label}"
            if rule.tag is not None and rule.tag not in tags:
                tags.append(rule.tag)
            if rule.priority_bump:
                parts.append(Contribution("rule", f"rule: {rule.tag or rule.label}", rule.priority_bump))
        public = inp.public or (inp.channel is not None and inp.channel in self.rules.public_channels)
        public_complaint = flags.complaint and public and queue != "other"
        if queue != "other":
            if public_complaint:
                parts.append(Contribution("complaint", "public complaint", priority.PUBLIC_COMPLAINT))
            elif flags.complaint:
                parts.append(Contribution("complaint", "complaint", priority.COMPLAINT))
            if flags.angry:
                parts.append(Contribution("angry", _with_detail("angry", flags.angry_reasons), priority.ANGRY))
            if flags.urgent:
                parts.append(
                    Contribution("urgent", _with_detail("urgent", flags.urgent_reasons), priority.URGENT)
                )
            reach = priority.reach_points(inp.author_followers)
            if reach is not None:
                parts.append(reach)
        if self.rules.is_vip(inp.author_handle):
            parts.append(Contribution("vip", "VIP", priority.VIP))
        waiting = priority.waiting_points(inp.waiting_seconds)
        if waiting is not None and queue != "other":
            parts.append(waiting)
        score = priority.total(parts)
        level = self.rules.priority_for(score) if queue != "other" or parts else "P4"
        return TriageResult(
            lang=flags.lang,
            sentiment=flags.sentiment,
            sentiment_label=flags.sentiment_label,
            complaint=flags.complaint,
            complaint_score=flags.complaint_score,
            angry=flags.angry,
            urgent=flags.urgent,
            public_complaint=public_complaint,
            queue=queue if queue in QUEUES else "other",
            priority=level,
            score=score,
            reasons=tuple(part.reason for part in parts),
            tags=tuple(tags),
            breakdown=tuple(parts),
            queue_reason=queue_reason if queue in QUEUES else "",
        )


def _settle_queue(
    queue: str, p_support: float, lang: str, label: str, complaint: bool, urgent: bool, text: str,
    keys: TextKeys,
) -> tuple[str, str]:
    """The model's queue, corrected where it is known to be weak (a problem wins; sales leads; non-English
    text), and the reason when a cue decided it ("" when the model did)."""
    if urgent:
        return "support", "urgent"
    if complaint and (queue == "other" and p_support > 0.25 or lang != "en"):
        return "support", "complaint"
    if not complaint and (found := cues.matches(cues.MARKETING_CUES, text, keys)):
        return "marketing", found[0]
    if (found := cues.matches(cues.SALES_CUES, text, keys)) and not (complaint and cues.matches(cues.PROBLEM_CUES, text, keys)):
        # A question before buying or a wish for the range asks for no fix, even when it sounds
        # disappointed ("still not available to preorder?"); a fault or loss the customer reports
        # ("arrived broken, do you sell spare parts?") or an urgent problem outranks it.
        return "marketing", found[0]
    if lang != "en" and queue == "other" and label == "positive":
        return "marketing", "praise"
    return queue, ""


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def _with_detail(flag: str, details: tuple[str, ...]) -> str:
    return f"{flag} ({details[0]})" if details else flag
