"""The command line as an operator uses it."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from social_care.cli import main
from social_care.service import build_app, build_runtime
from social_care.config import Settings
from tests.e2e.helpers import free_port, start_cli

REPO = Path(__file__).resolve().parents[2]


def test_help_documents_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "sandbox", "demo", "db", "agent", "triage"):
        assert command in out


async def test_agent_add_prints_a_token_that_works_once_stored(tmp_path: Path, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path}/care.db"
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "social_care.cli", "agent", "add", "giulia", "--role", "agent",
                         "--database-url", url], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("sc_")
    runtime = await build_runtime(Settings(database_url=url), stages=[])
    client = await aiohttp_client(build_app(runtime, background=False))
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert (await response.json())["name"] == "giulia"
    db_bytes = (tmp_path / "care.db").read_bytes()
    assert token.encode() not in db_bytes  # only the hash is stored
    await runtime.db.dispose()


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/care.db"
    assert main(["agent", "add", "luca", "--role", "agent", "--database-url", url]) == 0
    capsys.readouterr()
    assert main(["agent", "add", "luca", "--role", "agent", "--database-url", url]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["db", "upgrade", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[[channels]]\nplatform = 'fax'\nkey = 'x'\n")
    assert main(["serve", "--config", str(bad)]) == 2
    assert "unknown platform 'fax'" in capsys.readouterr().err
    assert main([]) == 2


async def test_sandbox_command_serves_the_fake_and_its_control_api(tmp_path: Path) -> None:
    port, x_port = free_port(), free_port()
    proc = start_cli("sandbox", "--port", str(port), "--x-port", str(x_port), cwd=REPO, log=tmp_path / "sandbox.log")
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.post(f"http://127.0.0.1:{port}/sandbox/chats/5/messages", json={"text": "hi"}) as r:
                        assert r.status == 200
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            async with http.post(f"http://127.0.0.1:{port}/bot123456789:SANDBOX-token/getUpdates") as r:
                body = await r.json()
            async with http.get(f"http://127.0.0.1:{x_port}/sandbox/state") as r:
                x_state = await r.json()
        assert body["ok"] and body["result"][0]["message"]["text"] == "hi"
        assert x_state["brand"]["username"] == "acme"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_agent_password_sets_a_hashed_password_that_logs_in(tmp_path: Path) -> None:
    from social_care.store.agents import agent_for_login
    from social_care.store.db import Database

    url = f"sqlite:///{tmp_path}/care.db"
    assert main(["agent", "add", "giulia", "--role", "agent", "--database-url", url]) == 0
    run = lambda pw: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "social_care.cli", "agent", "password", "giulia", "--database-url", url],
        input=pw + "\n", capture_output=True, text=True, cwd=REPO)
    short = run("short")
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert run("correct horse battery").returncode == 0
    assert b"correct horse battery" not in (tmp_path / "care.db").read_bytes()

    async def check() -> tuple[object, object, object]:
        db = Database(url)
        try:
            return (await agent_for_login(db, "giulia", "correct horse battery"),
                    await agent_for_login(db, "giulia", "wrong horse"),
                    await agent_for_login(db, "nobody", "correct horse battery"))
        finally:
            await db.dispose()

    good, wrong, unknown = asyncio.run(check())
    assert getattr(good, "name", None) == "giulia" and wrong is None and unknown is None
