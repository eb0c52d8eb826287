"""Text normalization and the sparse n-gram features shared by every shipped linear model."""
from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

MAX_CHARS = 1000
"""Only this many characters of a message are featurized: the gist of a post is in its start."""
MAX_CHUNK = 40
"""Character n-grams come from at most this many characters of a whitespace chunk (no word is longer)."""

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


def chunk_features(chunk: str, spec: FeatureSpec, max_chunk: int = MAX_CHUNK) -> tuple[list[str], list[str]]:
    """Features of one whitespace-separated chunk: (its word tokens, its word and char n-gram features)."""
    words = _WORD_RE.findall(chunk)
    feats = ["w " + w for w in words]
    padded = " " + chunk[:max_chunk] + " "
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
    return ["b " + a + " " + b for a, b in itertools.pairwise(tokens)]


# --- Run-time look-up -------------------------------------------------------------------------------
# Character n-grams are most of a text's features (about four per character), and building each as a
# Python string to look it up costs ~150 µs per tweet. At run time they are hashed instead, all at
# once with numpy: a polynomial hash over the code points (mod 2^64, exact integer arithmetic, so the
# same on every machine) plus a salt for the length, looked up by binary search among the hashes of
# the vocabulary's character n-grams. Words and word bigrams are few and go through dicts.
#
# The chunks are hashed as one string " c1  c2  c3 ": an n-gram spanning two chunks contains two
# spaces in a row, which no padded chunk has, so it can never be a vocabulary n-gram.

_P = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_N_SALT = 0x94D049BB133111EB
_MAX_N = 4
_MAX_PADDED = 8192
_TAIL = chr(0x10FFFF) * (_MAX_N - 1)  # a noncharacter: padding for the n-grams that run off the end
_OFFSETS = np.arange(_MAX_N)[:, None] + np.arange(_MAX_PADDED)[None, :]
_ROW_POWERS = np.array([[pow(_P, j, 1 << 64)] for j in range(_MAX_N)], dtype=np.uint64)
_ROW_SALTS = np.array([[(j + 1) * _N_SALT & _MASK] for j in range(_MAX_N)], dtype=np.uint64)


def char_ngram_hash(gram: str) -> int:
    """The hash `FeatureIndex` gives the character n-gram `gram` (computed with Python integers)."""
    value = len(gram) * _N_SALT
    for j, ch in enumerate(gram):
        value += ord(ch) * pow(_P, j, 1 << 64)
    return value & _MASK


def _join_pair(a: str, b: str) -> str:
    return a + " " + b


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy's hash-based unique costs ~100 µs on a small array)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _is_char_gram(feature: str) -> bool:
    if feature.startswith("w ") and len(feature) >= 3:
        return False
    return not (feature.startswith("b ") and len(feature) >= 5)


class FeatureIndex:
    """Maps a normalized text to the rows of a vocabulary's features present in it, fast.

    Gives exactly the rows of `extract(normalized, spec)` found in the vocabulary (see the tests).
    """

    __slots__ = ("hash_rows", "hashes", "pairs", "spec", "words")

    def __init__(self, vocab: dict[str, int], spec: FeatureSpec) -> None:
        self.spec = spec
        self.words: dict[str, int] = {}
        self.pairs: dict[str, int] = {}
        grams: list[tuple[int, int]] = []
        for feature, row in vocab.items():
            if not _is_char_gram(feature):
                (self.words if feature[0] == "w" else self.pairs)[feature[2:]] = row
            elif spec.char_min <= len(feature) <= spec.char_max:
                if spec.char_max > _MAX_N:
                    raise ValueError(f"character n-grams longer than {_MAX_N} are not supported")
                grams.append((char_ngram_hash(feature), row))
        grams.sort()
        self.hashes = np.array([h for h, _ in grams], dtype=np.uint64)
        self.hash_rows = np.array([r for _, r in grams], dtype=np.intp)
        if len(self.hashes) > 1 and bool(np.any(self.hashes[1:] == self.hashes[:-1])):
            raise ValueError("character n-gram hash collision in the vocabulary")

    def rows(self, normalized: str) -> np.ndarray:
        """Sorted unique vocabulary rows of the features of an already normalized text."""
        spec = self.spec
        tokens = _WORD_RE.findall(normalized)
        found = [row for row in map(self.words.get, tokens) if row is not None]
        if spec.word_max >= 2 and len(tokens) > 1:
            found.extend(row for row in map(self.pairs.get, map(_join_pair, tokens, tokens[1:])) if row is not None)
        parts = [np.array(found, dtype=np.intp)] if found else []
        if spec.char_min <= spec.char_max and len(self.hashes):
            char_rows = self._char_rows(normalized)
            if char_rows is not None:
                parts.append(char_rows)
        if not parts:
            return np.zeros(0, dtype=np.intp)
        return _sorted_unique(np.concatenate(parts) if len(parts) > 1 else parts[0])

    def _char_rows(self, normalized: str) -> np.ndarray | None:
        chunks = normalized.split()
        if not chunks:
            return None
        padded = "".join([" " + chunk[:MAX_CHUNK] + " " for chunk in chunks]) + _TAIL
        codes = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
        size = len(codes) - len(_TAIL)
        if size > _MAX_PADDED:  # cannot happen for normalized text (MAX_CHARS); kept as a bound
            return None
        # Row n-1 of `grams` holds the hashes of the n-grams starting at each position (n = 1..4):
        # a cumulative sum down the rows of code * P^(n-1). N-grams running into the tail end in a
        # code point no text has, so they match nothing.
        grams = codes[_OFFSETS[:, :size]]
        grams *= _ROW_POWERS
        np.cumsum(grams, axis=0, out=grams)
        grams += _ROW_SALTS
        keys = grams[self.spec.char_min - 1 : self.spec.char_max].ravel()
        at = np.searchsorted(self.hashes, keys)
        at[at == len(self.hashes)] = 0
        return self.hash_rows[at[self.hashes[at] == keys]]
