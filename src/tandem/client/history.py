"""Version history for the SDK (docs/protocol.md, "Version history").

``HistoryMixin`` gives ``DocumentClient`` its history surface — ``versions()``,
``state_at(n)``, ``restore(n)``, ``create_version(name)`` — and the fall-back that
rebuilds the document from an older checkpoint and the retained log when the latest
checkpoint cannot be decrypted or lacks acknowledged updates. It speaks the protocol's
request/answer messages (``list_versions``, ``get_version``, ``get_updates``, matched by
``id``) over the client's connection.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import pycrdt

from tandem.client.errors import ClientError
from tandem.client.providers import fetch_key
from tandem.client.richtext import content_root, fragment_to_html, morph_fragment
from tandem.client.yjs_blocks import merge_ends, missing_clients, update_ranges
from tandem.crypto import (
    WRONG_KEY_MESSAGE,
    EncryptionError,
    SessionCipher,
    unwrap_content_key,
)

if TYPE_CHECKING:
    from pycrdt import XmlFragment
    from websockets.asyncio.client import ClientConnection

    from tandem.client.providers import Provider

log = logging.getLogger("tandem.client")

REQUEST_TIMEOUT = 30.0
_PAGE = 100  # versions per list_versions request (the protocol's maximum)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class HistoryMixin:
    """Mixed into ``DocumentClient``; the state lives in ``_history_init``."""

    if TYPE_CHECKING:
        # Provided by DocumentClient, the one class this is mixed into.
        doc: pycrdt.Doc[Any]
        fragment: XmlFragment
        document_id: str
        encryption_provider: Provider
        role: str | None
        session: dict[str, Any] | None
        version: int
        _above: set[int]
        _background: set[asyncio.Task[Any]]
        _cipher: SessionCipher | None
        _stopped: bool
        _ws: ClientConnection | None

        def _apply_remote(self, update: bytes) -> None: ...
        async def _became_synced(self) -> None: ...
        def _emit(self, kind: str, info: dict[str, Any]) -> None: ...
        def _fail(self, exc: BaseException) -> None: ...
        def _require_synced(self) -> None: ...
        async def _send(self, message: dict[str, Any]) -> None: ...
        async def flush(self, timeout: float | None = 30.0) -> None: ...

    def _history_init(self) -> None:
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_request = 0
        self._ciphers: dict[str, SessionCipher] = {}
        self._snapshot_waiters: deque[asyncio.Future[dict[str, Any]] | None] = deque()
        self._version_lock = asyncio.Lock()
        self._recovering = False
        self.incidents: list[dict[str, Any]] = []

    # -- requests and answers ----------------------------------------------------------
    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._ws is None:
            raise ClientError("not connected", code="disconnected")
        self._next_request += 1
        request_id = self._next_request
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = future
        try:
            await self._send({**message, "id": request_id})
            answer = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        finally:
            self._requests.pop(request_id, None)
        if answer.get("type") == "request_failed":
            raise ClientError(
                answer.get("message", "request failed"), code=answer.get("code", "request_failed")
            )
        return answer

    def _answer(self, msg: dict[str, Any]) -> None:
        future = self._requests.get(msg.get("id"))  # type: ignore[arg-type]
        if future is not None and not future.done():
            future.set_result(msg)

    _on_versions = _answer
    _on_version = _answer
    _on_history_updates = _answer
    _on_request_failed = _answer

    def _fail_requests(self, exc: BaseException) -> None:
        """The connection ended: nothing that was asked will be answered."""
        for future in list(self._requests.values()):
            if not future.done():
                future.set_exception(exc)
        while self._snapshot_waiters:
            waiter = self._snapshot_waiters.popleft()
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)

    def _on_snapshot_ack(self, msg: dict[str, Any]) -> None:
        if self._snapshot_waiters:
            waiter = self._snapshot_waiters.popleft()
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)
        self._emit("snapshot_ack", msg)

    # -- ciphers of any session (old key hints stay usable) ------------------------------
    async def _cipher_for(self, session: dict[str, Any]) -> SessionCipher:
        session_id = session["session_id"]
        cipher = self._ciphers.get(session_id)
        if cipher is None:
            key, _hint = await fetch_key(
                self.encryption_provider, self.document_id, session["key_hint"]
            )
            content_key = await asyncio.to_thread(
                unwrap_content_key,
                key,
                base64.b64decode(session["salt"]),
                session["iterations"],
                base64.b64decode(session["wrapped_key"]),
                self.document_id,
                session_id,
            )
            cipher = self._ciphers[session_id] = SessionCipher(
                content_key, self.document_id, session_id
            )
        return cipher

    async def _open_name(
        self, version: dict[str, Any], sessions: dict[str, dict[str, Any]]
    ) -> str | None:
        if version.get("name") is None:
            return None
        session = sessions.get(version["session_id"])
        try:
            if session is None:
                raise EncryptionError("unknown session")
            cipher = await self._cipher_for(session)
            return cipher.open_version_name(
                version["seq"], base64.b64decode(version["name"])
            ).decode()
        except (EncryptionError, ClientError, UnicodeDecodeError, ValueError):
            return None  # shown as an unnamed version; the listing still works

    # -- public API ---------------------------------------------------------------------
    async def versions(
        self, *, limit: int | None = None, decrypt_names: bool = True
    ) -> list[dict[str, Any]]:
        """The document's versions, newest first: ``number``, ``seq``, ``kind``
        (session/auto/named/restore/repair), ``created_at``, ``editors`` (user ids since
        the previous version), ``size`` (ciphertext bytes), ``session_id``, ``key_hint``
        and ``name`` (decrypted; None when unnamed or unreadable)."""
        found: list[dict[str, Any]] = []
        before: int | None = None
        while limit is None or len(found) < limit:
            page_size = _PAGE if limit is None else min(_PAGE, limit - len(found))
            message: dict[str, Any] = {"type": "list_versions", "limit": page_size}
            if before is not None:
                message["before"] = before
            answer = await self._request(message)
            sessions = {s["session_id"]: s for s in answer.get("sessions", [])}
            for version in answer["versions"]:
                entry = dict(version)
                entry["name"] = await self._open_name(version, sessions) if decrypt_names else None
                found.append(entry)
            if not answer.get("more") or not answer["versions"]:
                break
            before = answer["versions"][-1]["number"]
        return found

    async def state_at(
        self, number: int, format: Literal["html", "doc"] = "html", *, rebuild: bool = False
    ) -> str | pycrdt.Doc[Any]:
        """The document as of version ``number``: canonical HTML, or a pycrdt Doc.

        With ``rebuild`` the version's own checkpoint is not trusted: the state at its
        seq is rebuilt from the checkpoint before it and the retained log (for a
        checkpoint suspected to be stale: valid ciphertext of an older state)."""
        doc = await self._version_doc(number, rebuild=rebuild)
        return fragment_to_html(content_root(doc)) if format == "html" else doc

    async def create_version(
        self, name: str | None = None, *, kind: str = "named", timeout: float = 30.0
    ) -> int:
        """Store the current state (all local edits acknowledged first) as a version;
        returns its number. Editors only."""
        self._require_synced()
        if self.role != "editor":
            raise ClientError("a viewer cannot create versions", code="read_only")
        async with self._version_lock:
            await self.flush(timeout)
            cipher = self._cipher
            if cipher is None or self.session is None or self._above:
                raise ClientError("the document is not fully loaded", code="not_synced")
            seq = self.version
            message: dict[str, Any] = {
                "type": "snapshot",
                "session_id": self.session["session_id"],
                "seq": seq,
                "data": _b64(cipher.seal_snapshot(seq, self.doc.get_update())),
                "kind": kind,
            }
            if name:
                message["name"] = _b64(cipher.seal_version_name(seq, name.encode()))
            waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._snapshot_waiters.append(waiter)
            await self._send(message)
            ack = await asyncio.wait_for(waiter, timeout)
            if not ack.get("accepted"):
                raise ClientError(
                    ack.get("message", "the version was not stored"), code="version_rejected"
                )
            return int(ack["version"])

    async def restore(self, number: int, timeout: float = 30.0, *, rebuild: bool = False) -> int:
        """Make the document show version ``number`` again, as a new edit on top of the
        current one: the current state is stored as a version first, then only the
        blocks that differ are replaced (others' concurrent edits elsewhere stay), and
        the result is stored as a ``restore`` version, whose number is returned. With
        ``rebuild`` (see ``state_at``) neither the version's checkpoint nor the one this
        client loaded from is trusted: both states are rebuilt from the log."""
        self._require_synced()
        if self.role != "editor":
            raise ClientError("a viewer cannot restore versions", code="read_only")
        target = await self._version_doc(number, rebuild=rebuild)
        if rebuild:
            # This client's own state may come from the suspect checkpoint too: merge in
            # what the log says the document holds now, so the diff below is against
            # everything (Yjs merges what is already there as a no-op).
            current = await self._rebuild(self.version, below=number)
            if current is not None:
                self._apply_remote(current[0].get_update())
        await self.create_version(f"Before restoring version {number}", timeout=timeout)
        morph_fragment(self.fragment, content_root(target))
        return await self.create_version(
            f"Restored version {number}", kind="restore", timeout=timeout
        )

    # -- rebuilding a version ----------------------------------------------------------
    async def _version_doc(self, number: int, *, rebuild: bool = False) -> pycrdt.Doc[Any]:
        answer = await self._request({"type": "get_version", "number": number})
        version, session = answer["version"], answer.get("session")
        try:
            if rebuild:
                raise EncryptionError("rebuilding was asked for")
            if session is None:
                raise EncryptionError("the version's session is unknown")
            cipher = await self._cipher_for(session)
            state = cipher.open_snapshot(version["seq"], base64.b64decode(answer["data"]))
            doc: pycrdt.Doc[Any] = pycrdt.Doc()
            content_root(doc)
            doc.apply_update(state)
            return doc
        except (EncryptionError, ValueError) as exc:
            problem = str(exc)
        # Fall back: an older checkpoint plus the log up to this version's seq.
        rebuilt = await self._rebuild(version["seq"], below=number)
        if rebuilt is None:
            raise ClientError(
                f"version {number} cannot be opened ({problem}) and no older "
                "checkpoint rebuilds it",
                code="version_unreadable",
            )
        if not rebuild:
            self._report(
                "version_unreadable",
                f"version {number} could not be decrypted; "
                f"rebuilt from version {rebuilt[1]} and the log",
                version=number,
                base=rebuilt[1],
            )
        return rebuilt[0]

    async def _rebuild(
        self, upto: int, *, below: int | None = None
    ) -> tuple[pycrdt.Doc[Any], int, int] | None:
        """The newest checkpoint (numbered below ``below``) that decrypts and, with the
        log after it up to ``upto``, lacks nothing: (doc, its number, updates skipped)."""
        before = below
        while True:
            message: dict[str, Any] = {"type": "list_versions", "limit": _PAGE}
            if before is not None:
                message["before"] = before
            answer = await self._request(message)
            sessions = {s["session_id"]: s for s in answer.get("sessions", [])}
            for version in answer["versions"]:
                if version["seq"] > upto:
                    continue
                built = await self._try_base(version, sessions.get(version["session_id"]), upto)
                if built is not None:
                    return built[0], version["number"], built[1]
            if not answer.get("more") or not answer["versions"]:
                return None
            before = answer["versions"][-1]["number"]

    async def _try_base(
        self, version: dict[str, Any], session: dict[str, Any] | None, upto: int
    ) -> tuple[pycrdt.Doc[Any], int] | None:
        if session is None:
            return None
        try:
            cipher = await self._cipher_for(session)
            got = await self._request({"type": "get_version", "number": version["number"]})
            state = cipher.open_snapshot(version["seq"], base64.b64decode(got["data"]))
        except (EncryptionError, ClientError, ValueError):
            return None
        doc: pycrdt.Doc[Any] = pycrdt.Doc()
        content_root(doc)
        try:
            doc.apply_update(state)
        except Exception as exc:  # pycrdt's decode errors; the next older checkpoint is tried
            log.warning(
                "tandem: checkpoint version %s decrypts but does not apply: %r",
                version.get("number"),
                exc,
            )
            return None
        expected: dict[int, int] = {}
        skipped = 0
        after = version["seq"]
        while after < upto:
            page = await self._request({"type": "get_updates", "after": after, "upto": upto})
            sessions = {s["session_id"]: s for s in page.get("sessions", [])}
            for update in page["updates"]:
                try:
                    cipher = await self._cipher_for(sessions[update["session_id"]])
                    plain = cipher.open_update(
                        update["client_id"], update["counter"], base64.b64decode(update["data"])
                    )
                    doc.apply_update(plain)
                    merge_ends(expected, update_ranges(plain))
                except (EncryptionError, ClientError, KeyError, ValueError):
                    skipped += 1  # an update nobody can read: reported, not fatal
                after = update["seq"]
            if not page.get("more") or not page["updates"]:
                break
        if missing_clients(doc.get_state(), expected):
            return None
        return doc, skipped

    # -- falling back when the latest checkpoint is unusable ----------------------------
    def _report(self, code: str, message: str, **details: Any) -> None:
        incident = {"code": code, "message": message, **details}
        self.incidents.append(incident)
        log.warning("tandem: %s", message)
        self._emit("incident", incident)

    async def _recover(self, reason: str, message: str) -> None:
        """Load the newest usable checkpoint and the retained log into the document,
        then store a ``repair`` checkpoint so later clients do not stumble again."""
        self._recovering = True
        ws = self._ws
        try:
            upto = self.version
            rebuilt = await self._rebuild(upto)
            if rebuilt is None:
                self._report(
                    reason,
                    message + "; no older checkpoint could rebuild the document",
                    recovered=False,
                )
                if self._cipher is None:  # nothing readable at all: a wrong key
                    self._stopped = True
                    self._fail(EncryptionError(WRONG_KEY_MESSAGE))
                    if self._ws is not None:
                        await self._ws.close()
                return
            doc, number, skipped = rebuilt
            self._apply_remote(doc.get_update())
            self._report(
                reason,
                message + f"; rebuilt from version {number} and the log",
                recovered=True,
                base=number,
                skipped_updates=skipped,
            )
            if self.role == "editor" and self._cipher is not None and self.session:
                self._snapshot_waiters.append(None)
                await self._send(
                    {
                        "type": "snapshot",
                        "session_id": self.session["session_id"],
                        "seq": upto,
                        "kind": "repair",
                        "data": _b64(self._cipher.seal_snapshot(upto, self.doc.get_update())),
                    }
                )
        except (ClientError, TimeoutError) as exc:
            self._report(
                reason, message + f"; the history could not be read: {exc}", recovered=False
            )
        finally:
            self._recovering = False
            if ws is not None and self._ws is ws and not self._stopped:
                await self._became_synced()  # (a new connection syncs afresh)

    def _start_recovery(self, reason: str, message: str) -> None:
        task = asyncio.create_task(self._recover(reason, message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _cancel_background(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        # gather (unlike suppress(CancelledError)) still lets a cancellation of this
        # coroutine itself through; each task's own outcome is returned, not raised
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, Exception):
                log.warning(
                    "tandem: background task %s of document %s failed: %r",
                    task.get_name(),
                    self.document_id,
                    result,
                )


async def fetch_versions(
    server_url: str,
    *,
    api_key: str,
    document_id: str,
    token: str,
    limit: int | None = None,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """List a document's versions without any key: a short connection that says hello
    and pages through ``list_versions``. Names stay sealed (``name`` is base64 or None);
    ``DocumentClient.versions()`` decrypts them."""
    import json

    import websockets

    from tandem.client.document_client import websocket_url
    from tandem.protocol.messages import PROTOCOL_VERSION

    found: list[dict[str, Any]] = []
    async with (
        asyncio.timeout(timeout),
        websockets.connect(websocket_url(server_url), max_size=None, open_timeout=10) as ws,
    ):
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "protocol": PROTOCOL_VERSION,
                    "api_key": api_key,
                    "document_id": document_id,
                    "token": token,
                    "client_id": "cli-" + base64.urlsafe_b64encode(os.urandom(9)).decode(),
                    "client_info": {"tool": "tandem doc versions"},
                }
            )
        )
        before: int | None = None
        request = 0
        while True:
            request += 1
            size = _PAGE if limit is None else min(_PAGE, limit - len(found))
            message: dict[str, Any] = {"type": "list_versions", "id": request, "limit": size}
            if before is not None:
                message["before"] = before
            await ws.send(json.dumps(message))
            while True:
                answer = json.loads(await ws.recv())
                if answer.get("type") == "error":
                    raise ClientError(
                        answer.get("message", "error"),
                        code=answer.get("code"),
                        detail=answer.get("detail"),
                    )
                if answer.get("type") == "welcome" and answer.get("session") is None:
                    raise ClientError(
                        f"document {document_id!r} does not exist", code="unknown_document"
                    )
                if answer.get("type") == "versions" and answer.get("id") == request:
                    break
            found.extend(answer["versions"])
            if (
                not answer.get("more")
                or not answer["versions"]
                or (limit is not None and len(found) >= limit)
            ):
                return found
            before = answer["versions"][-1]["number"]
