"""Deleting a document while servers run (GDPR erasure).

``DELETE /v1/documents/{document_id}`` (this module) and ``tandem doc delete`` delete
the document, with everything stored for it, in one storage transaction, then scrub
the database files (``Store.scrub``). The document's connections are closed with
``document_deleted`` (close code 4004), which clients treat as final (they neither
reconnect nor re-create the document from what they hold):

- on the node that served the request, by the endpoint itself;
- on other nodes sharing PostgreSQL, by the ``document_deleted`` event that the
  deleting transaction publishes (after a lost listen connection, by the resync);
- when ``tandem doc delete`` changed a SQLite file under a running server, by the
  ``DeletionWatcher``, which checks the node's open documents every
  ``revocation_check_interval`` seconds.

The endpoint is authenticated with the operator's ``admin_token``, not with anything
a tenant's users hold: an API key is public (it ships to browsers) and an identity
token is what editors have, and no editor may destroy a document (docs/security.md).
"""

from __future__ import annotations

import hmac
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tandem.protocol.errors import ProtocolError
from tandem.server.periodic import PeriodicCheck
from tandem.storage import StorageError

if TYPE_CHECKING:
    from tandem.server.hub import DocumentHub
    from tandem.server.state import ServerState

log = logging.getLogger("tandem.server")

DOCUMENT_PATH = "/v1/documents/{document_id:path}"


def document_deleted() -> ProtocolError:
    return ProtocolError("document_deleted", "the document was deleted")


def close_deleted_document(
    state: ServerState, api_key: str, document_id: str, hub: DocumentHub | None = None
) -> int:
    """Close this node's connections to a deleted document; returns how many. Its hub
    is dropped at once, so the next connection to the id finds a new, empty document.
    With ``hub``, only if that hub is still the document's (not a newer one)."""
    key = (api_key, document_id)
    current = state.hubs.hubs.get(key)
    if current is None or (hub is not None and current is not hub):
        return 0
    current.deleted = True
    del state.hubs.hubs[key]
    members = list(current.members.values())
    current.members.clear()
    current.remote_members.clear()
    for member in members:
        member.kick(document_deleted())
    if members:
        log.info("closed %d connection(s) of a deleted document", len(members))
    return len(members)


class DeletionWatcher(PeriodicCheck):
    """Closes the connections of documents deleted by another process (``tandem doc
    delete`` on the SQLite file of a running server). Engines shared between nodes
    announce deletions as events instead, so it runs only for unshared ones."""

    name = "deletion check"

    def __init__(self, state: ServerState, interval: float) -> None:
        super().__init__(interval)
        self.state = state

    def enabled(self) -> bool:  # shared engines announce deletions as events
        return super().enabled() and not self.state.store.shared

    async def check(self) -> int:
        """One pass over the open documents that exist (have a session); returns how
        many connections were closed."""
        open_hubs: dict[str, list[DocumentHub]] = defaultdict(list)
        for (api_key, _doc), hub in list(self.state.hubs.hubs.items()):
            if hub.session is not None and not hub.deleted and hub.loaded.is_set():
                open_hubs[api_key].append(hub)
        closed = 0
        for api_key, hubs in open_hubs.items():
            existing = await self.state.store.existing_documents(
                api_key, [hub.document_id for hub in hubs]
            )
            for hub in hubs:
                if hub.document_id not in existing:
                    closed += close_deleted_document(self.state, api_key, hub.document_id, hub)
        return closed


def _error(status: int, code: str, message: str, **headers: str) -> Response:
    return JSONResponse(
        {"code": code, "message": message}, status_code=status, headers=headers or None
    )


def admin_routes(state: ServerState) -> list[Route]:
    """The operator's HTTP API (docs/protocol.md, "Admin API")."""

    async def delete_document(request: Request) -> Response:
        token = state.settings.admin_token
        if not token:
            return _error(
                404, "admin_disabled", "the admin API is off; set admin_token (TANDEM_ADMIN_TOKEN)"
            )
        source = request.client.host if request.client else "unknown"
        assert state.sources is not None
        try:
            state.sources.check(source)
        except ProtocolError as exc:
            return _error(
                429, exc.code, exc.message, **{"Retry-After": str(int(exc.retry_after or 1) + 1)}
            )
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            state.sources.failed(source)
            return _error(
                401,
                "unauthorized",
                "the admin token is required (Authorization: Bearer <admin_token>)",
                **{"WWW-Authenticate": "Bearer"},
            )
        api_key = request.headers.get("tandem-api-key", "")
        document_id = request.path_params.get("document_id", "")
        if not api_key or not document_id:
            return _error(
                400, "bad_request", "the Tandem-Api-Key header and a document id are required"
            )
        try:
            deleted = await state.store.delete_document(api_key, document_id)
        except StorageError as exc:
            return _error(503, "storage_unavailable", exc.message)
        if not deleted:
            return _error(404, "unknown_document", f"no document {document_id!r} for this API key")
        closed = close_deleted_document(state, api_key, document_id)
        body: dict[str, object] = {
            "deleted": True,
            "document_id": document_id,
            "closed_connections": closed,
        }
        try:
            body["scrub"] = await state.store.scrub()
        except StorageError as exc:  # deleted; only the files' clean-up is late
            body["scrub_error"] = exc.message
        log.info("deleted a document through the admin API (%d connection(s) closed)", closed)
        return JSONResponse(body)

    return [Route(DOCUMENT_PATH, delete_document, methods=["DELETE"])]
