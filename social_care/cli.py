"""The `social-care` command line."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from social_care.config import ConfigError, Settings, load_settings
from social_care.ports import PortsUnavailable, check_ports

EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="social-care",
        description="Self-hosted care console: ingest customer messages from social platforms, triage them, reply.",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the service: webhooks, REST API, pollers, pipeline and outbox workers",
                           description="Run the service. Configuration comes from --config (TOML) or "
                                       "$SOCIAL_CARE_CONFIG, with environment overrides such as "
                                       "SOCIAL_CARE_DATABASE_URL.")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--host", help="address to listen on (default from config, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default from config, 8080)")

    sandbox = sub.add_parser("sandbox", help="run the local platform fakes on loopback (Telegram Bot API, X API v2)",
                             description="Run the local fakes of the Telegram Bot API and the X API v2, each with a "
                                         "control API under /sandbox/ to make simulated customers write and to "
                                         "inject faults.")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8082, help="Telegram sandbox port (default 8082)")
    sandbox.add_argument("--x-port", type=int, default=8083, help="X sandbox port (default 8083)")
    sandbox.add_argument("--token", default="123456789:SANDBOX-token", help="the bot token the fake accepts")

    demo = sub.add_parser("demo", help="run everything on SQLite with the sandboxes and a scripted customer stream",
                          description="Start the sandboxes, the service on embedded SQLite and a scripted stream of "
                                      "customer messages in English and Italian; prints URLs, a login and a token.")
    demo.add_argument("--dir", type=Path, default=Path("demo-data"), help="folder for the demo database (default demo-data)")
    demo.add_argument("--port", type=int, default=8080, help="service port (default 8080)")
    demo.add_argument("--sandbox-port", type=int, default=8082, help="Telegram sandbox port (default 8082)")
    demo.add_argument("--x-sandbox-port", type=int, default=8083, help="X sandbox port (default 8083)")
    demo.add_argument("--speed", type=float, default=1.0, help="customer stream speed factor (default 1.0)")
    demo.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (default: run until Ctrl+C)")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations (Alembic) to the configured database")
    upgrade.add_argument("--config", type=Path)
    upgrade.add_argument("--database-url", help="overrides the configuration and $SOCIAL_CARE_DATABASE_URL")

    agent = sub.add_parser("agent", help="manage agents")
    agent_sub = agent.add_subparsers(dest="agent_command", metavar="AGENT_COMMAND")
    add = agent_sub.add_parser("add", help="create an agent and print its API token once",
                               description="Create an agent. The API token is printed once and stored only as a hash.")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["agent", "marketing", "manager", "admin"])
    add.add_argument("--display-name")
    add.add_argument("--config", type=Path)
    add.add_argument("--database-url")

    password = agent_sub.add_parser("password", help="set an agent's console password (read from stdin or prompted)",
                                    description="Set the password an agent logs into the console with. It is read "
                                                "from standard input when that is not a terminal, else prompted.")
    password.add_argument("name")
    password.add_argument("--config", type=Path)
    password.add_argument("--database-url")

    sub.add_parser("triage", help="triage JSON lines from a file or stdin; `triage eval`, `triage train`",
                   add_help=False)
    sub.add_parser("metrics", help="response times, SLA compliance, sentiment and volume recomputed from the "
                                   "event log: metrics --since DATE [--until DATE] [--format csv|json|table]",
                   add_help=False)
    return parser


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    settings = load_settings(getattr(args, "config", None))
    url = getattr(args, "database_url", None)
    if url:
        from dataclasses import replace

        settings = replace(settings, database_url=url)
    return settings


def _db_upgrade(args: argparse.Namespace) -> int:
    from social_care.store.migrate import upgrade

    settings = _settings(args)
    with reaching(settings.database_url):
        upgrade(settings.database_url)
    print(f"database is at the latest schema: {_safe_url(settings.database_url)}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable database URL)"


@contextlib.contextmanager
def reaching(url: str) -> Iterator[None]:
    """Turn a database that cannot be reached, opened or named into a one-line CliError."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    try:
        yield
    except (NoSuchModuleError, ArgumentError) as err:
        raise CliError(f"not a database URL social-care can use: {_safe_url(url)} ({err})") from err
    except DBAPIError as err:
        # The driver's own words, without SQLAlchemy's statement dump and documentation link.
        raise CliError(f"cannot use the database {_safe_url(url)}: {err.orig}") from err
    except OSError as err:  # asyncpg raises socket errors (refused, unknown host) unwrapped
        raise CliError(f"cannot reach the database {_safe_url(url)}: {err}") from err


def _agent_add(args: argparse.Namespace) -> int:
    from social_care.store.agents import AgentExists, add_agent
    from social_care.store.db import Database
    from social_care.store.migrate import upgrade

    settings = _settings(args)

    async def run() -> str:
        db = Database(settings.database_url)
        try:
            _agent, token = await add_agent(db, args.name, args.role, display_name=args.display_name)
            return token
        finally:
            await db.dispose()

    try:
        with reaching(settings.database_url):
            upgrade(settings.database_url)
            token = asyncio.run(run())
    except (AgentExists, ValueError) as err:
        raise CliError(str(err)) from err
    print(f"agent {args.name} ({args.role}) created. API token (shown once, store it now):")
    print(token)
    return 0


