"""Whole-word phrase lists matched fast: one token-prefix look-up decides which lists can match at all.

A regex alternation of many phrases tries every phrase at every character of the text, which costs
about 100 µs per message for the cue lists. Here every phrase has an *anchor*: the literal
beginning of its first word (at least three characters, or a whole short word). A phrase can only
match where a token of the text starts with its anchor, so the text's token prefixes (one regex scan,
shared by every list) are intersected with the anchors, and only the lists that could match run their
regex, and only at the tokens starting with one of their anchors. The result is exactly the regex's:
the prefilter never drops a place where the regex would have matched.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_PREFIX_RE = re.compile(r"(?<!\w)\w{1,3}")
_META = set("\\()[]{}.*+?|^$")
_OPTIONAL = set("?*{")


@dataclass(frozen=True, slots=True)
class TextKeys:
    """The first (up to) three characters of every word token of a text, lowercased, and the lowered text.

    `lowered` is empty when lowercasing changed the text's length (a few letters, such as "İ", lower
    to two characters): positions in it would then not index the text itself.
    """

    keys: frozenset[str]
    lowered: str = ""

    def starts(self, key: str) -> list[int]:
        """Every place where `key` occurs in the lowered text (a superset of the tokens starting with it)."""
        found = []
        at = self.lowered.find(key)
        while at >= 0:
            found.append(at)
            at = self.lowered.find(key, at + 1)
        return found


def text_keys(text: str) -> TextKeys:
    """The text's token prefix keys (see `TextKeys`)."""
    lowered = text.lower()
    keys = frozenset(_PREFIX_RE.findall(lowered))
    return TextKeys(keys, lowered if len(lowered) == len(text) else "")


def anchor(phrase: str) -> str:
    """The key a token must have for `phrase` to match there; ValueError when the phrase has none.

    The anchor is the phrase's leading run of literal word characters (stopping before a character
    made optional by `?`, `*` or `{`, and after one repeated by `+`), cut to three characters. A
    shorter run is accepted only when it is a whole word (followed by a space), because a token
    prefix key of a longer word would then differ.
    """
    literal: list[str] = []
    whole_word = False
    for i, ch in enumerate(phrase):
        nxt = phrase[i + 1] if i + 1 < len(phrase) else ""
        if ch in _META or not (ch.isalnum() or ch == "_"):
            whole_word = ch == " " and bool(literal)
            break
        if nxt in _OPTIONAL:
            break
        literal.append(ch.lower())
        if nxt == "+":
            break
    else:
        whole_word = bool(literal)
    key = "".join(literal)[:3]
    if len(key) < 3 and not whole_word:
        raise ValueError(f"phrase {phrase!r} needs a literal start of three letters or a whole word")
    return key


@dataclass(frozen=True, slots=True)
class PhraseList:
    """A named list of whole-word regex phrases (case-insensitive)."""

    name: str
    pattern: re.Pattern[str]
    anchors: frozenset[str]


def phrase_list(name: str, phrases: Iterable[str]) -> PhraseList:
    """Compile `phrases` (regex fragments) into one whole-word, case-insensitive pattern with anchors."""
    phrases = tuple(phrases)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(phrases) + r")(?!\w)", re.IGNORECASE)
    return PhraseList(name, pattern, frozenset(anchor(p) for p in phrases))


class PhraseSet:
    """Several phrase lists sharing one prefilter."""

    __slots__ = ("_by_key", "_keys", "lists")

    def __init__(self, lists: Sequence[PhraseList]) -> None:
        self.lists = tuple(lists)
        by_key: dict[str, list[int]] = {}
        for i, item in enumerate(self.lists):
            for key in item.anchors:
                by_key.setdefault(key, []).append(i)
        self._by_key = {key: tuple(ids) for key, ids in by_key.items()}
        self._keys = frozenset(self._by_key)

    def candidates(self, keys: TextKeys) -> dict[int, list[str]]:
        """Per list whose anchors occur among the text's keys (in list order): those keys."""
        hits = self._keys.intersection(keys.keys)
        if not hits:
            return {}
        found: dict[int, list[str]] = {}
        for key in hits:
            for i in self._by_key[key]:
                found.setdefault(i, []).append(key)
        return {i: found[i] for i in sorted(found)}

    def matches(self, text: str, keys: TextKeys | None = None) -> tuple[str, ...]:
        """Names of the lists that match somewhere in `text`, in list order."""
        if keys is None:
            keys = text_keys(text)
        out = []
        for i, hits in self.candidates(keys).items():
            pattern = self.lists[i].pattern
            if keys.lowered:
                found = any(pattern.match(text, at) for key in hits for at in keys.starts(key))
            else:
                found = pattern.search(text) is not None
            if found:
                out.append(self.lists[i].name)
        return tuple(out)

    def counts(self, text: str, keys: TextKeys | None = None) -> tuple[int, ...]:
        """Per list, the number of non-overlapping matches in `text`."""
        if keys is None:
            keys = text_keys(text)
        out = [0] * len(self.lists)
        for i, hits in self.candidates(keys).items():
            pattern = self.lists[i].pattern
            if not keys.lowered:
                out[i] = len(pattern.findall(text))
                continue
            end = 0
            for at in sorted({at for key in hits for at in keys.starts(key)}):
                # Like findall, a match starting inside the previous one is not counted.
                if at >= end and (match := pattern.match(text, at)) is not None:
                    out[i] += 1
                    end = match.end()
        return tuple(out)
