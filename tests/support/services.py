"""Fixtures that start a real ``redis-server`` and a real PostgreSQL 15 on free ports in temporary folders.

Both are session-scoped (PostgreSQL's initdb takes seconds) and stopped and deleted at the end of the session;
tests keep apart by using their own keys / tables. PostgreSQL refuses to run as root, so when the tests run as
root, initdb and pg_ctl run as the Debian ``postgres`` user (through runuser) on a data folder it owns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "RedisServer", "postgres_server", "redis_server", "start_postgres", "start_redis"]

PG_BIN = Path(os.environ.get("DOCLINE_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int

    @property
    def address(self) -> str:
        """``host:port``, as Dapr's ``redisHost`` metadata wants it."""
        return f"{self.host}:{self.port}"


@contextlib.contextmanager
def start_redis() -> Iterator[RedisServer]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (make setup installs the Debian package redis-server)")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="docline-redis-")
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, 20, proc)
        yield RedisServer("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"
    dbname: str = "postgres"

    @property
    def dsn(self) -> str:
        """A libpq connection string, as Dapr's ``connectionString`` metadata wants it."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextlib.contextmanager
def start_postgres() -> Iterator[PostgresServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 is not installed in {PG_BIN} (make setup installs the Debian package postgresql)")
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="docline-pg-"))
    data = workdir / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
    log = workdir / "server.log"
    started = False
    try:
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]),
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        started = True
        _wait_port(port, 30)
        yield PostgresServer("127.0.0.1", port)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stdout or b"").decode(errors="replace")
        server_log = log.read_text(errors="replace") if log.exists() else ""
        pytest.fail(f"cannot start PostgreSQL: {exc}\n{detail}\n{server_log}")
    finally:
        if started:
            subprocess.run(
                _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free port for the whole session."""
    with start_redis() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 on a free port for the whole session (database ``postgres``, trust auth)."""
    with start_postgres() as server:
        yield server
