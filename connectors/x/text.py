"""Tweet length as X counts it: a documented subset of twitter-text's v3 weighted length.

Reference: https://docs.x.com/resources/fundamentals/counting-characters and the v3 configuration
in https://github.com/twitter/twitter-text/blob/master/config/v3.json:

- the text is NFC-normalized, then counted by Unicode code point;
- code points in 0-4351 (Latin, Greek, Cyrillic, Hebrew, Arabic, ... up to Georgian),
  8192-8205, 8208-8223 and 8242-8247 (spaces, dashes, quotes, primes) weigh 1, all others 2;
- every URL weighs 23 (``transformedURLLength``), whatever its length, because X wraps it in t.co;
- an emoji sequence (skin tones, ZWJ families, flags, keycaps) weighs 2 as a whole.

Subset, on purpose: URLs are recognized with a scheme (http/https, any TLD of two or more letters)
or without one when the top-level domain is in `BARE_TLDS` (a two-letter country TLD counts only
when a path follows, as twitter-text does for most ccTLDs); twitter-text's full TLD list and its
IDN rules are not reproduced. Emoji are recognized by the pictographic blocks below, not the full
Unicode emoji list. X itself remains the judge: a 400 for a text we let through is still reported.
"""
from __future__ import annotations

import re
import unicodedata

MAX_TWEET = 280
"""The weighted length limit of a post (`maxWeightedTweetLength`)."""

MAX_DM = 10_000
"""The character limit of a Direct Message (https://docs.x.com/x-api/direct-messages/manage/introduction)."""

URL_WEIGHT = 23
_SCALE = 100
_DEFAULT_WEIGHT = 200
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

BARE_TLDS = frozenset(
    ["com", "net", "org", "info", "biz", "edu", "gov", "mil", "int", "io", "ai", "app", "dev", "co", "me", "tv", "ly", "gg", "gl", "xyz", "shop", "store", "online", "site", "tech", "blog", "news", "cloud", "live", "link"]
)

# A URL: optional scheme, dot-separated labels, a TLD, optional port, optional path/query/fragment.
# Not preceded by a letter, digit, @, $ or # (an e-mail address, a cashtag or a hashtag).
_URL = re.compile(
    r"(?<![A-Za-z0-9@＠$#＃.])"
    r"(?P<scheme>https?://)?"
    r"(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,63}))"
    r"(?::\d{1,5})?"
    r"(?P<path>[/?#][^\s]*)?",
    re.IGNORECASE,
)
_TRAILING = ".,:;!?'\"…"

_ZWJ = 0x200D
_VS16 = 0xFE0F
_KEYCAP = 0x20E3


def weighted_length(text: str) -> int:
    """The length X counts for `text` (what must stay <= MAX_TWEET in a post)."""
    text = unicodedata.normalize("NFC", text)
    urls = {start: end for start, end in _url_spans(text)}
    points = [ord(ch) for ch in text]
    # `text` is a str, so indices are code points on both sides (no UTF-16 surrogates).
    total = 0
    i = 0
    while i < len(points):
        if i in urls:
            total += URL_WEIGHT * _SCALE
            i = urls[i]
            continue
        emoji = _emoji_length(points, i)
        if emoji:
            total += _DEFAULT_WEIGHT
            i += emoji
            continue
        total += _weight(points[i])
        i += 1
    return total // _SCALE


def fits_in_tweet(text: str) -> bool:
    """Whether `text` can be posted as one tweet."""
    return weighted_length(text) <= MAX_TWEET


def _weight(point: int) -> int:
    for start, end in _LIGHT_RANGES:
        if start <= point <= end:
            return _SCALE
    return _DEFAULT_WEIGHT


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL.finditer(text):
        tld = match.group("tld").lower()
        path = match.group("path")
        if not match.group("scheme") and tld not in BARE_TLDS and not (len(tld) == 2 and path):
            continue
        end = match.end()
        end -= len(match.group(0)) - len(_trim(match.group(0)))
        spans.append((match.start(), end))
    return spans


def _trim(url: str) -> str:
    """Drop trailing punctuation and an unbalanced closing parenthesis, as a reader would."""
    while url:
        if url[-1] in _TRAILING or url[-1] == ")" and url.count("(") < url.count(")"):
            url = url[:-1]
        else:
            break
    return url


def _is_pictographic(point: int) -> bool:
    return (
        0x1F000 <= point <= 0x1FAFF  # emoticons, symbols and pictographs, transport, supplemental
        or 0x2600 <= point <= 0x27BF  # miscellaneous symbols, dingbats
        or 0x2300 <= point <= 0x23FF  # watch, hourglass, media controls
        or 0x2B00 <= point <= 0x2BFF  # arrows, stars, squares
        or 0x2190 <= point <= 0x21FF  # arrows
        or 0x25A0 <= point <= 0x25FF  # geometric shapes
        or point in (0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _emoji_length(points: list[int], i: int) -> int:
    """How many code points the emoji sequence starting at `i` spans (0 when there is none)."""
    n = len(points)
    point = points[i]
    if 0x1F1E6 <= point <= 0x1F1FF:  # regional indicators: a pair is one flag
        return 2 if i + 1 < n and 0x1F1E6 <= points[i + 1] <= 0x1F1FF else 1
    if chr(point) in "0123456789#*" or point in (0xA9, 0xAE):
        # Text characters that are emoji only when followed by VS16 and/or the keycap mark.
        j = i + 1
        if j < n and points[j] == _VS16:
            j += 1
        if j < n and points[j] == _KEYCAP and chr(point) in "0123456789#*":
            j += 1
        elif j == i + 1 or chr(point) in "0123456789#*":
            return 0
        return j - i
    if not _is_pictographic(point):
        return 0
    j = i + 1
    while True:
        if j < n and points[j] == _VS16:
            j += 1
        if j < n and 0x1F3FB <= points[j] <= 0x1F3FF:  # skin tone modifiers
            j += 1
        while j < n and 0xE0020 <= points[j] <= 0xE007F:  # tag sequences (subdivision flags)
            j += 1
        if j + 1 < n and points[j] == _ZWJ and _is_pictographic(points[j + 1]):
            j += 2
            continue
        return j - i
