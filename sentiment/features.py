"""Text normalization and the sparse n-gram features shared by every shipped linear model."""
from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

try:
    from sentiment._ngram_index import NgramIndex
except ImportError:  # not compiled (a plain source checkout): the Python look-up gives the same rows
    NgramIndex = None

MAX_CHARS = 500
"""Only this many characters of a message are featurized: the gist of a post is in its start (VADER
reads as many). No training text is longer, and it bounds the time of a post of unknown words."""
MAX_TOKEN = 40
"""Character n-grams come from at most this many characters of a token (no word is longer)."""
MAX_INDEXED_GRAM = 4
"""`FeatureIndex` cuts unknown tokens into character n-grams of up to this length."""

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


def token_features(token: str, spec: FeatureSpec) -> set[str]:
    """The distinct features of one word token: the word itself and its character n-grams (space-padded)."""
    feats = {"w " + token}
    padded = " " + token[:MAX_TOKEN] + " "
    size = len(padded)
    for n in range(spec.char_min, spec.char_max + 1):
        feats.update(padded[i : i + n] for i in range(size - n + 1))
    return feats


def extract(normalized: str, spec: FeatureSpec) -> dict[str, int]:
    """The n-gram feature counts of an already normalized text.

    Each distinct token adds its word feature and its distinct character n-grams once, and each
    distinct word bigram counts once: a character n-gram's count is the number of different tokens
    it occurs in, every other feature's count is 1. Repeating a word adds nothing, and a text's
    counts are a sum over its distinct tokens, which lets `FeatureIndex` score the vocabulary's
    words from precomputed sums.
    """
    counts: dict[str, int] = {}
    tokens = _WORD_RE.findall(normalized)
    for token in dict.fromkeys(tokens):
        for feature in token_features(token, spec):
            counts[feature] = counts.get(feature, 0) + 1
    if spec.word_max >= 2:
        for feature in set(bigrams(tokens)):
            counts[feature] = 1
    return counts


def bigrams(tokens: list[str]) -> list[str]:
    """Word-bigram features of a token sequence."""
    return ["b " + a + " " + b for a, b in itertools.pairwise(tokens)]


# --- Run-time look-up -------------------------------------------------------------------------------
# A text's features are a sum over its distinct tokens (see `extract`), and about nine in ten tokens
# of a post are a word of the vocabulary. So each such word's feature rows (the word and its
# character n-grams) are summed once, when the index is built, into one extra row of the weight
# matrix (`expand`); a post then costs a dict look-up per token, n-gram look-ups for its other
# tokens only, its bigrams, and one gather and sum. The index keeps no state from the texts it sees.


def _is_char_gram(feature: str) -> bool:
    if feature.startswith("w ") and len(feature) >= 3:
        return False
    return not (feature.startswith("b ") and len(feature) >= 5)


