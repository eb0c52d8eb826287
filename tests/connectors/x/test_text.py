"""Tweet length as X counts it (twitter-text v3 weights, URLs as 23, emoji sequences as 2)."""
from __future__ import annotations

import pytest

from connectors.x.text import MAX_TWEET, fits_in_tweet, weighted_length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("hello", 5),
        ("a" * 280, 280),
        ("à" * 280, 280),  # Latin-1 supplement is in the light range 0-4351
        ("Привет", 6),  # Cyrillic too
        ("こんにちは", 10),  # CJK weighs 2
        ("あ" * 140, 280),
        ("한국어", 6),
        ("— “quoted” ‘x’ …", 17),  # dashes and quotes 8208-8223 weigh 1, the ellipsis 8230 weighs 2
        ("\u2032\u2033", 2),  # primes, 8242-8247
        ("cafe\u0301", 4),  # NFC folds e + combining acute into é
        ("https://example.com/a/very/long/path?with=query&and=more#fragment", 23),
        ("http://t.co/x", 23),
        ("see acme.com for help", 4 + 23 + 9),
        ("see acme.com.", 4 + 23 + 1),  # the full stop ends the sentence, not the URL
        ("(https://acme.com/a_(b)) ok", 1 + 23 + 4),
        ("go to acme.it/help", 6 + 23),  # a country TLD with a path is a URL
        ("open file.py", 12),  # a country TLD alone is not
        ("mail pat@acme.com", 17),  # an e-mail address is not a URL
        ("e.g. U.S.A.", 11),
        ("👍", 2),
        ("👍🏽", 2),  # skin tone modifier
        ("👨‍👩‍👧‍👦", 2),  # ZWJ family of seven code points
        ("🇮🇹🇫🇷", 4),  # two flags
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2),  # subdivision flag (tag sequence)
        ("1️⃣", 2),  # keycap
        ("©", 1),
        ("©️", 2),  # © as emoji
        ("❤️", 2),
        ("ok 🙏 thanks", 12),
    ],
)
def test_weighted_length(text: str, length: int) -> None:
    assert weighted_length(text) == length


def test_the_limit_is_280_weighted_characters() -> None:
    assert MAX_TWEET == 280
    assert fits_in_tweet("a" * 280)
    assert not fits_in_tweet("a" * 281)
    assert not fits_in_tweet("あ" * 141)
    assert fits_in_tweet("https://example.com/" + "x" * 500)
    assert weighted_length("a" * 257 + " https://example.com/" + "x" * 500) == 281
