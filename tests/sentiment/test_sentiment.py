"""Language identification and sentiment as an agent would notice them."""
from __future__ import annotations

from sentiment import analyze, detect_language
from sentiment.vader import MAX_EMOJI, bounded_text, vader_scores


def test_short_italian_tweets_are_italian():
    for text in ("grazie mille!", "ancora niente rimborso", "il pacco non è arrivato", "pessimo servizio"):
        assert detect_language(text) == "it", text


def test_english_tweets_are_english():
    for text in ("@united my bag is still missing", "thanks for the quick reply!", "why is the app down again?"):
        assert detect_language(text) == "en", text


def test_other_languages_and_textless_posts_are_other():
    assert detect_language("¿Dónde está mi pedido? Nadie me responde") == "other"
    assert detect_language("😍😍😍") == "other"
    assert detect_language("https://t.co/abc @brand") == "other"
    assert detect_language("") == "other"


def test_english_complaint_is_negative_and_praise_positive():
    assert analyze("charged twice and still no refund!!! SCAM").label == "negative"
    praise = analyze("Loved the new store, the staff were wonderful :)")
    assert praise.label == "positive" and praise.compound > 0.3


def test_negation_does_not_cross_a_sentence_end():
    assert vader_scores("still no refund!!! SCAM").compound < 0


def test_italian_complaint_is_negative_and_praise_positive():
    complaint = analyze("Il mio ordine non è mai arrivato, servizio clienti pessimo e nessuno risponde")
    assert complaint.lang == "it" and complaint.label == "negative" and complaint.compound < 0
    praise = analyze("Grazie mille, siete stati gentilissimi e velocissimi! Bravi")
    assert praise.lang == "it" and praise.label == "positive"


def test_brand_names_can_be_ignored_as_sentiment_words():
    text = "Happy Socks delivered my order"
    plain = analyze(text, "en")
    ignored = analyze(text, "en", ignore_words=["Happy Socks"])
    assert plain.compound > ignored.compound


def test_compound_stays_in_range_on_hostile_input():
    for text in ("", "x" * 100_000, "😡" * 500, "😂 🙏 " * 300, "GOOD " * 5000, "\x00\ufffd"):
        result = analyze(text)
        assert -1.0 <= result.compound <= 1.0
        assert result.label in ("negative", "neutral", "positive")


def test_emoji_floods_are_cut_before_vader():
    kept = bounded_text("😂 🙏 " * 300)
    assert sum(kept.count(e) for e in "😂🙏") == MAX_EMOJI


def test_emoji_cut_keeps_accented_letters():
    kept = bounded_text("è😡" * 20 + " perché")
    assert kept.count("😡") == MAX_EMOJI
    assert kept.count("è") == 20
    assert kept.endswith(" perché")
