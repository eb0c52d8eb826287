"""The spike banner: loaded from the events at start, shown on a bus alert from any thread, gone after an hour."""
from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import panel as pn
from bokeh.document import Document

from console.i18n import Translator
from console.views.spike_banner import SpikeBanner
from social_care.bus import Bus
from social_care.metrics.spike_watch import TOPIC, SpikeWatcher
from tests.social_care.metrics.conftest import clock, scenario  # noqa: F401 (fixtures)
from tests.console.conftest import until
from tests.social_care.metrics.scenario import Scenario, at

FRIDAY_5PM = at(20, 17)


async def test_the_banner_shows_a_published_alert_and_takes_it_down_after_an_hour(scenario: Scenario) -> None:
    now = [FRIDAY_5PM]
    bus = Bus()
    banner = SpikeBanner(scenario.db, Translator("en"), now=lambda: now[0])
    bus.subscribe(banner.on_bus)
    pn.panel(banner.pane).get_root(Document())
    await banner.load()
    assert not banner.pane.visible

    (alert,) = await SpikeWatcher(scenario.db, None, min_count=2).check_once(FRIDAY_5PM)
    # Published from another thread, as a worker in another thread might.
    thread = threading.Thread(target=lambda: bus.publish(TOPIC, **alert.data()))
    thread.start()
    await asyncio.to_thread(thread.join)
    await until(lambda: banner.pane.visible)
    assert "Spike of negative messages: 2 in the hour to 17:00" in banner.pane.object
    assert 'role="alert"' in banner.pane.object

    # A page opened later loads the active alert from the events table.
    later = SpikeBanner(scenario.db, Translator("it"), now=lambda: FRIDAY_5PM + timedelta(minutes=20))
    await later.load()
    assert later.pane.visible and "Picco di messaggi negativi: 2" in later.pane.object

    now[0] = FRIDAY_5PM + timedelta(hours=1, minutes=1)
    await banner.tick()
    assert not banner.pane.visible and banner.pane.object == ""


async def test_hostile_values_on_the_bus_are_escaped(scenario: Scenario) -> None:
    banner = SpikeBanner(scenario.db, Translator("en"), now=lambda: FRIDAY_5PM)
    await banner.load()
    banner.on_bus(TOPIC, {"signal": "<img src=x onerror=alert(1)>", "raised_at": FRIDAY_5PM.isoformat(),
                          "window_start": at(20, 16).isoformat(), "window_end": FRIDAY_5PM.isoformat(),
                          "current": 9, "threshold": 1.0})
    await until(lambda: banner.pane.visible)
    assert "<img" not in banner.pane.object and "&lt;img" in banner.pane.object
    banner.on_bus("message.received", {"ids": [1]})  # other topics are ignored
