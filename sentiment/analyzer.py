"""Sentiment of one message: a compound score in [-1, 1] and a label, by language.

English (and `other`): VADER, guarded, blended half and half with a linear model that takes
VADER's scores and n-grams as features; the label is the model's. Italian: a linear model trained
on Italian tweets (VADER scores Italian at chance level).
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from sentiment import italian_cues
from sentiment.features import normalize
from sentiment.language import detect_language
from sentiment.linear import LinearModel
from sentiment.vader import VaderScores, vader_scores

MODELS_DIR = Path(__file__).parent / "models"
LABELS = ("negative", "neutral", "positive")
VADER_SHARE = 0.5


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


def analyze(text: str, lang: str | None = None, *, ignore_words: Collection[str] = ()) -> SentimentResult:
    """Score `text`; `lang` skips detection, `ignore_words` are names that must not count as sentiment."""
    if lang is None:
        lang = detect_language(text)
    pattern = ignore_pattern(frozenset(ignore_words)) if ignore_words else None
    if lang == "it":
        return _italian(text, pattern)
    return _english(text, lang, pattern, vader_scores(text, pattern))


def analyze_with_vader(
    text: str, lang: str, pattern: re.Pattern[str] | None, vader: VaderScores
) -> SentimentResult:
    """`analyze` for callers that already ran VADER on the text (the triage stage)."""
    if lang == "it":
        return _italian(text, pattern)
    return _english(text, lang, pattern, vader)


def _clean(text: str, pattern: re.Pattern[str] | None) -> str:
    return normalize(pattern.sub(" ", text[:2000]) if pattern is not None else text)


def _english(text: str, lang: str, pattern: re.Pattern[str] | None, vader: VaderScores) -> SentimentResult:
    probs = load_model("en").predict(_clean(text, pattern), vader.dense())["sentiment"]
    model_score = float(probs[2] - probs[0])
    compound = VADER_SHARE * vader.compound + (1.0 - VADER_SHARE) * model_score
    return SentimentResult(round(compound, 4), LABELS[int(probs.argmax())], lang)


def _italian(text: str, pattern: re.Pattern[str] | None) -> SentimentResult:
    probs = load_model("it").predict(_clean(text, pattern))["sentiment"]
    negative, positive = italian_cues.cue_counts(text[:2000])
    if negative or positive:
        logits = np.log(np.clip(probs, 1e-9, 1.0))
        logits[0] += italian_cues.WEIGHT * negative
        logits[2] += italian_cues.WEIGHT * positive
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
    return SentimentResult(round(float(probs[2] - probs[0]), 4), LABELS[int(probs.argmax())], "it")
