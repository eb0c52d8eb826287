"""Triage decisions an agent sees: flags, queue, priority and its reasons."""
from __future__ import annotations

import pytest

from triage import TriageInput, TriageResult, Triager, TriageRules, cues


@pytest.fixture(scope="module")
def triager() -> Triager:
    return Triager()


def test_double_charge_scam_is_an_urgent_negative_support_complaint(triager):
    result = triager.triage(TriageInput("charged twice and still no refund!!! SCAM"))
    assert result.sentiment_label == "negative" and result.sentiment < 0
    assert result.complaint and result.queue == "support" and result.urgent and result.angry
    assert any(reason.startswith("urgent") for reason in result.reasons)


def test_italian_complaint_is_a_negative_support_complaint(triager):
    result = triager.triage(TriageInput("Il mio ordine non è mai arrivato e nessuno risponde, voglio il rimborso"))
    assert result.lang == "it"
    assert result.sentiment_label == "negative" and result.complaint and result.queue == "support"


def test_partnership_request_goes_to_marketing(triager):
    result = triager.triage(TriageInput("Hi! We'd love to discuss a partnership with your brand for our summer campaign"))
    assert result.queue == "marketing" and not result.complaint
    assert result.queue_reason == "partnership or press request"



@pytest.mark.parametrize(
    "text",
    [
        "@shop do you sell the wool scarf in navy? would love one for my sister",
        "@shop when will the new trail shoes be available in Italy?",
        "@burgerbar please bring back the spicy wrap, still not over it",
        "@shop still not back in stock?? been waiting to buy the grey hoodie for weeks",
        "@negozio quando sarà disponibile in negozio la nuova collezione?",
    ],
)
def test_questions_before_buying_and_wishes_go_to_marketing(triager, text):
    result = triager.triage(TriageInput(text, public=True))
    assert result.queue == "marketing" and result.queue_reason in ("sales lead", "product wish")


def test_an_urgent_problem_outranks_a_sales_question(triager):
    result = triager.triage(TriageInput("@airline my flight today was cancelled and I'm stranded at the gate, do you sell lounge passes?"))
    assert result.urgent and result.queue == "support"


@pytest.mark.parametrize(
    "text",
    [
        "@shop my order arrived broken, do you sell replacement parts?",
        "@shop the zip on my jacket broke after a week. what size is the replacement?",
        "My last order arrived broken. Also, we run 12 shops and would like to stock your products",
        "I ordered at your wholesale prices and the box never arrived",
        "We became a stockist in March and the last delivery arrived damaged, we want to resell your products "
        "but not like this",
    ],
)
def test_a_reported_fault_outranks_a_sales_question(triager, text):
    assert cues.matches(cues.SALES_CUES, text)  # the sales question or lead is there
    result = triager.triage(TriageInput(text))
    assert result.complaint and result.queue == "support"


@pytest.mark.parametrize(
    "text",
    [
        "We run 12 shops and would like to stock your products",
        "Are you looking for resellers? We have three stores in Milan",
        "Do you offer wholesale pricing for cafes?",
        "Gestiamo 5 negozi e vorremmo vendere i vostri prodotti",
        "Vorrei diventare vostro rivenditore, a chi posso scrivere?",
        "We would love to become one of your resellers",
        "Prezzi all’ingrosso per bar?",
    ],
)
def test_shops_asking_to_sell_the_range_go_to_marketing(triager, text):
    result = triager.triage(TriageInput(text))
    assert result.queue == "marketing" and result.queue_reason == "reseller or wholesale lead"


@pytest.mark.parametrize(
    "text",
    [
        "Which stores near me carry your products?",
        "I'm looking for retailers near me that sell the blue jacket",
        "Your courier refused to carry your products upstairs, terrible service",
        "Why do shops stock your products when they are this bad? Worst quality ever",
        "I bought it from a reseller and it stopped working",
    ],
)
def test_shoppers_and_complaints_naming_shops_are_not_reseller_leads(triager, text):
    assert triager.triage(TriageInput(text)).queue_reason != "reseller or wholesale lead"


