"""The separate monitoring listener (``metrics_port``, on ``metrics_host``, by default
127.0.0.1): ``GET /metrics`` and ``GET /healthz`` with the node's counts, no
authentication, never exposed by the public listener. Deliberately tiny: one request
per connection, a bounded request head, a deadline."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tandem.server")

_MAX_HEAD = 8192
_DEADLINE = 5.0


class MetricsListener:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        metrics: Callable[[], str],
        health: Callable[[], dict[str, Any]],
    ) -> None:
        self.host = host
        self.port = port
        self._metrics = metrics
        self._health = health
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=_MAX_HEAD
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except TimeoutError:
                log.warning(
                    "the metrics listener on %s:%s did not close within 2 s", self.host, self.port
                )
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_DEADLINE):
                head = await reader.readuntil(b"\r\n\r\n")
                method, _, rest = head.partition(b" ")
                path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
                if method != b"GET":
                    status, body, kind = "405 Method Not Allowed", b"", "text/plain"
                elif path == b"/metrics":
                    status, kind = "200 OK", "text/plain; version=0.0.4"
                    body = self._metrics().encode()
                elif path == b"/healthz":
                    status, kind = "200 OK", "application/json"
                    body = json.dumps(self._health()).encode()
                else:
                    status, body, kind = "404 Not Found", b"not found\n", "text/plain"
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            pass
        finally:
            writer.close()
