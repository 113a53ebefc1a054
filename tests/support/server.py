"""A real Tandem server on a loopback port, in this test's event loop or as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import uvicorn

from tandem.server.app import create_app
from tandem.server.runner import uvicorn_config
from tandem.settings import load_settings
from tandem.storage.sqlite import SQLiteStore
from tests.support.tokens import Signer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Tenant:
    api_key: str
    signer: Signer

    def token(self, sub: str = "alice", **kw: object) -> str:
        return self.signer.token(sub, **kw)


async def make_tenant(db_path: Path | str, *, origins: tuple[str, ...] = ()) -> Tenant:
    """A tenant (API key + ES256 signer) in a SQLite file or a PostgreSQL URL."""
    if isinstance(db_path, str) and db_path.startswith("postgresql://"):
        from tandem.storage.postgres import PostgresStore

        store = PostgresStore(db_path)
    else:
        store = SQLiteStore(db_path)
    await store.open()
    try:
        record = await store.create_api_key("test", origins)
        signer = Signer(kid=f"k-{record.key[:6]}")
        await store.add_public_keys(record.key, [signer.public_jwk])
    finally:
        await store.close()
    return Tenant(record.key, signer)


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    tenant: Tenant
    app: object = None
    process: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tandem.sqlite3"


@contextlib.asynccontextmanager
async def serve_in_loop(data_dir: Path, **settings: object) -> AsyncIterator[RunningServer]:
    """Run the app under uvicorn inside the current event loop."""
    port = free_port()
    database = settings.get("database_url") or data_dir / "tandem.sqlite3"
    tenant = await make_tenant(database, origins=settings.pop("origins", ()))
    config = load_settings(data_dir=str(data_dir), port=port, **settings)
    app = create_app(config)
    server = uvicorn.Server(uvicorn_config(app, config, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", data_dir, tenant, app=app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def start_subprocess(
    data_dir: Path | str,
    port: int,
    *extra: str,
    log: IO[bytes] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """``tandem serve`` as a real process (for kill -9); ``data_dir`` may be a
    PostgreSQL URL. ``extra`` flags come last (a later ``--log-level`` wins); the
    server's log goes to ``log`` (a binary file the caller keeps and closes) if given;
    ``env`` adds environment variables."""
    where = (
        ["--database-url", str(data_dir)]
        if str(data_dir).startswith("postgresql://")
        else ["--data-dir", str(data_dir)]
    )
    # stderr goes to a file, not a pipe: nothing has to drain it or close it (an unread
    # pipe can block the server; an unclosed one is a ResourceWarning).
    with contextlib.ExitStack() as stack:
        stderr = log if log is not None else stack.enter_context(tempfile.TemporaryFile())
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tandem",
                *where,
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
                *extra,
            ],
            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                stderr.seek(0)
                raise RuntimeError(f"server exited: {stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.05)
        proc.kill()
        proc.wait(10)
    raise RuntimeError("server did not start")


def kill_hard(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
