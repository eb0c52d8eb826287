"""VADER with guards against its slow paths: capped length, capped word count, capped emoji count."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer, SentiText

MAX_CHARS = 500
MAX_WORDS = 80
MAX_EMOJI = 8
_SENTENCE_GAP_RE = re.compile(r"(?<=[.!?])\s+(?=\S)")
# VADER negates a word when "no"/"not" stands up to three words before it, even across a sentence
# end ("still no refund!!! SCAM" came out positive); three "." tokens at each sentence gap, which VADER
# reads as neutral words, keep a negation inside its sentence.
_GAP = " . . . "
# VADER rescans the whole word list for every sentiment word ("but", idioms), so time grows with the
# square of the word count; each emoji expands to several words, which is why both are capped.


@dataclass(frozen=True, slots=True)
class VaderScores:
    """VADER's four figures for one text."""

    compound: float
    neg: float
    neu: float
    pos: float

    def dense(self) -> tuple[float, float, float, float]:
        """The scores in the order the shipped models take them as features."""
        return (self.compound, self.neg, self.neu, self.pos)


DENSE_NAMES = ("vader_compound", "vader_neg", "vader_neu", "vader_pos")


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
# VADER spells out emoji one character at a time (`analyzer.emojis` maps single characters); every
# emoji is outside ASCII, so a scan for non-ASCII characters finds all candidates. A character class
# of the ~3,500 emoji instead costs about 100 µs on a tweet with accented letters (Italian).


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _emoji_count(text: str) -> int:
    """How many characters of `text` VADER spells out as emoji."""
    if text.isascii():
        return 0
    emojis = _analyzer().emojis
    return sum(1 for ch in _NON_ASCII_RE.findall(text) if ch in emojis)


def bounded_text(text: str, ignore: re.Pattern[str] | None = None) -> str:
    """The part of `text` VADER may see: at most MAX_CHARS characters, MAX_WORDS words, MAX_EMOJI emoji."""
    text = text[:MAX_CHARS]
    if ignore is not None:
        text = ignore.sub(" ", text)
    words = text.split(maxsplit=MAX_WORDS)
    if len(words) > MAX_WORDS:
        text = " ".join(words[:MAX_WORDS])
    text = _SENTENCE_GAP_RE.sub(_GAP, text)
    if _emoji_count(text) > MAX_EMOJI:
        emojis = _analyzer().emojis
        seen = 0

        def keep_first(match: re.Match[str]) -> str:
            nonlocal seen
            ch = match.group(0)
            if ch not in emojis:
                return ch
            seen += 1
            return ch if seen <= MAX_EMOJI else ""

        text = _NON_ASCII_RE.sub(keep_first, text)
    return text


def vader_scores(text: str, ignore: re.Pattern[str] | None = None) -> VaderScores:
    """VADER polarity of the bounded text; `ignore` blanks out words that must not count (brand names)."""
    scores = polarity_scores(bounded_text(text, ignore))
    return VaderScores(scores["compound"], scores["neg"], scores["neu"], scores["pos"])


def polarity_scores(text: str) -> dict[str, float]:
    """Exactly `SentimentIntensityAnalyzer.polarity_scores(text)`, with a faster emoji step.

    VADER first rebuilds the text one character at a time to spell out emoji, which costs about a
    quarter of its time on a tweet; here an ASCII text is kept as it is, and in any other text the
    non-ASCII characters that are emoji are spelled out in one regex pass with VADER's spacing (a
    space before an emoji unless it starts the text or follows a space). The rest calls VADER's own
    methods in VADER's order; the tests compare the scores with `polarity_scores` on every dataset line.
    """
    analyzer = _analyzer()
    if not text.isascii():
        emojis = analyzer.emojis

        def spell(match: re.Match[str]) -> str:
            description = emojis.get(match.group(0))
            if description is None:
                return match.group(0)
            at = match.start()
            return (" " if at > 0 and text[at - 1] != " " else "") + description

        text = _NON_ASCII_RE.sub(spell, text)
    text = text.strip()
    sentitext = SentiText(text)
    sentiments: list[float] = []
    words = sentitext.words_and_emoticons
    last = len(words) - 1
    for i, item in enumerate(words):
        lowered = item.lower()
        if lowered in BOOSTER_DICT or (i < last and lowered == "kind" and words[i + 1].lower() == "of"):
            sentiments.append(0)
            continue
        sentiments = analyzer.sentiment_valence(0, sentitext, item, i, sentiments)
    sentiments = analyzer._but_check(words, sentiments)
    return analyzer.score_valence(sentiments, text)
