"""Wiring: one aiohttp application with webhooks, the REST API, connectors and the workers."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors import connector_class
from connectors.base import Connector
from social_care.api.auth import auth_middleware
from social_care.api.http import BUS, CHANNEL_STATUS, DB, MAX_BODY, RULES, error_middleware
from social_care.api.routes import routes as api_routes
from social_care.backoff import Backoff
from social_care.bus import Bus
from social_care.config import ConfigError, Settings
from social_care.errors import RateLimited, TransientError
from social_care.metrics.cli import business_hours_of
from social_care.metrics.registry import MetricsConfig
from social_care.metrics.spike_watch import SpikeWatcher
from social_care.outbox.sender import OutboxSender
from social_care.pipeline.conversation_state import ConversationRefresher, refresh_conversation
from social_care.pipeline.stages import Stage, default_stages
from social_care.pipeline.worker import PipelineWorker
from social_care.store.channels import ChannelDirectory
from social_care.store.db import Database
from social_care.store.ingest import Ingestor, read_cursor
from social_care.store.migrate import upgrade
from triage import RulesError, TriageRules

logger = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", "Runtime")


@dataclass
class Runtime:
    """The live parts of one service process."""

    settings: Settings
    db: Database
    bus: Bus
    channels: ChannelDirectory
    ingest: Ingestor
    connectors: dict[int, Connector] = field(default_factory=dict)
    ready: dict[int, Connector] = field(default_factory=dict)  # started; the sender uses only these
    start_errors: dict[int, str] = field(default_factory=dict)
    retrying: set[int] = field(default_factory=set)
    pipeline: PipelineWorker | None = None
    sender: OutboxSender | None = None
    refresher: ConversationRefresher | None = None
    rules: TriageRules | None = None
    spikes: SpikeWatcher | None = None
    metrics: MetricsConfig | None = None  # what the dashboard computes figures with
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def channel_status(self) -> list[dict[str, Any]]:
        """Each channel's state and what its connector reports (budgets, webhook mode...)."""
        rows = []
        for channel_id, connector in self.connectors.items():
            if channel_id in self.ready:
                state = "ready"
            elif channel_id in self.start_errors:
                state = "starting" if channel_id in self.retrying else "disabled"
            else:
                state = "starting"
            row: dict[str, Any] = {"platform": connector.slug, "key": connector.channel_key, "state": state,
                                   "error": self.start_errors.get(channel_id)}
            report = getattr(connector, "status", None)
            if callable(report):
                row.update(report())
            rows.append(row)
        return rows


async def build_runtime(settings: Settings, *, stages: Sequence[Stage] | None = None, migrate: bool = True) -> Runtime:
    """Open the store (migrating it), register channels and build their connectors (not started)."""
    if migrate:
        await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings.database_url)
    bus = Bus()
    channels = ChannelDirectory(db)
    ingestor = Ingestor(db, channels)

    async def ingest(records, *, cursor=None):  # type: ignore[no-untyped-def]
        result = await ingestor(records, cursor=cursor)
        if result.stored or result.edited:
            bus.publish("message.received", ids=result.stored + result.edited)
        return result

    async def cursors(platform: str, channel_key: str, name: str) -> str | None:
        return await read_cursor(db, channels, platform, channel_key, name)

    runtime = Runtime(settings=settings, db=db, bus=bus, channels=channels, ingest=ingestor)
    for section in settings.channels:
        platform, key = section["platform"], section["key"]
        channel_id = await channels.register(platform, key, section.get("name"))
        try:
            cls = connector_class(platform)
        except KeyError as err:
            raise ConfigError(f"channel {platform}:{key}: unknown platform {platform!r}") from err
        try:
            runtime.connectors[channel_id] = cls.from_config(key, section, ingest=ingest, cursors=cursors)
        except ValueError as err:
            raise ConfigError(str(err)) from err
    try:
        rules = TriageRules.from_dict(settings.triage)
    except RulesError as err:
        raise ConfigError(f"[triage] {err}") from err
    runtime.rules = rules
    runtime.pipeline = PipelineWorker(db, stages if stages is not None else default_stages(rules),
                                      bus=bus, interval=settings.pipeline_interval, rules=rules)

    async def after_delivery(session, conversation_id: int) -> None:  # type: ignore[no-untyped-def]
        await refresh_conversation(session, conversation_id, rules)

    runtime.sender = OutboxSender(db, runtime.ready, policy=settings.retry, bus=bus,
                                  interval=settings.outbox_interval, after_delivery=after_delivery)
    runtime.refresher = ConversationRefresher(db, rules, bus=bus)
    runtime.metrics = MetricsConfig(rules, business_hours_of(settings))
    runtime.spikes = SpikeWatcher.from_settings(db, bus, settings) if settings.alerts.enabled else None
    return runtime


def build_app(runtime: Runtime, *, background: bool = True) -> web.Application:
    """The aiohttp application: /healthz, /api/..., /webhooks/<platform>/<key>.

    With background=False the connectors and workers are not started (API-only tests).
    """
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=MAX_BODY)
    app[DB] = runtime.db
    app[BUS] = runtime.bus
    app[RUNTIME] = runtime
    app[CHANNEL_STATUS] = runtime.channel_status
    app[RULES] = runtime.rules
    app.add_routes(api_routes)
    for connector in runtime.connectors.values():
        app.add_routes(connector.webhook_routes())
    if background:
        app.cleanup_ctx.append(_lifecycle)
    return app


async def start_connector(runtime: Runtime, channel_id: int, connector: Connector, *, cap: float = 60.0) -> None:
    """Start one connector, retrying while the platform is unreachable; other channels are unaffected."""
    backoff = Backoff(initial=1.0, cap=cap)
    while True:
        try:
            await connector.start()
        except (TransientError, RateLimited) as err:
            runtime.start_errors[channel_id] = str(err)
            runtime.retrying.add(channel_id)
            delay = backoff.next_delay()
            logger.warning("%s %s: cannot start yet (%s); retrying in %.0f s",
                           connector.slug, connector.channel_key, err, delay)
            await asyncio.sleep(delay)
            continue
        except Exception as err:
            runtime.start_errors[channel_id] = str(err)
            runtime.retrying.discard(channel_id)
            logger.error("%s %s: disabled, it cannot start: %s", connector.slug, connector.channel_key, err)
            return
        runtime.start_errors.pop(channel_id, None)
        runtime.retrying.discard(channel_id)
        runtime.ready[channel_id] = connector
        return


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    try:
        for channel_id, connector in runtime.connectors.items():
            runtime.tasks.append(asyncio.create_task(start_connector(runtime, channel_id, connector),
                                                     name=f"start {connector.slug}:{connector.channel_key}"))
        assert runtime.pipeline is not None and runtime.sender is not None
        runtime.tasks.append(asyncio.create_task(runtime.pipeline.run(), name="pipeline"))
        runtime.tasks.append(asyncio.create_task(runtime.sender.run(), name="outbox"))
        if runtime.refresher is not None:
            runtime.tasks.append(asyncio.create_task(runtime.refresher.run(), name="priorities"))
        if runtime.spikes is not None:
            runtime.tasks.append(asyncio.create_task(runtime.spikes.run(), name="spike watch"))
        yield
    finally:
        for task in runtime.tasks:
            task.cancel()
        for task in runtime.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runtime.tasks.clear()
        started = list(runtime.ready.values())
        runtime.ready.clear()
        for connector in reversed(started):
            try:
                await connector.stop()
            except Exception:
                logger.exception("stopping connector %s failed", connector.channel_key)
        await runtime.db.dispose()
