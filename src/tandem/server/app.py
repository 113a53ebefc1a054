"""The ASGI application: the collaboration WebSocket, /healthz, /metrics, the plugin."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from tandem import PROTOCOL_VERSION, __version__
from tandem.auth import AuthError, KeyDirectory, TokenVerifier
from tandem.server.checkpoints import CheckpointScheduler
from tandem.server.connection import CollabConnection
from tandem.server.deletion import DeletionWatcher, admin_routes
from tandem.server.hub import HubRegistry
from tandem.server.metrics_listener import MetricsListener
from tandem.server.revocation import RevocationWatcher
from tandem.server.state import ServerState
from tandem.settings import Settings
from tandem.storage import Store
from tandem.storage.factory import make_store

COLLAB_PATH = "/v1/collab"


def create_app(
    settings: Settings, store: Store | None = None, *, extra_routes: Sequence[BaseRoute] = ()
) -> Starlette:
    """Build the app. The store is opened and closed with the app's lifespan."""
    store = store if store is not None else make_store(settings)
    keys = KeyDirectory(store)
    state = ServerState(
        settings=settings,
        store=store,
        verifier=TokenVerifier(
            keys, leeway=settings.leeway, max_lifetime=settings.max_token_lifetime or None
        ),
        hubs=HubRegistry(store),
    )
    revocation = RevocationWatcher(state, settings.revocation_check_interval)
    checkpoints = CheckpointScheduler(state)
    deletions = DeletionWatcher(state, settings.revocation_check_interval)

    def detailed_health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "connections": state.metrics.connections,
            "documents_open": len(state.hubs.hubs),
        }

    def metrics_text() -> str:
        return state.metrics.render(len(state.hubs.hubs))

    listener = None
    if settings.metrics_port:
        listener = MetricsListener(
            settings.metrics_host,
            settings.metrics_port,
            metrics=metrics_text,
            health=detailed_health,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await state.cluster.start()
        revocation.start()
        checkpoints.start()
        deletions.start()
        if listener is not None:
            await listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            await checkpoints.stop()
            await revocation.stop()
            await deletions.stop()
            await state.cluster.stop()
            await store.close()

    async def collab(websocket: WebSocket) -> None:
        await CollabConnection(websocket, state).run()

    async def healthz(request: Request) -> Response:
        """Public: only whether the node is up (counts are on /metrics)."""
        return JSONResponse({"status": "ok", "version": __version__, "protocol": PROTOCOL_VERSION})

    async def metrics(request: Request) -> Response:
        """Only with ``metrics_token`` (Bearer); otherwise use the metrics listener."""
        token = settings.metrics_token
        if not token:
            return PlainTextResponse("not found", status_code=404)
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return PlainTextResponse(
                "a metrics token is required",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return PlainTextResponse(metrics_text(), media_type="text/plain; version=0.0.4")

    async def document_info(request: Request) -> Response:
        """What the server knows about a document (no plaintext), for its token holders."""
        document_id = request.query_params.get("document_id", "")
        api_key = request.headers.get("tandem-api-key", "")
        auth = request.headers.get("authorization", "")
        if not document_id or not api_key or not auth.lower().startswith("bearer "):
            return JSONResponse(
                {
                    "code": "bad_request",
                    "message": "document_id, the "
                    "Tandem-Api-Key header and a Bearer token are required",
                },
                status_code=400,
            )
        try:
            await state.verifier.verify(api_key, auth[7:].strip(), document_id=document_id)
        except AuthError as exc:
            return JSONResponse(
                {"code": "jwt", "detail": exc.code, "message": exc.message}, status_code=401
            )
        info = await store.document_info(api_key, document_id)
        if info is None:
            return JSONResponse(
                {"code": "unknown_document", "message": f"document {document_id!r} does not exist"},
                status_code=404,
            )
        session = info.active_session
        return JSONResponse(
            {
                "document_id": document_id,
                "version": info.version,
                "session_count": info.session_count,
                "session_id": session.session_id if session else None,
                "key_hint": session.key_hint if session else None,
                "snapshot_seq": info.snapshot_seq,
                "stored_updates": info.stored_updates,
                "stored_bytes": info.stored_bytes,
            }
        )

    async def plugin(request: Request) -> Response:
        path = resources.files("tandem") / "static" / "rtc" / "plugin.min.js"
        if not path.is_file():
            return PlainTextResponse(
                "the rtc plugin is not built in this installation", status_code=404
            )
        return Response(
            path.read_bytes(),
            media_type="application/javascript",
            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"},
        )

    routes = [
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/v1/documents/info", document_info),
        Route("/plugins/rtc/plugin.min.js", plugin),
        WebSocketRoute(COLLAB_PATH, collab),
        *admin_routes(state),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.tandem = state
    app.state.revocation = revocation
    app.state.checkpoints = checkpoints
    app.state.deletions = deletions
    return app
