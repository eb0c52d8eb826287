"""The command line as an operator uses it."""
from __future__ import annotations

import asyncio
import socket
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


def _run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "social_care.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_db_upgrade_against_unreachable_databases_is_one_line_exit_2(tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens there once free_port has closed its probe
    urls = {
        f"postgresql://care:hunter2secret@127.0.0.1:{closed_port}/care": "cannot reach the database",
        f"sqlite:///{tmp_path}/no/such/folder/care.db": "cannot use the database",
        "mysqlx://care@127.0.0.1/care": "not a database URL",
    }
    for url, reason in urls.items():
        result = _run_cli("db", "upgrade", "--database-url", url)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("social-care: error: ") and reason in lines[0], lines
        assert "hunter2secret" not in result.stderr  # the password is never echoed


def test_agent_commands_against_an_unreachable_database_are_one_line() -> None:
    url = f"postgresql://care@127.0.0.1:{free_port()}/care"
    result = _run_cli("agent", "add", "giulia", "--role", "agent", "--database-url", url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("social-care: error: cannot reach the database")


def test_demo_on_a_busy_port_starts_nothing(tmp_path: Path) -> None:
    busy = _listening_socket()
    sandbox_port, x_port = free_port(), free_port()
    try:
        port = busy.getsockname()[1]
        folder = tmp_path / "demo-data"
        result = _run_cli("demo", "--dir", str(folder), "--port", str(port), "--sandbox-port", str(sandbox_port),
                          "--x-sandbox-port", str(x_port))
    finally:
        busy.close()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"social-care: error: service port 127.0.0.1:{port} is already in use"
    assert not folder.exists()  # no database was created or migrated
    for free in (sandbox_port, x_port):  # and no sandbox was left listening
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", free))


def test_demo_refuses_one_port_given_twice_and_a_busy_console_port(tmp_path: Path) -> None:
    busy = _listening_socket()
    try:
        console = busy.getsockname()[1]
        result = _run_cli("demo", "--dir", str(tmp_path / "d"), "--port", str(console - 1),
                          "--sandbox-port", "8999", "--x-sandbox-port", "8999")
    finally:
        busy.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"console port 127.0.0.1:{console} is already in use" in result.stderr
    assert "X sandbox port 8999 is also the Telegram sandbox port" in result.stderr


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    busy = _listening_socket()
    try:
        port = busy.getsockname()[1]
        result = _run_cli("serve", "--port", str(port), cwd=tmp_path)
    finally:
        busy.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"service port 127.0.0.1:{port} is already in use" in result.stderr
    assert not (tmp_path / "social-care.db").exists()


def test_make_demo_passes_demo_args_and_the_readme_lists_every_demo_option() -> None:
    result = subprocess.run(["make", "-n", "demo", "DEMO_ARGS=--port 9080 --x-sandbox-port 9083"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "social-care\" demo --port 9080 --x-sandbox-port 9083" in result.stdout
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for option in ("--dir", "--port", "--sandbox-port", "--x-sandbox-port", "--speed", "--duration"):
        assert f"`{option}`" in readme, option
