"""The spike watcher: an alert is stored once, published, and POSTed to a real local webhook server."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from social_care.bus import Bus
from social_care.metrics.spike_watch import EVENT_KIND, TOPIC, SpikeWatcher, WebhookPolicy, active_alerts
from social_care.secrets import Secret
from social_care.store.models import Event
from tests.e2e.helpers import free_port
from tests.social_care.metrics.scenario import Scenario, at

FRIDAY_5PM = at(20, 17)  # m4 (16:00) and m6 (16:30) are negative; nothing at that hour the 7 days before
FAST = WebhookPolicy(timeout=2.0, attempts=3, backoff_initial=0.05, backoff_cap=0.1)


@dataclass
class Hook:
    """A real aiohttp server standing in for the outgoing webhook's receiver."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    port = free_port()
    state = Hook(f"http://127.0.0.1:{port}/hooks/T0K3N-in-the-path")

    async def receive(request: web.Request) -> web.Response:
        state.received.append(await request.json())
        if state.fail_first > 0:
            state.fail_first -= 1
            return web.Response(status=503)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hooks/T0K3N-in-the-path", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield state
    finally:
        await runner.cleanup()


async def stored(scenario: Scenario) -> int:
    async with scenario.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Event).where(Event.kind == EVENT_KIND)) or 0)


async def test_a_spike_is_stored_published_and_posted_once(scenario: Scenario, hook: Hook) -> None:
    bus = Bus()
    published: list[tuple[str, dict[str, Any]]] = []
    bus.subscribe(lambda topic, data: published.append((topic, data)))
    watcher = SpikeWatcher(scenario.db, bus, min_count=2, webhook_url=Secret(hook.url), brand="ACME", policy=FAST)
    try:
        raised = await watcher.check_once(FRIDAY_5PM)
        await watcher.drain()
        assert [(a.signal, a.current, a.baseline) for a in raised] == [("negative", 2, (0,) * 7)]
        assert await stored(scenario) == 1
        assert [(topic, data["signal"], data["current"]) for topic, data in published] == [(TOPIC, "negative", 2)]
        assert len(hook.received) == 1
        body = hook.received[0]
        assert (body["type"], body["brand"], body["signal"], body["current"], body["threshold"]) == (
            EVENT_KIND, "ACME", "negative", 2, 0.0)
        assert body["window_start"] == "2026-11-20T16:00:00+00:00" and body["window_end"] == "2026-11-20T17:00:00+00:00"

        # Five minutes later the spike is still there: no second alert in the same hour.
        assert await watcher.check_once(FRIDAY_5PM + timedelta(minutes=5)) == []
        await watcher.drain()
        assert await stored(scenario) == 1 and len(published) == 1 and len(hook.received) == 1
    finally:
        await watcher.close()

    # A restarted service reads the events table: still no repeat.
    restarted = SpikeWatcher(scenario.db, bus, min_count=2, webhook_url=Secret(hook.url), policy=FAST)
    try:
        assert await restarted.check_once(FRIDAY_5PM + timedelta(minutes=10)) == []
    finally:
        await restarted.close()
    assert await stored(scenario) == 1 and len(hook.received) == 1
    alerts = await active_alerts(scenario.db, now=FRIDAY_5PM + timedelta(minutes=30))
    assert [(a.signal, a.current, a.raised_at) for a in alerts] == [("negative", 2, FRIDAY_5PM)]
    # An hour later the alert is no longer active (the banner goes away).
    assert await active_alerts(scenario.db, now=FRIDAY_5PM + timedelta(hours=1)) == []


async def test_under_the_minimum_count_nothing_happens(scenario: Scenario, hook: Hook) -> None:
    bus = Bus()
    published: list[str] = []
    bus.subscribe(lambda topic, _data: published.append(topic))
    watcher = SpikeWatcher(scenario.db, bus, webhook_url=Secret(hook.url), policy=FAST)  # min_count 5
    try:
        assert await watcher.check_once(FRIDAY_5PM) == []
        await watcher.drain()
    finally:
        await watcher.close()
    assert await stored(scenario) == 0 and published == [] and hook.received == []


async def test_the_webhook_is_retried_and_failures_do_not_log_the_url(scenario: Scenario, hook: Hook,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    hook.fail_first = 1
    watcher = SpikeWatcher(scenario.db, Bus(), min_count=2, webhook_url=Secret(hook.url), policy=FAST)
    try:
        await watcher.check_once(FRIDAY_5PM)
        await watcher.drain()
    finally:
        await watcher.close()
    assert len(hook.received) == 2  # a 503, then accepted

    caplog.set_level(logging.WARNING, logger="social_care.metrics.spike_watch")
    unreachable = SpikeWatcher(scenario.db, Bus(), min_count=2, policy=FAST,
                               webhook_url=Secret(f"http://127.0.0.1:{free_port()}/hooks/T0K3N-in-the-path"))
    try:
        alert = (await active_alerts(scenario.db, now=FRIDAY_5PM))[0]
        started = asyncio.get_running_loop().time()
        assert await unreachable.post(alert) is False
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        await unreachable.close()
    assert "gave up" in caplog.text and "T0K3N" not in caplog.text


async def test_the_watcher_loop_keeps_the_event_loop_free(scenario: Scenario) -> None:
    watcher = SpikeWatcher(scenario.db, Bus(), interval=0.05, min_count=2, clock=lambda: FRIDAY_5PM)
    task = asyncio.create_task(watcher.run())
    try:
        for _ in range(100):
            if await stored(scenario):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await stored(scenario) == 1
