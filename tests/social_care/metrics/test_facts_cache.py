"""Reports with a facts cache equal reports without one, before and after the conversations change."""
from __future__ import annotations

import gc
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from social_care import actions
from social_care.metrics import MetricsReport, compute
from social_care.metrics.facts_cache import FactsCache
from social_care.metrics.gc_pause import cyclic_gc_paused
from social_care.store.models import Message
from tests.social_care.metrics.scenario import NOW, RULES, FakeClock, Scenario, at, resume, telegram
from tests.social_care.metrics.test_scenario import SINCE, UNTIL


async def report(scenario: Scenario, cache: FactsCache | None, now: Any = NOW) -> MetricsReport:
    return await compute(scenario.db, since=SINCE, until=UNTIL, now=now, rules=RULES, timezone="Europe/Rome",
                         facts_cache=cache)


def first_responses(report: MetricsReport) -> int:
    row = report.duration("first_response")
    return row.count if row is not None else 0


async def test_an_unchanged_store_is_answered_from_the_cache(scenario: Scenario) -> None:
    cache = FactsCache()
    cold = await report(scenario, cache)
    assert cold == await report(scenario, None)
    assert (cache.hits, len(cache)) == (0, 5)
    assert await report(scenario, cache) == cold
    assert cache.hits == 5  # no conversation replayed again


async def test_new_activity_is_replayed_and_the_rest_reused(scenario: Scenario, clock: FakeClock) -> None:
    cache = FactsCache()
    before = await report(scenario, cache)
    script = await resume(scenario.db, clock)
    c2, c5 = scenario.conversations["C2"], scenario.conversations["C5"]
    # Monday noon: the public complaint is answered, and C2's unanswered thanks is moved to marketing.
    await script.reply(at(23, 12, 10), "giulia", c5, "We are so sorry, sending a new one today", "public")
    await script.deliver(at(23, 12, 11))
    async with scenario.db.read() as session:
        thanks = await session.scalar(select(Message.id).where(
            Message.conversation_id == c2, Message.direction == "inbound").order_by(Message.id.desc()))
    await script.act(at(23, 12, 20), actions.correct_triage, "giulia", thanks, {"queue": "marketing"}, RULES)

    # A report as of NOW must not see what happened after it, nor keep facts replayed with future events.
    assert await report(scenario, cache) == before
    later = NOW + timedelta(hours=1)
    hits = cache.hits
    cached = await report(scenario, cache, later)
    assert cached == await report(scenario, None, later)
    assert cache.hits - hits == 3  # C1, C3 and C4 did not change
    assert first_responses(cached) == first_responses(before) + 1
    waiting = {(row.dimension, row.group): row.waiting for row in cached.backlog}
    assert waiting[("all", "all")] == 1 and waiting[("queue", "marketing")] == 1
    assert {(row.dimension, row.group): row.waiting for row in before.backlog}[("all", "all")] == 2
    assert await report(scenario, cache, later) == cached
    # Facts replayed at `later` hold C5's answer and C2's correction: a report as of NOW must not use them.
    assert await report(scenario, cache) == before


async def test_a_reopened_conversation_is_replayed(scenario: Scenario, clock: FakeClock) -> None:
    cache = FactsCache()
    before = await report(scenario, cache, NOW)
    script = await resume(scenario.db, clock)
    c1 = scenario.conversations["C1"]  # resolved on Thursday
    assert await script.customer(at(23, 12, 30, 2), telegram(1, 3, "Still nothing?", at(23, 12, 30))) == c1
    later = NOW + timedelta(hours=1)
    cached = await report(scenario, cache, later)
    assert cached == await report(scenario, None, later)
    assert len(cached.cycles) == len(before.cycles) + 1


async def test_a_small_cache_keeps_the_most_recent_and_still_answers_right(scenario: Scenario) -> None:
    cache = FactsCache(max_conversations=2)
    fresh = await report(scenario, None)
    assert await report(scenario, cache) == fresh
    ids = sorted(scenario.conversations.values())
    assert len(cache) == 2 and ids[-2] in cache and ids[-1] in cache  # replayed last, in id order
    assert await report(scenario, cache) == fresh
    assert len(cache) == 2
    with pytest.raises(ValueError):
        FactsCache(max_conversations=-1)


def test_the_collector_pause_nests_and_survives_errors() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("a failed report")
    assert gc.isenabled()


def test_the_collector_pause_is_shared_by_threads() -> None:
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cyclic_gc_paused():
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    assert entered.wait(5)
    with cyclic_gc_paused():
        pass
    assert not gc.isenabled()  # the other thread's report is still running
    release.set()
    worker.join(5)
    assert gc.isenabled()


def test_a_collector_disabled_by_someone_else_stays_disabled() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
