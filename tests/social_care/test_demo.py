"""`social-care demo` from a fresh folder: customers' messages reach the API and a reply reaches the sandbox."""
from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import aiohttp

from tests.e2e.helpers import free_port, start_cli, wait_healthy

REPO = Path(__file__).resolve().parents[2]


async def test_the_demo_shows_messages_flowing_both_ways(tmp_path: Path) -> None:
    port, sandbox_port, x_port = free_port(), free_port(), free_port()
    log = tmp_path / "demo.log"
    proc = start_cli("demo", "--dir", str(tmp_path / "data"), "--port", str(port), "--sandbox-port",
                     str(sandbox_port), "--x-sandbox-port", str(x_port), "--speed", "10", cwd=REPO, log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(base, proc)
        deadline = time.monotonic() + 20
        token = None
        while token is None and time.monotonic() < deadline:
            if match := re.search(r"giulia\s+agent\s+(sc_\S+)", log.read_text()):
                token = match.group(1)
            await asyncio.sleep(0.1)
        assert token, log.read_text()
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            conversations: list[dict] = []  # type: ignore[type-arg]
            while len(conversations) < 4 and time.monotonic() < deadline:
                async with http.get(f"{base}/api/conversations") as response:
                    conversations = (await response.json())["conversations"]
                await asyncio.sleep(0.2)
            assert len(conversations) >= 4, "the scripted customers did not reach the API"
            italian = next(c for c in conversations if c["customer"]["name"].startswith("Giulia"))
            async with http.post(f"{base}/api/conversations/{italian['id']}/replies",
                                 json={"text": "Ciao Giulia, controlliamo subito la spedizione."}) as response:
                assert response.status == 202
            sent: list[dict] = []  # type: ignore[type-arg]
            while not sent and time.monotonic() < deadline + 10:
                async with http.get(f"http://127.0.0.1:{sandbox_port}/sandbox/sent") as response:
                    body = await response.json()
                sent = [m for m in body["messages"] if m["text"].startswith("Ciao Giulia")]
                await asyncio.sleep(0.2)
            # X customers are in the inbox too; a public reply reaches the X fake.
            x_rows: list[dict] = []  # type: ignore[type-arg]
            while not x_rows and time.monotonic() < deadline + 10:
                async with http.get(f"{base}/api/conversations", params={"channel": "x", "limit": "100"}) as response:
                    x_rows = (await response.json())["conversations"]
                await asyncio.sleep(0.2)
            public = next(r for r in x_rows if r["public"])
            async with http.post(f"{base}/api/conversations/{public['id']}/replies",
                                 json={"text": "We're on it, sorry for the wait!", "mode": "public"}) as response:
                assert response.status == 202
            tweets: list[dict] = []  # type: ignore[type-arg]
            while not tweets and time.monotonic() < deadline + 15:
                async with http.get(f"http://127.0.0.1:{x_port}/sandbox/sent") as response:
                    tweets = [t for t in (await response.json())["tweets"] if t["text"].startswith("We're on it")]
                await asyncio.sleep(0.2)
            # The demo's agent hands Priya's pre-sale question to marketing, which sees it in its queue.
            sara_token = re.search(r"sara\s+marketing\s+(sc_\S+)", log.read_text())
            assert sara_token, log.read_text()
            forwarded = None
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {sara_token.group(1)}"}) as sara:
                while forwarded is None and time.monotonic() < deadline + 30:
                    async with sara.get(f"{base}/api/conversations", params={"queue": "marketing"}) as response:
                        rows = (await response.json())["conversations"]
                    forwarded = next((r for r in rows if r["customer"]["name"].startswith("Priya")), None)
                    await asyncio.sleep(0.3)
        assert forwarded is not None and "[demo] giulia forwarded Priya's question to marketing" in log.read_text()
        assert sent and sent[0]["chat"]["id"] == 70001
        assert tweets, "the public reply did not reach the X sandbox"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0, log.read_text()
