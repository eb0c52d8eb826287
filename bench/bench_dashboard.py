"""Dashboard load time on a synthetic year of 100,000 conversations (fresh SQLite; PostgreSQL if configured).

    .venv/bin/python bench/bench_dashboard.py [--conversations 100000] [--keep PATH] [--postgres]

`--keep PATH` keeps the generated SQLite store at PATH and reuses it on the next run (same --conversations).
Prints the generation time, the view-model's load time for the default range (last 7 days), the last 30 days
and the whole year (first load, then a reload that reuses the cached facts of unchanged conversations), and
the memory one more dashboard session adds when the report is shared.
PostgreSQL runs too when SOCIAL_CARE_TEST_POSTGRES_URL is set (or with --postgres: a throwaway server).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.dashboard.model import DashboardModel, ReportCache  # noqa: E402
from social_care.metrics.registry import MetricsConfig  # noqa: E402
from social_care.store.db import Database  # noqa: E402
from social_care.store.migrate import upgrade  # noqa: E402
from tests.social_care.metrics.synthetic import START, generate  # noqa: E402
from triage import TriageRules  # noqa: E402

DAYS = 365
RULES = TriageRules.from_dict({"sla": {"marketing": 2880}})


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _session_memory(db: Database, config: MetricsConfig, now_value: object, cache: ReportCache) -> float:
    """KiB one more dashboard session allocates (page, widgets, Bokeh models) when the 7-day report is shared."""
    import panel as pn
    from bokeh.document import Document

    from console.context import SessionAgent
    from console.dashboard.page import DashboardPage

    context = SimpleNamespace(db=db, now=lambda: now_value)
    agent = SessionAgent(1, "marco", "Marco", "manager", "en", 2e9)

    async def one() -> object:
        model = DashboardModel(db, config=config, now=lambda: now_value, cache=cache)  # type: ignore[arg-type]
        page = DashboardPage(context, agent, session_id="bench", model=model)  # type: ignore[arg-type]
        root = pn.panel(page.layout()).get_root(Document())
        await page.start()
        return page, root

    keep = [await one()]  # warm: imports, the shared report
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(5):
        keep.append(await one())
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / 5 / 1024


async def _stored(db: Database) -> tuple[int, int, int]:
    """(conversations, customer messages, events) already in the store."""
    async with db.read() as session:
        counts = [await session.scalar(text(sql)) for sql in (
            "SELECT count(*) FROM conversations",
            "SELECT count(*) FROM messages WHERE direction = 'inbound'",
            "SELECT count(*) FROM events")]
    return tuple(int(n or 0) for n in counts)  # type: ignore[return-value]


async def bench(url: str, conversations: int, label: str) -> None:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        stored, inbound, events = await _stored(db)
        if stored == 0:
            began, cpu = time.perf_counter(), time.process_time()
            truth = await generate(db, conversations=conversations, days=DAYS)
            print(f"[{label}] generated {conversations} conversations, {truth.inbound} customer messages, "
                  f"{truth.events} events in {time.perf_counter() - began:.1f} s wall, "
                  f"{time.process_time() - cpu:.1f} s CPU")
        elif stored != conversations:
            raise SystemExit(f"{url} holds {stored} conversations, not {conversations}: remove it or change "
                             "--conversations")
        else:
            print(f"[{label}] reusing {stored} conversations, {inbound} customer messages, {events} events")
        end = START + timedelta(days=DAYS)
        config = MetricsConfig(RULES)
        for name, preset, dates in (("default range, last 7 days", "7d", (None, None)),
                                    ("last 30 days", "30d", (None, None)),
                                    ("the whole year", "custom", (START.date(), (end - timedelta(days=1)).date()))):
            model = DashboardModel(db, config=config, now=lambda: end, cache=ReportCache())
            model.choose(preset, *dates)
            began, cpu = time.perf_counter(), time.process_time()
            report = await model.load()
            assert report is not None, model.error
            cold = time.perf_counter() - began
            print(f"[{label}] dashboard load, {name}: {cold:.2f} s wall, "
                  f"{time.process_time() - cpu:.2f} s CPU ({len(report.cycles)} cycles, "
                  f"{len(report.sentiment)} sentiment rows); peak RSS {_rss_mb():.0f} MB")
            # A reload after the shared report expired: the facts of unchanged conversations are reused.
            began, cpu = time.perf_counter(), time.process_time()
            again = await model.load(fresh=True)
            warm = time.perf_counter() - began
            assert again == report, "a report from cached facts differs from the one replayed"
            print(f"[{label}]   reloaded with {len(model.cache.facts)} conversations' facts cached: {warm:.2f} s "
                  f"wall, {time.process_time() - cpu:.2f} s CPU ({warm / cold:.2f} of the first load); "
                  f"peak RSS {_rss_mb():.0f} MB")
        if label == "sqlite":
            cache = ReportCache()
            per_session = await _session_memory(db, config, end, cache)
            print(f"[{label}] one more dashboard session (7-day report shared): {per_session:.0f} KiB allocated")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL 15 (tests/support)")
    parser.add_argument("--keep", type=Path, metavar="PATH",
                        help="SQLite file to generate into once and reuse on later runs (default: a temporary one)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL even when it is configured")
    args = parser.parse_args()
    if args.keep is not None:
        asyncio.run(bench(f"sqlite+aiosqlite:///{args.keep.resolve()}", args.conversations, "sqlite"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(bench(f"sqlite+aiosqlite:///{tmp}/bench.db", args.conversations, "sqlite"))
    if args.sqlite_only:
        return
    from tests.support import postgres

    if postgres.external_url() or args.postgres:
        with postgres.postgres_server() as server, postgres.fresh_database(server) as url:
            asyncio.run(bench(url, args.conversations, "postgresql"))
    elif os.environ.get("CI"):
        print("PostgreSQL skipped: set SOCIAL_CARE_TEST_POSTGRES_URL or pass --postgres")


if __name__ == "__main__":
    main()
