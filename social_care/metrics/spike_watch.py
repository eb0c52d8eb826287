"""The spike watcher: runs `spike_checks` on a timer; a new spike becomes an event, a bus topic and a webhook POST."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy import select, text, type_coerce
from sqlalchemy.types import NullType

from social_care.backoff import jittered_delay
from social_care.bus import Bus
from social_care.metrics.load import driver_instant, driver_json
from social_care.metrics.spikes import WINDOW, SpikeCheck, spike_checks
from social_care.secrets import Secret
from social_care.store.db import Database
from social_care.store.models import Event
from social_care.store.types import utcnow

logger = logging.getLogger(__name__)

EVENT_KIND = "spike_alert"
TOPIC = "spike.alert"
# An alert stays active (banner shown, no repeat for its signal) for this long after it was raised.
ACTIVE_FOR = WINDOW
ADVISORY_KEY = 0x5C_5B1E  # PostgreSQL advisory lock id of the spike check (any constant of ours)


@dataclass(frozen=True, slots=True)
class SpikeAlert:
    """A raised alert as stored in `events.data` and sent to the bus and the webhook."""

    signal: str
    raised_at: datetime
    window_start: datetime
    window_end: datetime
    current: int
    threshold: float
    mean: float
    stdev: float
    min_count: int
    baseline: tuple[int, ...]

    @classmethod
    def of(cls, check: SpikeCheck, raised_at: datetime) -> SpikeAlert:
        """The alert for a check that spiked."""
        return cls(check.signal, raised_at, check.window_start, check.window_end, check.current,
                   round(check.threshold, 3), round(check.mean, 3), round(check.stdev, 3), check.min_count,
                   check.baseline)

    def data(self) -> dict[str, Any]:
        """JSON-ready: instants in UTC ISO 8601."""
        return {"signal": self.signal, "raised_at": self.raised_at.isoformat(),
                "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat(),
                "current": self.current, "threshold": self.threshold, "mean": self.mean, "stdev": self.stdev,
                "min_count": self.min_count, "baseline": list(self.baseline)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], at: datetime) -> SpikeAlert | None:
        """An alert back from `events.data`; None if the row is not one of ours."""
        try:
            return cls(str(data["signal"]), at, datetime.fromisoformat(str(data["window_start"])),
                       datetime.fromisoformat(str(data["window_end"])), int(data["current"]),
                       float(data["threshold"]), float(data.get("mean", 0.0)), float(data.get("stdev", 0.0)),
                       int(data.get("min_count", 0)), tuple(int(v) for v in data.get("baseline", ())))
        except (KeyError, TypeError, ValueError):
            return None


async def active_alerts(db: Database, *, now: datetime) -> list[SpikeAlert]:
    """Alerts raised in the last hour (newest first), one per signal: what the console banner shows."""
    async with db.read() as session:
        recent = await _recent(session, now)
    seen: dict[str, SpikeAlert] = {}
    for alert in recent:
        seen.setdefault(alert.signal, alert)
    return list(seen.values())


@dataclass(frozen=True)
class WebhookPolicy:
    """How the outgoing webhook is called: per-attempt timeout and capped, jittered backoff."""

    timeout: float = 10.0
    attempts: int = 4
    backoff_initial: float = 1.0
    backoff_cap: float = 30.0


class SpikeWatcher:
    """Checks for spikes every `interval` seconds; each signal alerts at most once an hour, across restarts."""

    def __init__(self, db: Database, bus: Bus | None = None, *, interval: float = 300.0, days: int = 7,
                 sigmas: float = 3.0, min_count: int = 5, webhook_url: Secret | None = None,
                 brand: str = "", policy: WebhookPolicy = WebhookPolicy(),
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.bus = bus
        self.interval = interval
        self.days = days
        self.sigmas = sigmas
        self.min_count = min_count
        self.webhook_url = webhook_url
        self.brand = brand
        self.policy = policy
        self.clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._posts: set[asyncio.Task[bool]] = set()

    @classmethod
    def from_settings(cls, db: Database, bus: Bus, settings: Any) -> SpikeWatcher:
        """Built from `Settings.alerts`."""
        alerts = settings.alerts
        return cls(db, bus, interval=alerts.check_interval, days=alerts.baseline_days, sigmas=alerts.sigmas,
                   min_count=alerts.min_count, webhook_url=alerts.webhook_url, brand=settings.brand)

    async def check_once(self, now: datetime | None = None) -> list[SpikeAlert]:
        """Run the checks at `now`; store, publish and send the alerts that are new. Returns them."""
        now = now or self.clock()
        checks = await spike_checks(self.db, now=now, days=self.days, sigmas=self.sigmas, min_count=self.min_count)
        spiking = [check for check in checks if check.alert]
        if not spiking:
            return []
        raised: list[SpikeAlert] = []
        async with self.db.write() as session:
            # Inside the write transaction, so two service processes checking together raise it once: SQLite
            # has one writer; PostgreSQL takes a transaction-scoped lock that the second check waits for.
            if self.db.is_postgres:
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})
            recent = {a.signal for a in await _recent(session, now)}
            for check in spiking:
                if check.signal in recent:
                    continue
                alert = SpikeAlert.of(check, now)
                session.add(Event(kind=EVENT_KIND, at=now, data=alert.data()))
                raised.append(alert)
        for alert in raised:
            logger.warning("spike alert: %s %d in the last hour (threshold %.1f)", alert.signal, alert.current,
                           alert.threshold)
            if self.bus is not None:
                self.bus.publish(TOPIC, **alert.data())
            if self.webhook_url:
                task = asyncio.create_task(self.post(alert), name=f"spike webhook {alert.signal}")
                self._posts.add(task)
                task.add_done_callback(self._posts.discard)
        return raised

    async def post(self, alert: SpikeAlert) -> bool:
        """POST the alert to the webhook, retrying with backoff; True when it was accepted (2xx)."""
        if not self.webhook_url:
            return False
        body = {"type": EVENT_KIND, "brand": self.brand, **alert.data()}
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                async with self._session().post(self.webhook_url.reveal(), json=body, timeout=timeout) as response:
                    if 200 <= response.status < 300:
                        return True
                    problem = f"HTTP {response.status}"
                    if 400 <= response.status < 500 and response.status not in (408, 429):
                        logger.error("spike webhook refused the %s alert: %s; not retrying", alert.signal, problem)
                        return False
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                # The URL may carry a token: log the error's type, never the URL.
                problem = type(err).__name__
            if attempt < self.policy.attempts:
                delay = jittered_delay(self.policy.backoff_initial, self.policy.backoff_cap, attempt)
                logger.warning("spike webhook attempt %d for %s failed (%s); retrying in %.1f s", attempt,
                               alert.signal, problem, delay)
                await asyncio.sleep(delay)
        logger.error("spike webhook gave up on the %s alert after %d attempts (%s)", alert.signal,
                     self.policy.attempts, problem)
        return False

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def drain(self) -> None:
        """Wait for webhook posts in flight (tests, shutdown)."""
        if self._posts:
            await asyncio.gather(*self._posts, return_exceptions=True)

    async def close(self) -> None:
        """Cancel posts in flight and close the HTTP session."""
        for task in list(self._posts):
            task.cancel()
        await self.drain()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def run(self) -> None:
        """Check every `interval` seconds until cancelled; a failed check is logged and retried next time."""
        try:
            while True:
                try:
                    await self.check_once()
                except Exception:
                    logger.exception("spike check failed")
                await asyncio.sleep(self.interval)
        finally:
            with contextlib.suppress(Exception):
                await self.close()


async def _recent(session: Any, now: datetime) -> Sequence[SpikeAlert]:
    """Alerts raised in the hour before `now`, newest first."""
    rows = (await (await session.connection()).execute(
        select(type_coerce(Event.at, NullType()), type_coerce(Event.data, NullType()))
        .where(Event.kind == EVENT_KIND, Event.at > now - ACTIVE_FOR, Event.at <= now)
        .order_by(Event.at.desc(), Event.id.desc())
    )).all()
    found = [SpikeAlert.from_data(driver_json(data), driver_instant(at)) for at, data in rows]
    return [alert for alert in found if alert is not None]
