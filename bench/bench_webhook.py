"""Webhook ingest throughput and ack latency against a bare aiohttp endpoint, and time to API visibility.

Run: .venv/bin/python bench/bench_webhook.py [--messages 2000] [--concurrency 20]
Both servers run as separate processes on loopback; the load generator is this process.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
TOKEN = "123456789:BENCH-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def update(n: int) -> bytes:
    chat = 50_000 + n % 200
    return json.dumps({
        "update_id": 900_000 + n,
        "message": {"message_id": n + 1, "date": 1_763_800_000 + n, "chat": {"id": chat, "type": "private", "first_name": "Bench"},
                    "from": {"id": chat, "is_bot": False, "first_name": "Bench", "username": f"bench{chat}"},
                    "text": f"My parcel {n} has not arrived yet, can you check?"},
    }).encode()


def run_bare(port: int) -> None:
    """The baseline: an aiohttp endpoint that checks the header, parses JSON and answers 200."""
    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            return web.json_response({"error": "forbidden"}, status=403)
        await request.json()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/webhooks/telegram/acme", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def load(url: str, messages: int, concurrency: int, offset: int) -> tuple[float, list[float]]:
    """POST `messages` updates with `concurrency` in flight; returns (seconds, ack latencies)."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(offset, offset + messages):
        queue.put_nowait(n)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body = update(n)
            started = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"unexpected status {response.status}")
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def visibility(base: str, token: str, samples: int) -> list[float]:
    """Seconds from a webhook POST to the message appearing in GET /api/conversations/{id}."""
    results = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for i in range(samples):
            n = 5_000_000 + i
            body = json.loads(update(n))
            body["message"]["chat"]["id"] = body["message"]["from"]["id"] = 7_000_000 + i  # a new conversation
            started = time.perf_counter()
            async with http.post(f"{base}/webhooks/telegram/acme", json=body,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                assert response.status == 200
            while True:
                async with http.get(f"{base}/api/conversations", params={"channel": "telegram", "limit": "1",
                                                                          "status": "open"}, headers=headers) as r:
                    total = (await r.json())["total"]
                if total >= i + 1 + BENCH_CONVERSATIONS:
                    break
                await asyncio.sleep(0.002)
            results.append(time.perf_counter() - started)
    return results


BENCH_CONVERSATIONS = 200


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from social_care.store.agents import add_agent
    from social_care.store.db import Database
    from social_care.store.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(db_url)
        db = Database(db_url)
        _agent, token = await add_agent(db, "bench", "manager")
        await db.dispose()
        from connectors.telegram.sandbox import TelegramSandbox

        sandbox = TelegramSandbox(TOKEN)  # answers the service's getMe; the load bypasses it
        await sandbox.start()
        service_port, bare_port = free_port(), free_port()
        config = Path(tmp) / "bench.toml"
        config.write_text(f"""
[service]
port = {service_port}
[database]
url = "{db_url}"
[[channels]]
platform = "telegram"
key = "acme"
mode = "webhook"
token = "{TOKEN}"
secret_token = "{SECRET}"
api_base_url = "{sandbox.base_url}"
""")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        log = open(Path(tmp) / "service.log", "w")
        service = subprocess.Popen([sys.executable, "-m", "social_care.cli", "--log-level", "WARNING", "serve",
                                    "--config", str(config)], env=env, stdout=log, stderr=log)
        bare = subprocess.Popen([sys.executable, __file__, "--bare", str(bare_port)], env=env)
        try:
            await wait_up(f"http://127.0.0.1:{service_port}/healthz")
            await wait_up(f"http://127.0.0.1:{bare_port}/")
            await load(f"http://127.0.0.1:{bare_port}/webhooks/telegram/acme", 200, args.concurrency, 10_000_000)
            bare_s, bare_lat = await load(f"http://127.0.0.1:{bare_port}/webhooks/telegram/acme",
                                          args.messages, args.concurrency, 0)
            care_s, care_lat = await load(f"http://127.0.0.1:{service_port}/webhooks/telegram/acme",
                                          args.messages, args.concurrency, 0)
            visible = await visibility(f"http://127.0.0.1:{service_port}", token, args.samples)
        finally:
            for proc in (service, bare):
                proc.terminate()
                proc.wait(timeout=20)
            log.close()
            await sandbox.stop()
    print(f"webhook ingest, {args.messages} Telegram updates, {args.concurrency} in flight, loopback, SQLite (WAL)")
    print(f"{'endpoint':<34}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'bare aiohttp (parse + 200)':<34}{args.messages / bare_s:>10.0f}{pct(bare_lat, .5):>10.2f}{pct(bare_lat, .99):>10.2f}")
    print(f"{'social-care (verify+store+200)':<34}{args.messages / care_s:>10.0f}{pct(care_lat, .5):>10.2f}{pct(care_lat, .99):>10.2f}")
    print(f"ratio social-care / bare throughput: {bare_s / care_s:.2f}")
    print(f"webhook POST -> visible in GET /api/conversations ({args.samples} samples): "
          f"p50 {statistics.median(visible) * 1000:.1f} ms, p99 {pct(visible, .99):.1f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        run_bare(int(sys.argv[2]))
    else:
        asyncio.run(main())
