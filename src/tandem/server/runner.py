"""Run the app under uvicorn with Tandem's settings (TLS, frame and socket limits, pings)."""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette

from tandem.event_loop import running_loop_name
from tandem.server.connection import TRANSPORT_LIMIT_FACTOR
from tandem.server.transport import (
    HTTPProtocol,
    WebSocketProtocol,
    connection_cap,
    install_repeat_filter,
)
from tandem.settings import Settings, SettingsError

__all__ = ["TRANSPORT_LIMIT_FACTOR", "serve", "uvicorn_config"]


def uvicorn_config(
    app: Starlette, settings: Settings, *, log_level: str = "info"
) -> uvicorn.Config:
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SettingsError("--tls-cert and --tls-key must be given together")
    cap = connection_cap(settings.max_connections, settings.fd_reserve)
    http = type(
        "TandemHTTPProtocol",
        (HTTPProtocol,),
        {"header_timeout": settings.header_timeout, "max_connections": cap},
    )
    ws = type(
        "TandemWebSocketProtocol",
        (WebSocketProtocol,),
        {"first_frame_limit": min(settings.max_hello_bytes, settings.max_frame_bytes)},
    )
    install_repeat_filter()
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http,
        ws=ws,
        ws_max_size=settings.max_frame_bytes * TRANSPORT_LIMIT_FACTOR,
        # Ciphertext does not compress: per-receiver zlib would be pure cost, and one
        # frame serialised once is shared by every receiver (server.fanout).
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        limit_concurrency=cap,
        backlog=min(2048, cap),
    )


async def serve(app: Starlette, settings: Settings, *, log_level: str = "info") -> None:
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("tandem.server").info("event loop: %s", running_loop_name())
    server = uvicorn.Server(uvicorn_config(app, settings, log_level=log_level))
    await server.serve()
