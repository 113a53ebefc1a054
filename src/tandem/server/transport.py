"""Sockets and descriptors: the uvicorn protocol classes Tandem serves with.

- ``HTTPProtocol`` (h11): a new TCP connection must send complete request headers
  within ``header_timeout`` seconds (idle and byte-by-byte connections are closed),
  and a connection over ``max_connections`` open sockets is closed as soon as it is
  accepted, so the process keeps a reserve of descriptors (``fd_reserve``) for its
  database and never reaches the limit where ``accept()`` fails.
- ``WebSocketProtocol`` (websockets' sans-I/O): before ``hello`` is accepted a frame
  may be at most ``max_hello_bytes`` (larger ones are cut with close 1009 before they
  are buffered); the application raises the limit after authentication through the
  scope extension ``tandem.transport``.
- ``RepeatFilter``: a warning or error repeated within ``interval`` seconds (same
  logger, level and message template) is logged once, then counted; the next one
  after the interval says how many were suppressed.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from tandem.server.connection import TRANSPORT_EXTENSION

log = logging.getLogger("tandem.server")


def descriptor_limit(raise_soft: bool = True) -> int:
    """The process's descriptor limit (the soft limit raised to the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if raise_soft and hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(max_connections: int, fd_reserve: int) -> int:
    """Open sockets allowed: the setting, or the descriptor limit minus the reserve."""
    limit = descriptor_limit()
    cap = max(16, limit - fd_reserve)
    return min(cap, max_connections) if max_connections else cap


class HTTPProtocol(H11Protocol):
    """h11 with a request-header deadline and a cap on open connections."""

    header_timeout: float = 10.0
    max_connections: int = 0  # set by runner.uvicorn_config

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        if self.max_connections and len(self.connections) > self.max_connections:
            refused.note()
            transport.abort()  # frees the descriptor at once
            return
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None and self.header_timeout > 0:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # a (next) request is starting
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm_header_timer()  # keep-alive has its own timeout

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm_header_timer()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_header_timer", None) is not None:
            self._disarm_header_timer()
        super().connection_lost(exc)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets' sans-I/O protocol with a small first-frame limit."""

    first_frame_limit: int = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.max_message_size = self.first_frame_limit

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][TRANSPORT_EXTENSION] = {
                "set_max_message_size": self._set_max_message_size,
                "send_frames": self._send_frames,
            }

    def _set_max_message_size(self, nbytes: int) -> None:
        self.conn.max_message_size = nbytes

    def _send_frames(self, data: bytes) -> bool:
        """Write complete WebSocket frames (server.fanout) to the socket now, if it is
        open, takes writes (not paused by a full buffer: then the caller queues, and the
        queue's bound applies) and has no extension that would rewrite frames."""
        if (
            self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(data)
        return True


class _Refused:
    """Counts connections refused at the cap; logs once per minute."""

    def __init__(self) -> None:
        self.count = 0
        self._logged_at = -1e18

    def note(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._logged_at >= 60:
            self._logged_at = now
            log.warning(
                "at the connection limit (%d open sockets): refusing new connections (%d so far)",
                HTTPProtocol.max_connections,
                self.count,
            )


refused = _Refused()


class RepeatFilter(logging.Filter):
    def __init__(self, interval: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # only warnings and errors can be flooded from outside
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        first, suppressed = self._seen.get(key, (None, 0))
        if first is not None and now - first < self.interval:
            self._seen[key] = (first, suppressed + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar messages suppressed)"
        return True


_FILTERED_LOGGERS = (
    "asyncio",
    "uvicorn.error",
    "tandem.server",
    "tandem.cluster",
    "tandem.auth",
    "tandem.storage.postgres",
)


def install_repeat_filter(interval: float = 10.0) -> RepeatFilter:
    """Throttle repeated records of the loggers that can be flooded from outside."""
    repeat = RepeatFilter(interval)
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(repeat)
    return repeat
