"""Sentiment of one message: a compound score in [-1, 1] and a label, by language.

English (and `other`): VADER, guarded, blended half and half with a linear model that takes VADER's
scores, n-grams and two stacked n-gram heads (one trained on the human ratings of VADER's tweets,
one on TweetEval emotion tweets) as features; the label is the model's. Italian: a linear model
trained on Italian tweets (VADER scores Italian at chance level) plus customer-care phrases.

A `Scorer` featurizes a text once for both sentiment models and any further model sharing their
feature spec (the triage stage adds its own), so a message's n-grams are looked up a single time.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from sentiment import italian_cues
from sentiment.features import normalize
from sentiment.language import detect_language
from sentiment.linear import LinearModel, ModelSet, head_probabilities
from sentiment.phrases import TextKeys
from sentiment.vader import VaderScores, vader_scores

MODELS_DIR = Path(__file__).parent / "models"
LABELS = ("negative", "neutral", "positive")
VADER_SHARE = 0.5
MAX_CHARS = 2000


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """Compound polarity in [-1, 1], its label and the language it was read in."""

    compound: float
    label: str
    lang: str


@lru_cache(maxsize=4)
def load_model(name: str, models_dir: Path = MODELS_DIR) -> LinearModel:
    """The shipped sentiment model `name` (`en` or `it`), loaded once."""
    return LinearModel.load(models_dir / f"{name}.json.gz")


@lru_cache(maxsize=256)
def ignore_pattern(words: frozenset[str]) -> re.Pattern[str] | None:
    """A regex blanking whole-word occurrences of brand and product names, longest first."""
    cleaned = sorted({w.strip() for w in words if w.strip()}, key=lambda w: (-len(w), w))
    if not cleaned:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in cleaned) + r")(?!\w)", re.IGNORECASE)


def clean(text: str, pattern: re.Pattern[str] | None) -> str:
    """The normalized form the models read: brand names blanked, at most MAX_CHARS characters."""
    text = text[:MAX_CHARS]
    return normalize(pattern.sub(" ", text) if pattern is not None else text)


class Scorer:
    """The English and Italian sentiment models, plus `extra` models, scored from one feature look-up."""

    def __init__(self, extra: Sequence[LinearModel] = (), *, en: LinearModel | None = None, it: LinearModel | None = None) -> None:
        self.en = en or load_model("en")
        self.it = it or load_model("it")
        self.models = ModelSet([self.en, self.it, *extra])

    def summed(self, normalized: str) -> np.ndarray:
        return self.models.summed(normalized)

    def sentiment(
        self, text: str, lang: str, summed: np.ndarray, vader: VaderScores | None, keys: TextKeys | None = None
    ) -> SentimentResult:
        """The sentiment of `text` in `lang` from its summed features (and VADER's scores for English)."""
        if lang == "it":
            raw = self.models.logits("it", summed)
            probs = head_probabilities(raw, self.it.head("sentiment"))
            return _italian(text, probs, keys)
        if vader is None:
            vader = vader_scores(text)
        raw = self.models.logits("en", summed, vader.dense())
        probs = head_probabilities(raw, self.en.head("sentiment"))
        return _english(probs, vader, lang)


@lru_cache(maxsize=1)
def default_scorer() -> Scorer:
    """The scorer of the shipped sentiment models."""
    return Scorer()


def analyze(text: str, lang: str | None = None, *, ignore_words: Collection[str] = ()) -> SentimentResult:
    """Score `text`; `lang` skips detection, `ignore_words` are names that must not count as sentiment."""
    if lang is None:
        lang = detect_language(text)
    pattern = ignore_pattern(frozenset(ignore_words)) if ignore_words else None
    vader = None if lang == "it" else vader_scores(text, pattern)
    return analyze_with_vader(text, lang, pattern, vader)


def analyze_with_vader(
    text: str, lang: str, pattern: re.Pattern[str] | None, vader: VaderScores | None
) -> SentimentResult:
    """`analyze` for callers that already ran VADER on the text (the triage stage)."""
    scorer = default_scorer()
    return scorer.sentiment(text, lang, scorer.summed(clean(text, pattern)), vader)


def _english(probs: np.ndarray, vader: VaderScores, lang: str) -> SentimentResult:
    model_score = float(probs[2] - probs[0])
    compound = VADER_SHARE * vader.compound + (1.0 - VADER_SHARE) * model_score
    return SentimentResult(round(compound, 4), LABELS[int(probs.argmax())], lang)


def _italian(text: str, probs: np.ndarray, keys: TextKeys | None) -> SentimentResult:
    negative, positive = italian_cues.cue_counts(text[:MAX_CHARS], keys)
    if negative or positive:
        logits = np.log(np.clip(probs, 1e-9, 1.0))
        logits[0] += italian_cues.WEIGHT * negative
        logits[2] += italian_cues.WEIGHT * positive
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
    return SentimentResult(round(float(probs[2] - probs[0]), 4), LABELS[int(probs.argmax())], "it")
