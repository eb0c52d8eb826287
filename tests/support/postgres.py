"""Throwaway PostgreSQL 15 servers and uniquely named per-test databases for the test suite."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

PG_MAJOR = 15
URL_ENV = "SOCIAL_CARE_TEST_POSTGRES_URL"
BINDIR_ENV = "SOCIAL_CARE_PG_BINDIR"
TEST_DATABASE = "social_care_test"
SUPERUSER = "postgres"
SERVICE_USER = "postgres"
START_TIMEOUT_S = 60.0
_PORT_ATTEMPTS = 3
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    # Durability is worthless for a cluster deleted at the end of the session.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def external_url() -> str | None:
    """Return the server URL given in SOCIAL_CARE_TEST_POSTGRES_URL, if any."""
    return os.environ.get(URL_ENV, "").strip() or None


def _server_major(bindir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(match.group(1)) if match else None


def find_bindir() -> Path | None:
    """Return the bin directory of a PostgreSQL 15 server install, or None if there is none."""
    candidates: list[Path] = []
    if env := os.environ.get(BINDIR_ENV):
        candidates.append(Path(env))
    candidates.append(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _REQUIRED_BINARIES):
            if _server_major(bindir) == PG_MAJOR:
                return bindir
    return None


def missing_part() -> str | None:
    """Say what this machine lacks to start a throwaway PostgreSQL 15 server, or None if nothing."""
    if find_bindir() is None:
        return (
            f"PostgreSQL {PG_MAJOR} server binaries (initdb, pg_ctl, postgres); "
            f"install postgresql-{PG_MAJOR}, or set {BINDIR_ENV} or {URL_ENV}"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"system user {SERVICE_USER!r} (PostgreSQL refuses to run as root)"
        if not (shutil.which("runuser") or shutil.which("setpriv")):
            return "runuser or setpriv (to run PostgreSQL as the postgres user)"
    return None


def _as_service_user() -> list[str]:
    """Return the command prefix that runs a program as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVICE_USER, "--"]
    return ["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups", "--"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class LocalCluster:
    """A throwaway PostgreSQL cluster in a temporary directory, listening only on 127.0.0.1."""

    bindir: Path
    base: Path
    port: int = 0
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.base / "data"

    @property
    def log_file(self) -> Path:
        """The server's log file."""
        return self.base / "server.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the session's test database on this cluster."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{TEST_DATABASE}"

    @classmethod
    def start(cls, bindir: Path | None = None, timeout_s: float = START_TIMEOUT_S) -> LocalCluster:
        """Initialise, start and wait for a new cluster, with TEST_DATABASE created in it."""
        bindir = bindir or find_bindir()
        if bindir is None:
            raise RuntimeError(missing_part() or "no PostgreSQL binaries")
        base = Path(tempfile.mkdtemp(prefix="social-care-pg-"))
        cluster = cls(bindir=bindir, base=base)
        atexit.register(cluster.stop)  # a safety net if the session dies before teardown
        try:
            if os.geteuid() == 0:
                user = pwd.getpwnam(SERVICE_USER)
                os.chown(base, user.pw_uid, user.pw_gid)
            cluster._initdb()
            cluster._launch(timeout_s)
            _run_sync(_create_database(cluster.url, TEST_DATABASE, timeout_s=timeout_s))
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(
        self, *args: str, timeout_s: float = START_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_as_service_user(), *args],
            cwd=self.base,  # the caller's cwd (e.g. /root) may be unreadable for postgres
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def _initdb(self) -> None:
        done = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        settings = {**_SETTINGS, "unix_socket_directories": f"'{self.base}'"}
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# social-care test harness\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _launch(self, timeout_s: float) -> None:
        for _ in range(_PORT_ATTEMPTS):
            self.port = _free_port()
            done = self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(timeout_s)),
                "-o",
                f"-p {self.port}",
                "start",
                timeout_s=timeout_s + 10,
            )
            if done.returncode == 0:
                return
            log = _tail(self.log_file)
            # The port was free when picked but another process may have taken it since.
            if "could not bind" not in log and "already in use" not in log:
                break
        raise RuntimeError(
            f"pg_ctl start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
            f"--- {self.log_file} ---\n{log}"
        )

    def stop(self) -> None:
        """Stop the server at once and delete its directory; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                    timeout_s=40,
                )
            if pid_file.exists():
                # pg_ctl could not stop it: do not leave a postmaster behind.
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt meanwhile, so `timeout pytest` still runs teardown."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the test database URL on $SOCIAL_CARE_TEST_POSTGRES_URL's server or a new cluster."""
    if url := external_url():
        yield url
        return
    # Without this, SIGTERM would kill pytest and orphan the postmaster.
    with _sigterm_as_interrupt():
        cluster = LocalCluster.start()
        try:
            yield cluster.url
        finally:
            cluster.stop()


def _run_sync[T](coro: Coroutine[Any, Any, T]) -> T:
    # A thread of its own, so this works whether or not the caller's thread runs an event loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _admin_connection(url: URL, timeout_s: float) -> asyncpg.Connection:
    """Connect to the server's maintenance database, retrying until it accepts or time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await asyncpg.connect(
                host=url.host or "127.0.0.1",
                port=url.port or 5432,
                user=url.username or SUPERUSER,
                password=url.password,
                database="postgres",
                timeout=10,
            )
        except (OSError, TimeoutError, asyncpg.CannotConnectNowError):
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)


async def _create_database(server_url: str, name: str, timeout_s: float = 30.0) -> str:
    url = make_url(server_url)
    conn = await _admin_connection(url, timeout_s)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_database(database_url: str, timeout_s: float = 30.0) -> None:
    url = make_url(database_url)
    if not url.database:
        raise ValueError(f"no database in {url!r}")
    conn = await _admin_connection(url, timeout_s)
    try:
        # FORCE: a test that forgot to dispose of its engine must not break the teardown.
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(url.database)} WITH (FORCE)")
    finally:
        await conn.close()


def unique_database_name(prefix: str = "sc_test") -> str:
    """Return a fresh database name, unique across processes and tests."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:12]}"


def create_database(server_url: str, name: str | None = None) -> str:
    """Create database `name` (default: a unique one) on `server_url`'s server; return its URL."""
    return _run_sync(_create_database(server_url, name or unique_database_name()))


def drop_database(database_url: str) -> None:
    """Drop the database named in `database_url`, closing any connections still open to it."""
    _run_sync(_drop_database(database_url))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Yield the URL of a new, uniquely named database on `server_url`'s server; drop it after."""
    url = create_database(server_url)
    try:
        yield url
    finally:
        drop_database(url)