def test_public_angry_complaint_outranks_a_thank_you(triager):
    angry = triager.triage(
        TriageInput("@airline worst airline ever, lost my bag and nobody answers. Never flying with you again!", public=True)
    )
    thanks = triager.triage(TriageInput("@airline thank you for the lovely flight!", public=True))
    assert angry.public_complaint and angry.angry and "public complaint" in angry.reasons
    assert angry.score > thanks.score and angry.priority < thanks.priority
    assert thanks.queue == "marketing" and thanks.priority == "P4"


def test_a_private_complaint_is_not_a_public_complaint(triager):
    result = triager.triage(TriageInput("my order arrived broken and I want a refund", public=False))
    assert result.complaint and not result.public_complaint and "complaint" in result.reasons


def test_rules_route_tag_and_bump_with_a_reason():
    rules = TriageRules.from_dict(
        {"rules": [{"match": "order number", "queue": "support", "priority_bump": 4, "tag": "orders"}]}
    )
    plain = Triager().triage(TriageInput("what is an order number anyway lol"))
    ruled = Triager(rules).triage(TriageInput("what is an order number anyway lol"))
    assert ruled.queue == "support" and ruled.tags == ("orders",) and ruled.queue_reason == "rule: orders"
    assert "rule: orders" in ruled.reasons and ruled.score == plain.score + 4


def test_regex_rules_match_patterns():
    rules = TriageRules.from_dict({"rules": [{"regex": r"\bord-\d{4}\b", "tag": "has-order-id"}]})
    triager = Triager(rules)
    assert triager.triage(TriageInput("where is ORD-1234?")).tags == ("has-order-id",)
    assert triager.triage(TriageInput("where is my order?")).tags == ()


def test_vip_authors_rank_higher_with_a_reason():
    triager = Triager(TriageRules.from_dict({"vip_handles": ["@BigClient"]}))
    text = "hello, can someone call me back about my account?"
    vip = triager.triage(TriageInput(text, author_handle="bigclient"))
    other = triager.triage(TriageInput(text, author_handle="someone"))
    assert "VIP" in vip.reasons and vip.score == other.score + 3 and vip.priority < other.priority


def test_reach_and_waiting_add_points_and_say_why(triager):
    base = triager.triage(TriageInput("my parcel is late again"))
    loud = triager.triage(TriageInput("my parcel is late again", author_followers=250_000, waiting_seconds=3 * 3600 + 60))
    assert "250k followers" in loud.reasons and "waiting 3 h" in loud.reasons
    assert loud.score == base.score + 2 + 1


def test_ignore_words_from_the_rules_reach_the_sentiment():
    text = "Happy Socks delivered my order"
    plain = Triager().triage(TriageInput(text))
    ignored = Triager(TriageRules.from_dict({"ignore_words": ["Happy Socks"]})).triage(TriageInput(text))
    assert plain.sentiment > ignored.sentiment


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😂😂😂", "https://t.co/abc", "@brand @other", "x" * 100_000, "A" * 100_000 + "!!!",
     "Hello, il mio volo è cancellato and nobody helps", "\ufffd\ufffd\x00"],
)
def test_bad_input_still_gets_a_result(triager, text):
    result = triager.triage(TriageInput(text, channel="carrier-pigeon"))
    assert result.queue in ("support", "marketing", "other")
    assert result.priority in ("P1", "P2", "P3", "P4")
    assert -1.0 <= result.sentiment <= 1.0 and 0.0 <= result.complaint_score <= 1.0


def test_textless_posts_are_other_and_lowest_priority(triager):
    for text in ("", "https://t.co/abc", "@brand @other"):
        result = triager.triage(TriageInput(text, public=True))
        assert result.queue == "other" and result.priority == "P4" and not result.complaint


def test_result_survives_a_json_round_trip(triager):
    result = triager.triage(TriageInput("worst service ever, refund me now", public=True, waiting_seconds=7200))
    assert TriageResult.from_json(result.as_json()) == result
