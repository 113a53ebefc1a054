"""Helpers for the adversarial tests: raw frames, server subprocesses, bounded attacks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any

import websockets

from tandem.client import websocket_url
from tests.collab.helpers import RawClient, wait_until
from tests.support.server import RunningServer


async def raw_hello(
    server: RunningServer,
    doc: str,
    *,
    user: str = "raw",
    client_id: str | None = None,
    text: str | None = None,
    **extra: Any,
) -> RawClient:
    """A raw client that sent hello (``text`` replaces the JSON text verbatim)."""
    raw = await RawClient.connect(server)
    if client_id is not None:
        raw.client_id = client_id
    raw.doc_id = doc
    if text is None:
        frame = raw.hello_frame(server.tenant, doc, user=user, **extra)
        text = json.dumps(frame)
    await raw.send(text)
    return raw


async def joined(server: RunningServer, doc: str, **kw: Any) -> RawClient:
    raw = await raw_hello(server, doc, **kw)
    raw.welcome = await raw.recv_type("welcome")
    return raw


async def closed_with(raw: RawClient, timeout: float = 10.0) -> tuple[int | None, list[dict]]:
    """Read until the server closes; returns (close code, error frames)."""
    errors: list[dict] = []
    with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                msg = json.loads(await raw.ws.recv())
                if msg.get("type") == "error":
                    errors.append(msg)
    return raw.ws.close_code, errors


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name[:-1]] = int(amount)
    return values["VmRSS"], values["VmHWM"]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


__all__ = [
    "closed_with",
    "joined",
    "open_fds",
    "raw_hello",
    "rss_kib",
    "wait_until",
    "websocket_url",
]
