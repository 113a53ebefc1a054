"""Case 8: sockets and descriptors: idle and dribbling connections are closed, and at
the file-descriptor limit the server keeps a reserve, stays up, and logs a repeated
error once per interval instead of flooding."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import new_client
from tests.support.server import RunningServer, free_port, make_tenant, serve_in_loop


async def closed_within(port: int, send: bytes, seconds: float, dribble: bool = False) -> bool:
    """Open a TCP connection, send ``send`` (a byte at a time when dribbling); True if
    the server closes it within ``seconds``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deadline = time.monotonic() + seconds
    try:
        for byte in send if dribble else [send]:
            writer.write(bytes([byte]) if dribble else byte)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            if dribble:
                try:
                    if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                        return True
                except TimeoutError:
                    pass
            if time.monotonic() > deadline:
                return False
        try:
            return (
                await asyncio.wait_for(reader.read(), max(0.1, deadline - time.monotonic()))
                is not None
            )
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    finally:
        writer.close()


async def test_idle_and_dribbling_connections_are_closed(tmp_path):
    async with serve_in_loop(tmp_path / "data", header_timeout=1.0) as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert await closed_within(port, b"", 5), "an idle TCP connection was never closed"
        request = (
            b"GET /v1/collab HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n" + b"X-Pad: " + b"a" * 200
        )
        assert await closed_within(port, request, 8, dribble=True), (
            "a byte-by-byte header was never cut"
        )


def _limit_fds(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


async def test_at_the_descriptor_limit_the_server_stays_up_and_quiet(tmp_path):
    data = tmp_path / "data"
    tenant = await make_tenant(data / "tandem.sqlite3")
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tandem",
                "--data-dir",
                str(data),
                "serve",
                "--port",
                str(port),
                "--log-level",
                "info",
            ],
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=log,
            preexec_fn=_limit_fds(256),
        )
    hogs: list[socket.socket] = []
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        cpu_before = _cpu_seconds(proc.pid)
        for _ in range(400):  # more idle connections than the process may hold
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                sock.connect(("127.0.0.1", port))
            hogs.append(sock)
        await asyncio.sleep(5)
        cpu_used = _cpu_seconds(proc.pid) - cpu_before
        log_size = log_path.stat().st_size
        assert proc.poll() is None, "the server died"
        assert log_size < 50_000, f"{log_size} bytes of log in 5 s"
        assert cpu_used < 2.5, f"{cpu_used:.1f} s of CPU in 5 s while descriptors ran out"
        for sock in hogs:
            sock.close()
        hogs.clear()
        await asyncio.sleep(1.5)
        server = RunningServer(f"http://127.0.0.1:{port}", data, tenant)
        client = new_client(server, "alice", "fd-doc", initial_content="<p>after</p>")
        try:
            await client.start()
            await client.wait_synced(20)
            client.append_paragraph("the server recovered")
            await client.flush(20)
        finally:
            await client.close()
    finally:
        for sock in hogs:
            sock.close()
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
