"""Running the real `social-care` process for end-to-end tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_cli(*args: str, cwd: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `social-care ARGS` as a child process writing its output to `log`.

    A file, not a pipe: a pipe nobody reads fills up and blocks the child mid-log.
    """
    with log.open("a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "social_care.cli", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    proc.log_path = log  # type: ignore[attr-defined]
    return proc


async def wait_healthy(base: str, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Wait until GET /healthz answers 200, failing early if the process died."""
    await wait_ok(f"{base}/healthz", proc, "the service did not become healthy in time", timeout)


async def wait_ok(url: str, proc: subprocess.Popen[str], failure: str, timeout: float = 30.0) -> None:
    """Wait until GET `url` answers 200, failing early (with the process's log) if it died."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                output = proc.log_path.read_text()  # type: ignore[attr-defined]
                raise AssertionError(f"social-care exited with {proc.returncode}:\n{output}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await _sleep(0.1)
    raise AssertionError(failure)


def telegram_channel_toml(sandbox: Any, port: int) -> str:
    """A `[[channels]]` table for a Telegram webhook channel served by `sandbox`, the service on `port`."""
    return f"""
[[channels]]
platform = "telegram"
key = "acme"
name = "ACME on Telegram"
mode = "webhook"
token = "{sandbox.token}"
secret_token = "e2e-secret_token"
public_url = "http://127.0.0.1:{port}"
api_base_url = "{sandbox.base_url}"
"""


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
