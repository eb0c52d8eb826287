"""The sanitizer: what it replaces, what it keeps, and that its quick check agrees with its careful walk."""
from __future__ import annotations

import random
from typing import Any

from social_care.domain import Author
from social_care.store.sanitize import MAX_CHANGES, Changes, _storable, clean_json, clean_text, sanitize
from tests.social_care.conftest import customer_message


def test_a_clean_record_is_returned_as_it_is() -> None:
    record = customer_message(1, text="Ciao 👋, ordine #5521")
    cleaned, changes = sanitize(record)
    assert cleaned is record and not changes


def test_a_split_surrogate_pair_is_joined_and_a_lone_one_replaced() -> None:
    changes = Changes()
    assert clean_text("\ud83d\udc4b and \ud83d alone", "text", changes) == "👋 and \ufffd alone"
    assert changes.as_json() == ["text: lone surrogates replaced"]


def test_long_ids_become_the_same_digest_every_time_and_different_ids_stay_different() -> None:
    first, _ = sanitize(customer_message(1, chat=10**200))
    again, _ = sanitize(customer_message(1, chat=10**200))
    other, _ = sanitize(customer_message(1, chat=10**200 + 1))
    assert first.source_id == again.source_id != other.source_id
    assert len(first.source_id) == 128 and len(first.author.platform_id) == 128


def test_the_record_of_changes_is_bounded() -> None:
    changes = Changes()
    clean_json({str(i): float("nan") for i in range(500)}, "raw", changes)
    recorded = changes.as_json()
    assert len(recorded) == MAX_CHANGES + 1 and recorded[-1] == f"… and {500 - MAX_CHANGES} more"


def test_a_name_longer_than_its_column_is_cut_visibly() -> None:
    record = customer_message(1)
    long_name = type(record)(**{**{f: getattr(record, f) for f in record.__slots__},
                               "author": Author(platform_id="42", name="x" * 1000)})
    cleaned, changes = sanitize(long_name)
    assert cleaned.author.name == "x" * 299 + "…" and changes.as_json() == ["author.name: cut to 300 characters"]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(12 if depth < 40 else 9)
    return [
        lambda: None, lambda: rng.random() < 0.5, lambda: rng.randint(-10**6, 10**6),
        lambda: rng.choice([2**63 - 1, -(2**63), 2**63, 10**30, 1234567890123456789]),
        lambda: rng.choice([0.5, float("nan"), float("inf"), -1e308]),
        lambda: rng.choice(["plain", "ünïcode", "\ud800", "a\x00b", "1234567890123456789012", ": 12345678901234567890"]),
        lambda: "x" * rng.randint(0, 5), lambda: "", lambda: "é",
        lambda: [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))],
        lambda: {rng.choice(["k", "\udfff", "n\x00", "ok"]) + str(i): _random_json(rng, depth + 1)
                 for i in range(rng.randint(0, 3))},
        lambda: [_random_json(rng, depth + 1)],
    ][pick]()


def test_the_quick_check_never_passes_what_the_walk_would_change() -> None:
    rng = random.Random(6)
    agreed = 0
    for _ in range(3000):
        value = _random_json(rng)
        changes = Changes()
        clean_json(value, "raw", changes)
        if _storable(value):
            assert not changes, (value, changes.as_json())
            agreed += 1
    assert agreed > 100