def _agent_password(args: argparse.Namespace) -> int:
    import getpass

    from social_care.store.agents import set_password
    from social_care.store.db import Database
    from social_care.store.migrate import upgrade

    settings = _settings(args)
    if sys.stdin.isatty():
        password = getpass.getpass(f"new password for {args.name}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            await set_password(db, args.name, password)
        finally:
            await db.dispose()

    try:
        with reaching(settings.database_url):
            upgrade(settings.database_url)
            asyncio.run(run())
    except (LookupError, ValueError) as err:
        raise CliError(str(err).strip("'\"")) from err
    print(f"password set for {args.name}")
    return 0


def _metrics(argv: list[str]) -> int:
    """`social-care metrics ...`: response times, SLA, sentiment and volume recomputed from the event log."""
    from dataclasses import replace

    from social_care.metrics.cli import main as metrics_main

    config = _pop_option(argv, "--config")
    database_url = _pop_option(argv, "--database-url")
    try:
        settings = load_settings(config)
    except ConfigError as err:
        print(f"social-care: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if database_url:
        settings = replace(settings, database_url=database_url)
    try:
        with reaching(settings.database_url):
            return metrics_main(argv, settings=settings)
    except CliError as err:
        print(f"social-care: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _pop_option(argv: list[str], name: str) -> str | None:
    """Remove `--name VALUE` or `--name=VALUE` from argv and return VALUE."""
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            value = argv[index + 1]
            del argv[index:index + 2]
            return value
        if arg.startswith(name + "="):
            del argv[index]
            return arg.split("=", 1)[1]
    return None


def _triage(argv: list[str]) -> int:
    """`social-care triage ...`: the brand's rules from the config; `train` adds the store's corrections."""
    import tempfile
    from dataclasses import replace

    from triage import RulesError, TriageRules
    from triage.cli import main as triage_main

    config = _pop_option(argv, "--config")
    database_url = _pop_option(argv, "--database-url")
    try:
        settings = load_settings(config)
        rules = TriageRules.from_dict(settings.triage)
    except (ConfigError, RulesError) as err:
        print(f"social-care: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if database_url:
        settings = replace(settings, database_url=database_url)
    uses_store = bool(database_url or config or os.environ.get("SOCIAL_CARE_DATABASE_URL")
                      or os.environ.get("SOCIAL_CARE_CONFIG"))
    if not (argv and argv[0] == "train" and uses_store):
        return triage_main(argv, rules=rules)
    try:
        with reaching(settings.database_url):
            corrections = asyncio.run(_export_corrections(settings.database_url))
    except CliError as err:
        print(f"social-care: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    given = _pop_option(argv, "--corrections")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corrections.jsonl"
        lines = [json.dumps(c, ensure_ascii=False) for c in corrections]
        if given:
            lines = Path(given).read_text(encoding="utf-8").splitlines() + lines
        path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        print(f"training with {len(corrections)} corrections from the store", file=sys.stderr)
        return triage_main([*argv, "--corrections", str(path)], rules=rules)


async def _export_corrections(database_url: str) -> list[dict[str, object]]:
    from social_care.store.db import Database
    from social_care.store.labels import export_corrections
    from social_care.store.migrate import upgrade

    await asyncio.to_thread(upgrade, database_url)
    db = Database(database_url)
    try:
        return await export_corrections(db)
    finally:
        await db.dispose()


def _serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from social_care.runner import serve
    from social_care.store.migrate import upgrade

    settings = _settings(args)
    if args.host:
        settings = replace(settings, host=args.host)
    if args.port:
        settings = replace(settings, port=args.port)
    check_ports(settings.host, _service_ports(settings))
    # Migrating here (the service would do it first thing too) turns an unreachable database into one line.
    with reaching(settings.database_url):
        upgrade(settings.database_url)
    asyncio.run(serve(settings))
    return 0


def _service_ports(settings: Settings) -> dict[str, int]:
    """The ports `serve` listens on, by what listens there."""
    from console.server import console_port

    ports = {"service": settings.port}
    if settings.console:
        ports["console"] = console_port(settings)
    return ports


def _sandbox(args: argparse.Namespace) -> int:
    from social_care.runner import run_sandboxes

    check_ports(args.host, {"Telegram sandbox": args.port, "X sandbox": args.x_port})
    asyncio.run(run_sandboxes(args.host, args.port, args.token, args.x_port))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from social_care.demo import run_demo

    # Checked before anything starts: a busy port found later would leave sandboxes running and a new
    # database migrated for nothing.
    check_ports("127.0.0.1", {"service": args.port, "console": args.port + 1,
                              "Telegram sandbox": args.sandbox_port, "X sandbox": args.x_sandbox_port})
    try:
        args.dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CliError(f"cannot create the demo folder {args.dir}: {err.strerror or err}") from err
    asyncio.run(run_demo(args.dir, port=args.port, sandbox_port=args.sandbox_port,
                         x_sandbox_port=args.x_sandbox_port, speed=args.speed, duration=args.duration or None))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `social-care` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # python-telegram-bot's RetryAfter warns on every 429 unless opted in to timedelta values,
    # which our connector handles.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    if argv and argv[0] == "triage":
        return _triage(argv[1:])
    if argv and argv[0] == "metrics":
        return _metrics(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs full request URLs, which for Telegram contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command in ("demo", "sandbox"):
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # the fakes' request lines drown the story
    handlers = {"serve": _serve, "sandbox": _sandbox, "demo": _demo}
    try:
        if args.command in handlers:
            return handlers[args.command](args)
        if args.command == "db" and args.db_command == "upgrade":
            return _db_upgrade(args)
        if args.command == "agent" and args.agent_command == "add":
            return _agent_add(args)
        if args.command == "agent" and args.agent_command == "password":
            return _agent_password(args)
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    except (CliError, ConfigError, PortsUnavailable) as err:
        print(f"social-care: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
