"""Text normalization and the sparse n-gram features shared by every shipped linear model."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_CHARS = 1000
"""Only this many characters of a message are featurized: the gist of a post is in its start."""

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_DIGIT_RE = re.compile(r"\d")
_REPEAT_RE = re.compile(r"(.)\1{3,}")
_WORD_RE = re.compile(r"[@#]?[\w']+|[^\w\s]")


def normalize(text: str) -> str:
    """Lowercase, mask URLs and digits, squeeze long character runs; the form every model sees."""
    text = unicodedata.normalize("NFC", text[:MAX_CHARS])
    text = _URL_RE.sub(" httpurl ", text)
    text = _DIGIT_RE.sub("0", text.lower())
    return _REPEAT_RE.sub(r"\1\1\1", text)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which n-grams a model was trained on; stored with the model so scoring matches training."""

    word_max: int = 2
    char_min: int = 1
    char_max: int = 4

    def as_json(self) -> dict[str, int]:
        return {"word_max": self.word_max, "char_min": self.char_min, "char_max": self.char_max}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> FeatureSpec:
        return cls(int(data["word_max"]), int(data["char_min"]), int(data["char_max"]))


def chunk_features(chunk: str, spec: FeatureSpec) -> tuple[list[str], list[str]]:
    """Features of one whitespace-separated chunk: (its word tokens, its word and char n-gram features)."""
    words = _WORD_RE.findall(chunk)
    feats = ["w " + w for w in words]
    padded = " " + chunk + " "
    size = len(padded)
    for n in range(spec.char_min, spec.char_max + 1):
        feats.extend(padded[i : i + n] for i in range(size - n + 1))
    return words, feats


def extract(normalized: str, spec: FeatureSpec) -> set[str]:
    """The set of n-gram features of an already normalized text (presence, not counts)."""
    feats: set[str] = set()
    tokens: list[str] = []
    for chunk in normalized.split():
        words, chunk_feats = chunk_features(chunk, spec)
        tokens.extend(words)
        feats.update(chunk_feats)
    if spec.word_max >= 2:
        feats.update(bigrams(tokens))
    return feats


def bigrams(tokens: list[str]) -> list[str]:
    """Word-bigram features of a token sequence."""
    return ["b " + a + " " + b for a, b in zip(tokens, tokens[1:])]
