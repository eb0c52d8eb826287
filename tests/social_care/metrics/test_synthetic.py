"""A synthetic store: the engine finds every cycle the generator made, with the same response times."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from social_care.metrics import compute
from social_care.metrics.figures import quantile
from social_care.store.db import Database
from social_care.store.migrate import upgrade
from tests.social_care.metrics.synthetic import START, generate
from triage import TriageRules


async def test_the_engine_recovers_what_the_generator_meant(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    try:
        truth = await generate(db, conversations=400, days=30, seed=7, batch=150)
        now = START + timedelta(days=30)
        report = await compute(db, since=START, until=now, now=now, rules=TriageRules.from_dict({}))
    finally:
        await db.dispose()
    answered = [s for s in truth.first_responses if s is not None]
    assert len(report.cycles) == len(truth.first_responses)
    first = report.duration("first_response")
    assert first is not None and first.count == len(answered)
    # Float seconds from datetimes: equal to the microsecond the store keeps.
    assert first.median_seconds == pytest.approx(quantile(answered, 0.5), abs=1e-5)
    assert first.p90_seconds == pytest.approx(quantile(answered, 0.9), abs=1e-5)
    resolution = report.duration("resolution")
    assert resolution is not None and resolution.count == len(truth.resolutions)
    assert resolution.median_seconds == pytest.approx(quantile(truth.resolutions, 0.5), abs=1e-5)
    volume = sum(r.inbound_messages for r in report.volume if r.dimension == "all")
    assert volume == truth.inbound
