"""Language identification: `en`, `it` or `other`, with py3langid restricted to likely languages."""
from __future__ import annotations

import re
from functools import lru_cache

CANDIDATES = ("en", "it", "es", "fr", "de", "pt", "nl")
"""Languages py3langid may choose from; anything but en and it is reported as `other`."""

SUPPORTED = ("en", "it")
SHORT_WORDS = 8
MAX_CHARS = 300
MIN_LETTERS = 3

_STRIP_RE = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+|\bRT\b|&\w+;", re.IGNORECASE)
_LETTERS_RE = re.compile(r"[^\W\d_](?:.*?[^\W\d_]){" + str(MIN_LETTERS - 1) + "}", re.DOTALL)
"""Matches when a text has at least MIN_LETTERS letters."""
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Function words that settle short posts py3langid would guess wrong ("grazie mille!", "help me pls");
# when a post has at least two of one language's and three times fewer of the other's, that language
# wins without running the identifier (which costs about 150 µs a message).
_EN_WORDS = frozenset(
    ["the", "and", "you", "your", "my", "is", "are", "was", "not", "this", "that", "for", "with", "have", "has", "to", "of", "it", "me", "we", "our", "they", "can", "can't", "don't", "didn't", "it's", "i'm", "please", "thanks", "thank", "why", "what", "when", "how", "still", "been", "will", "would", "on", "at", "be", "just", "but", "from", "all", "get", "got", "an", "or", "if", "did", "they", "there", "their", "about", "out", "up", "now", "who", "our", "us", "had", "were", "just", "i've", "you're", "won't", "doesn't", "isn't", "wasn't", "haven't"]
)
_IT_WORDS = frozenset(
    ["il", "lo", "la", "le", "gli", "di", "che", "non", "per", "con", "sono", "una", "uno", "mi", "ti", "ci", "si", "è", "e'", "ho", "ha", "hanno", "del", "della", "dei", "delle", "al", "alla", "nel", "nella", "ancora", "grazie", "ciao", "perché", "perchè", "come", "anche", "più", "sempre", "vostro", "vostra", "questo", "questa", "mio", "mia", "io", "voi", "noi", "gli", "nel", "sul", "sulla", "degli", "dalla", "tutti", "tutto", "molto", "quando", "dove", "oggi", "stato", "fatto", "essere", "sei", "siamo", "siete", "ecco", "cosa"]
)


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(CANDIDATES))
    return identifier


def detect_language(text: str) -> str:
    """`en`, `it` or `other` (also for text with too few letters to tell: emoji, links, mentions)."""
    cleaned = _STRIP_RE.sub(" ", text[:MAX_CHARS]).lower()
    if not _LETTERS_RE.search(cleaned):
        return "other"
    words = _WORD_RE.findall(cleaned)
    en_hits = sum(map(_EN_WORDS.__contains__, words))
    it_hits = sum(map(_IT_WORDS.__contains__, words))
    if en_hits >= 2 and en_hits >= 3 * it_hits:
        return "en"
    if it_hits >= 2 and it_hits >= 3 * en_hits:
        return "it"
    if len(words) <= SHORT_WORDS and en_hits + it_hits == 1:
        # A short post with one function word of one language: the identifier has too little to go on.
        return "en" if en_hits else "it"
    lang, _ = _identifier().classify(cleaned)
    return lang if lang in SUPPORTED else "other"
