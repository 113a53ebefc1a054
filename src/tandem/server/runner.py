"""Run the app under uvicorn with Tandem's settings (TLS, frame limits, pings)."""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette

from tandem.settings import Settings, SettingsError

# Frames above this multiple of max_frame_bytes are cut by the WebSocket layer
# itself (close 1009, no error frame); between 1x and 4x the server reads the
# frame and answers with a ``frame_too_large`` error frame first.
TRANSPORT_LIMIT_FACTOR = 4


def uvicorn_config(
    app: Starlette, settings: Settings, *, log_level: str = "info"
) -> uvicorn.Config:
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SettingsError("--tls-cert and --tls-key must be given together")
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes * TRANSPORT_LIMIT_FACTOR,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ssl_certfile=settings.tls_cert,
        ssl_keyfile=settings.tls_key,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


async def serve(app: Starlette, settings: Settings, *, log_level: str = "info") -> None:
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = uvicorn.Server(uvicorn_config(app, settings, log_level=log_level))
    await server.serve()
