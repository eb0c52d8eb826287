"""X channel figures: requests per polling cycle and per new mention, and mention-to-API latency.

Run: .venv/bin/python bench/bench_x.py [--samples 30]
Everything runs in this process on loopback: the X sandbox, the service (SQLite) and the measuring client.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from connectors.x.sandbox import XSandbox  # noqa: E402
from social_care.config import Settings  # noqa: E402
from social_care.service import build_app, build_runtime  # noqa: E402
from social_care.store.agents import add_agent  # noqa: E402


async def measure(webhooks: bool, samples: int, interval: float) -> tuple[list[float], dict[str, int], int]:
    async with XSandbox() as sandbox:
        section = {"platform": "x", "key": "acme", "user_id": "1000", "webhooks": webhooks,
                   "min_poll_interval": interval, "api_base_url": sandbox.url, **sandbox.credentials()}
        with tempfile.TemporaryDirectory() as tmp:
            runtime = await build_runtime(Settings(database_url=f"sqlite+aiosqlite:///{tmp}/x.db", channels=(section,),
                                                   pipeline_interval=0.05), stages=[])
            _agent, token = await add_agent(runtime.db, "bench", "manager")
            client = TestClient(TestServer(build_app(runtime)))
            await client.start_server()
            headers = {"Authorization": f"Bearer {token}"}
            try:
                if webhooks:
                    await sandbox.subscribe(str(client.make_url("/webhooks/x/acme")))
                for n in range(samples):
                    sandbox.add_user(str(5000 + n), f"customer{n}", f"Customer {n}")
                await asyncio.sleep(interval * 2)  # let the first polling cycles pass
                before = {e: len(sandbox.calls(e)) for e in ("mentions", "dm_events")}
                latencies = []
                for n in range(samples):
                    started = time.perf_counter()
                    sandbox.customer_mentions(str(5000 + n), f"@acme question number {n}")
                    while True:
                        async with client.get("/api/conversations", headers=headers, params={"limit": "1"}) as r:
                            if (await r.json())["total"] >= n + 1:
                                break
                        await asyncio.sleep(0.002)
                    latencies.append(time.perf_counter() - started)
                quiet_start = {e: len(sandbox.calls(e)) for e in ("mentions", "dm_events")}
                await asyncio.sleep(QUIET_SECONDS)
                quiet = {e: len(sandbox.calls(e)) - quiet_start[e] for e in quiet_start}
                during = sum(quiet_start[e] - before[e] for e in ("mentions",))
            finally:
                await client.close()
    return latencies, quiet, during


QUIET_SECONDS = 10.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    interval = 0.5
    hook_lat, _, _ = await measure(True, args.samples, interval)
    poll_lat, quiet, mention_calls = await measure(False, args.samples, interval)
    # The sandbox's windows are X's: 450 mentions calls / 15 min per app, 300 DM reads / 15 min per user.
    print(f"X channel, {args.samples} mentions each, sandbox on loopback, SQLite")
    print(f"webhook (Account Activity) mention -> visible in GET /api/conversations: "
          f"p50 {statistics.median(hook_lat) * 1000:.1f} ms, max {max(hook_lat) * 1000:.1f} ms")
    print(f"polling every {interval} s (bench setting; production minimum 60 s or the budget's pace) "
          f"mention -> visible: p50 {statistics.median(poll_lat) * 1000:.0f} ms, max {max(poll_lat) * 1000:.0f} ms")
    print(f"with nothing new, each cycle is 1 request per endpoint; over {QUIET_SECONDS:.0f} s the budget paced "
          f"mentions to {quiet['mentions']} requests (one per {QUIET_SECONDS / max(1, quiet['mentions']):.1f} s) and "
          f"dm_events to {quiet['dm_events']} (one per {QUIET_SECONDS / max(1, quiet['dm_events']):.1f} s)")
    print(f"requests to /2/users/:id/mentions per new mention (one mention per cycle): {mention_calls / args.samples:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