class FeatureIndex:
    """Maps a normalized text to the matrix rows whose sum scores it.

    `members(rows(text))` are exactly the vocabulary rows of `extract(text, spec)`, each as often as
    its count (see the tests). `rows` gives a vocabulary word as one extra row, numbered after the
    vocabulary, standing for the sum of that word's feature rows; `expand` appends those sums to a
    weight matrix.
    """

    __slots__ = ("_compiled", "_members", "grams", "known", "pairs", "size", "spec")

    def __init__(self, vocab: dict[str, int], spec: FeatureSpec) -> None:
        if spec.char_max > MAX_INDEXED_GRAM:
            raise ValueError(f"character n-grams longer than {MAX_INDEXED_GRAM} are not indexed (char_max {spec.char_max})")
        self.spec = spec
        self.size = len(vocab)
        self.pairs: dict[str, int] = {}
        self.grams: dict[str, int] = {}
        words: dict[str, int] = {}
        for feature, row in vocab.items():
            if not _is_char_gram(feature):
                (words if feature[0] == "w" else self.pairs)[feature[2:]] = row
            elif spec.char_min <= len(feature) <= spec.char_max:
                self.grams[feature] = row
        ordered = sorted(words)
        self.known = {word: self.size + i for i, word in enumerate(ordered)}
        self._members = [[words[word], *self._char_rows(word)] for word in ordered]
        self._compiled = None if NgramIndex is None else NgramIndex(
            self.known, self.pairs, self.grams, max(1, spec.char_min), spec.char_max, spec.word_max, MAX_TOKEN
        )

    def rows(self, normalized: str) -> list[int]:
        """The rows (with repeats, vocabulary words as their extra rows) whose sum scores the text.

        The compiled look-up (`sentiment/_ngram_index.c`) when it is built, else `python_rows`: the
        same rows, possibly in another order.
        """
        if self._compiled is not None:
            return self._compiled.rows(normalized)
        return self.python_rows(normalized)

    def summed_rows(self, normalized: str, matrix: np.ndarray) -> np.ndarray:
        """The sum of `matrix`'s rows for the text; `matrix` is a float64 result of `expand`."""
        if self._compiled is not None:
            out = np.empty(matrix.shape[1])
            self._compiled.sum(normalized, matrix, out)
            return out
        return np.add.reduce(matrix[self.python_rows(normalized)], axis=0)

    @property
    def compiled(self) -> bool:
        """Whether `rows` runs the compiled look-up."""
        return self._compiled is not None

    def python_rows(self, normalized: str) -> list[int]:
        """`rows` in Python: the reference the compiled look-up is tested against."""
        tokens = _WORD_RE.findall(normalized)
        distinct = dict.fromkeys(tokens)
        out = list(map(self.known.get, distinct))
        if None in out:
            for token, row in zip(distinct, out):
                if row is None:
                    out.extend(self._char_row_set(token))
            out = [row for row in out if row is not None]
        if self.spec.word_max >= 2 and len(tokens) > 1:
            # Distinct pairs have distinct rows, so a set of rows counts each pair once.
            pairs = set(map(self.pairs.get, map(" ".join, zip(tokens, tokens[1:]))))
            pairs.discard(None)
            out.extend(pairs)
        return out  # type: ignore[return-value]

    def members(self, rows: Sequence[int]) -> np.ndarray:
        """`rows` with every extra row replaced by the vocabulary rows it stands for, sorted."""
        out: list[int] = []
        for row in map(int, rows):
            out.extend(self._members[row - self.size] if row >= self.size else (row,))
        return np.array(sorted(out), dtype=np.intp)

    def expand(self, matrix: np.ndarray) -> np.ndarray:
        """`matrix` (one row per vocabulary feature) with the extra rows of `rows` appended, as float64."""
        base = matrix.astype(np.float64)
        extra = np.zeros((len(self._members), matrix.shape[1]), dtype=np.float64)
        for start in range(0, len(self._members), 1024):
            group = self._members[start : start + 1024]
            # Every group member has at least its word's own row, so no segment is empty.
            flat = np.fromiter((row for members in group for row in members), dtype=np.intp)
            starts = np.cumsum([0] + [len(members) for members in group[:-1]])
            extra[start : start + len(group)] = np.add.reduceat(base[flat], starts, axis=0)
        return np.vstack((base, extra))

    def _char_rows(self, token: str) -> list[int]:
        """The distinct vocabulary rows of one token's character n-grams, sorted."""
        return sorted(self._char_row_set(token))

    def _char_row_set(self, token: str) -> set[int]:
        """The distinct vocabulary rows of one token's character n-grams."""
        if not self.grams:
            return set()
        padded = " " + token[:MAX_TOKEN] + " "
        # n-grams of every length at once, built by C-level concatenation (a Python loop of slices
        # costs about twice as much); lengths outside the spec are simply not in `grams`.
        two = list(map(operator.add, padded, padded[1:]))
        three = list(map(operator.add, two, padded[2:]))
        found = set(map(self.grams.get, [*padded, *two, *three, *map(operator.add, two, two[2:])]))
        found.discard(None)
        return found  # type: ignore[return-value]
