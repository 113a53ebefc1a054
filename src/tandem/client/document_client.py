"""DocumentClient: one collaborator on one document, over Tandem's protocol.

It holds the document as a pycrdt ``Doc`` (Yjs-compatible), encrypts every local
change before it leaves, decrypts what arrives, reconnects with backoff and
resumes from the last sequence number it has, re-sending unacknowledged changes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

import pycrdt
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tandem.client.errors import ClientError, DisconnectedError
from tandem.client.history import HistoryMixin
from tandem.client.local_file import LocalFile
from tandem.client.providers import Provider, fetch_key, fetch_token
from tandem.client.richtext import (
    append_paragraph,
    content_root,
    fragment_to_html,
    html_to_fragment,
)
from tandem.client.yjs_blocks import merge_ends, missing_clients, update_ranges
from tandem.crypto import (
    DEFAULT_ITERATIONS,
    EncryptionError,
    SessionCipher,
    new_session_secrets,
    unwrap_content_key,
)
from tandem.protocol import binary
from tandem.protocol.messages import PROTOCOL_VERSION

log = logging.getLogger("tandem.client")

COLLAB_PATH = "/v1/collab"
# Errors after which reconnecting cannot help (close codes from docs/protocol.md). Every
# other close is retried with backoff, never sooner than the error's ``retry_after``
# (a full document, a quota, a rate limit, a busy server are all temporary).
_FATAL_CLOSE = {4003, 4004, 4010}


def websocket_url(server_url: str) -> str:
    parts = urlsplit(server_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ClientError(f"invalid server URL {server_url!r}: expected http(s)://host[:port]")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + COLLAB_PATH, "", ""))


#: Handles one server message (a JSON object); async handlers are awaited in order.
_Handler = Callable[[dict[str, Any]], Awaitable[None] | None]


class _TlsOptions(TypedDict, total=False):
    """What ``websockets.connect`` passes on to ``loop.create_connection`` for TLS."""

    ssl: ssl.SSLContext


def _bad_frame(problem: str) -> ClientError:
    """An unreadable server frame: this connection ends, the client reconnects."""
    return ClientError(f"unreadable frame from the server: {problem}", code="bad_frame")


def _json_frame(text: str | bytes) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:  # also UnicodeDecodeError: bytes that are not UTF-8
        raise _bad_frame(f"not JSON ({exc})") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class DocumentClient(HistoryMixin):
    """Connect with ``async with DocumentClient(...) as client:`` or ``await client.start()``.

    Edit ``client.fragment`` (or use ``append_paragraph``/``set_html``) after
    ``await client.wait_synced()``; ``await client.flush()`` waits until the
    server has durably stored every local change. Version history: ``versions()``,
    ``state_at(n)``, ``restore(n)``, ``create_version(name)`` (``history.py``).

    With ``local_path`` the unacknowledged local changes are kept in that file (in
    plaintext, on this machine) and merged into the document on the next start, so
    edits survive a crash or a restart before the server acknowledged them.
    """

    #: Offer binary update frames in hello (docs/protocol.md, "Binary frames"); they are
    #: used when the server's welcome agrees, JSON otherwise.
    use_binary_frames: bool = True

    def __init__(
        self,
        server_url: str,
        *,
        api_key: str,
        document_id: str,
        token_provider: Provider,
        encryption_provider: Provider,
        initial_content: str | None = None,
        client_info: dict[str, Any] | None = None,
        client_id: str | None = None,
        iterations: int = DEFAULT_ITERATIONS,
        reconnect: bool = True,
        max_backoff: float = 10.0,
        create: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        local_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.url = websocket_url(server_url)
        self.api_key = api_key
        self.document_id = document_id
        self.token_provider = token_provider
        self.encryption_provider = encryption_provider
        self.initial_content = initial_content
        self.client_info = client_info or {}
        self.client_id = client_id or secrets.token_urlsafe(12)
        self.iterations = iterations
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.create = create
        self.ssl_context = ssl_context

        self.doc = pycrdt.Doc()
        self.fragment = content_root(self.doc)
        self._subscription = self.doc.observe(self._local_transaction)
        self._applying_remote = False

        self.user_id: str | None = None
        self.role: str | None = None
        self.caret: int | None = None
        self.version = 0
        self.session: dict[str, Any] | None = None
        self.key_hint: str | None = None
        self.clients: dict[str, dict[str, Any]] = {}
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

        self._cipher: SessionCipher | None = None
        self._counter = 0
        self._pending: dict[int, bytes] = {}  # counter -> plaintext Yjs update, until acked
        self._above: set[int] = set()
        self._ws: ClientConnection | None = None
        self._binary_frames = False  # this connection negotiated binary update frames
        self._synced = asyncio.Event()
        self._acked = asyncio.Event()
        self._acked.set()
        self._creating: str | None = None
        # The session this client proposed (create_session), until the server answers.
        self._pending_session: tuple[SessionCipher, dict[str, Any]] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopped = False
        self.error: BaseException | None = None
        self._failed = asyncio.Event()
        self._token_expires_at: float | None = None
        self._outbox: asyncio.Queue[int] | None = None
        self._rotation_behind = False
        self._background: set[asyncio.Task[Any]] = set()
        self._sync_expected: dict[int, int] = {}  # clock ranges applied while syncing
        self._sync_problem: tuple[str, str] | None = None
        self._history_init()
        # Server message type -> handler: only these names are dispatched (a server
        # cannot reach any other method by naming it).
        self._handlers: dict[str, _Handler] = {
            "welcome": self._on_welcome,
            "session_created": self._on_session_created,
            "session_rejected": self._on_session_rejected,
            "new_session": self._on_new_session,
            "snapshot": self._on_snapshot,
            "update": self._on_update,
            "synced": self._on_synced,
            "ack": self._on_ack,
            "snapshot_request": self._on_snapshot_request,
            "snapshot_ack": self._on_snapshot_ack,
            "client_joined": self._on_client_joined,
            "client_left": self._on_client_left,
            "presence": self._on_presence,
            "token_accepted": self._on_token_accepted,
            "error": self._on_error,
            "versions": self._on_versions,
            "version": self._on_version,
            "history_updates": self._on_history_updates,
            "request_failed": self._on_request_failed,
        }
        self.local = LocalFile(local_path, document_id) if local_path is not None else None
        self._local_updates: list[bytes] = self.local.load() if self.local else []

    # -- public API ------------------------------------------------------------------
    async def __aenter__(self) -> DocumentClient:
        await self.start()
        await self.wait_synced()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())

    async def wait_synced(self, timeout: float | None = 30.0) -> None:
        """Wait until the document is loaded (or created) and live."""
        await self._wait(self._synced, timeout, "synchronised")

    async def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every local change so far is acknowledged (durable on the server)."""
        await self._wait(self._acked, timeout, "acknowledged")

    async def _wait(self, event: asyncio.Event, timeout: float | None, what: str) -> None:
        waiter = asyncio.create_task(event.wait())
        failed = asyncio.create_task(self._failed.wait())
        try:
            await asyncio.wait(
                {waiter, failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
            failed.cancel()
        if event.is_set():
            return
        if self.error is not None:
            raise self.error
        raise TimeoutError(f"the document was not {what} within {timeout} s")

    async def close(self) -> None:
        self._stopped = True
        await self._cancel_background()
        if self._ws is not None:
            try:
                await self._ws.close()
            except Exception as exc:  # the connection is already broken: nothing to close
                log.debug("closing the connection: %r", exc)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def unacknowledged(self) -> int:
        return len(self._pending)

    def to_html(self) -> str:
        return fragment_to_html(self.fragment)

    def append_paragraph(self, text: str) -> None:
        self._require_synced()
        append_paragraph(self.fragment, text)

    def set_html(self, html: str) -> list[str]:
        self._require_synced()
        return html_to_fragment(html, self.fragment)

    def on(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Listen for events: remote_change, client_joined, client_left, presence,
        session, synced, disconnected, snapshot_ack, incident (the latest checkpoint or
        the session key was unusable and the document was rebuilt from history, or
        not), local_merged (changes kept in ``local_path`` were merged)."""
        self.listeners.append(listener)

    async def set_presence(self, state: dict[str, Any]) -> None:
        """Send an encrypted ephemeral presence state (caret, selection...)."""
        if self._ws is None or self._cipher is None:
            return
        data = self._cipher.seal_presence(self.client_id, json.dumps(state).encode())
        await self._send({"type": "presence", "data": _b64(data)})

    # -- internals: local changes ----------------------------------------------------
    def _require_synced(self) -> None:
        # Edits need a session: before the first sync the local Doc may still be
        # replaced by a create-race winner's. Offline edits after that are kept and sent.
        if self.session is None or self._creating is not None:
            raise ClientError("edit only after the document is synced (await wait_synced())")

    def _emit(self, kind: str, info: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, info)
            except Exception:  # a listener's bug must not break the connection
                log.exception("listener failed")

    def _local_transaction(self, event: pycrdt.TransactionEvent) -> None:
        if self._applying_remote:
            return
        update = event.update
        if not update or update == b"\x00\x00":
            return
        self._counter += 1
        self._pending[self._counter] = update
        self._acked.clear()
        self._save_local()
        if self._ws is not None and self._cipher is not None and self.synced:
            self._send_soon(self._counter)

    def _send_soon(self, counter: int) -> None:
        # One queue and one sender per connection: updates leave in counter order,
        # which the server keeps as sequence order (Yjs wants a client's own updates
        # in order).
        if self._outbox is not None:
            self._outbox.put_nowait(counter)

    async def _drain_outbox(self, outbox: asyncio.Queue[int]) -> None:
        while True:
            await self._send_update(await outbox.get())

    async def _send_update(self, counter: int) -> None:
        update = self._pending.get(counter)
        if update is None or self._cipher is None or self.session is None:
            return
        data = self._cipher.seal_update(self.client_id, counter, update)
        if self._binary_frames:  # negotiated: a small header and the raw ciphertext
            ws = self._ws
            if ws is not None:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(
                        binary.encode_client_update(self.session["session_id"], counter, data)
                    )
            return
        await self._send(
            {
                "type": "update",
                "session_id": self.session["session_id"],
                "counter": counter,
                "data": _b64(data),
            }
        )

    async def _send(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(message, separators=(",", ":")))

    def _save_local(self) -> None:
        if self.local is not None:
            self.local.save([self._pending[c] for c in sorted(self._pending)])

    def _merge_local(self) -> None:
        """Changes kept in the local file from an earlier run become local edits now
        (Yjs merges what the server already has as a no-op)."""
        updates, self._local_updates = self._local_updates, []
        if not updates:
            return
        for update in updates:
            try:
                self.doc.apply_update(update)  # observed as a local transaction: sent
            except Exception as exc:  # pycrdt raises its own errors for a damaged update
                log.warning("an update kept in the local file could not be applied: %r", exc)
        self._emit("local_merged", {"updates": len(updates)})

    def _apply_remote(self, update: bytes) -> None:
        self._applying_remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying_remote = False

    def _advance(self, seq: int) -> None:
        if seq <= self.version:
            return
        self._above.add(seq)
        while self.version + 1 in self._above:
            self.version += 1
            self._above.discard(self.version)

    def _reset_document(self) -> None:
        """Start over on a fresh Doc (a lost create-session race or a new session)."""
        self.doc.unobserve(self._subscription)
        self.doc = pycrdt.Doc()
        self.fragment = content_root(self.doc)
        self._subscription = self.doc.observe(self._local_transaction)
        self.version = 0
        self._above.clear()
        self._pending.clear()
        self._acked.set()

    # -- internals: connection ---------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        jwt_failures = 0
        while not self._stopped:
            retry_after = 0.0
            try:
                await self._connect_once()
                attempt = 0
            except ClientError as exc:
                if exc.code == "jwt":
                    jwt_failures += 1
                if (
                    exc.code in ("encryption", "client_update_required")
                    or jwt_failures > 1
                    or exc.fatal
                    or not self.reconnect
                ):
                    self._fail(exc)
                    return
                retry_after = exc.retry_after or 0.0
                self._emit(
                    "disconnected",
                    {"code": exc.code, "message": exc.message, "retry_after": exc.retry_after},
                )
            except EncryptionError as exc:
                self._fail(exc)
                return
            except (TimeoutError, OSError, ConnectionClosed, InvalidHandshake) as exc:
                self._emit("disconnected", {"code": "network", "message": str(exc)})
                if not self.reconnect:
                    self._fail(DisconnectedError(f"connection lost: {exc}"))
                    return
            except Exception as exc:  # a bug must surface as an error, not a silent stop
                log.exception("client connection failed")
                self._fail(exc)
                return
            finally:
                self._ws = None
                self._synced.clear()
                self._fail_requests(DisconnectedError("the connection was lost"))
            if self._stopped:
                return
            attempt += 1
            delay = min(self.max_backoff, 0.2 * 2 ** min(attempt, 8)) * (0.5 + random.random())
            await asyncio.sleep(max(delay, retry_after))

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self._failed.set()
        self._emit(
            "disconnected",
            {"code": getattr(exc, "code", "error"), "message": str(exc), "fatal": True},
        )

    async def _connect_once(self) -> None:
        token = await fetch_token(self.token_provider, self.document_id)
        # Without a context, websockets picks the default: TLS for wss://, none for ws://.
        tls: _TlsOptions = {"ssl": self.ssl_context} if self.ssl_context is not None else {}
        async with websockets.connect(
            self.url, max_size=None, open_timeout=10, ping_interval=20, ping_timeout=20, **tls
        ) as ws:
            self._ws = ws
            await ws.send(
                json.dumps(
                    {
                        "type": "hello",
                        "protocol": PROTOCOL_VERSION,
                        "api_key": self.api_key,
                        "document_id": self.document_id,
                        "token": token,
                        "client_id": self.client_id,
                        "client_info": self.client_info,
                        "batch": True,
                        "binary": self.use_binary_frames,
                        "last_seq": self.version if self.session else None,
                        "session_id": self.session["session_id"] if self.session else None,
                    }
                )
            )
            refresher = asyncio.create_task(self._refresh_token_loop())
            self._outbox = asyncio.Queue()
            sender = asyncio.create_task(self._drain_outbox(self._outbox))
            self._binary_frames = False
            try:
                async for raw in ws:
                    await self._receive_frame(raw)
            finally:
                refresher.cancel()
                sender.cancel()
                self._outbox = None
            self._raise_for_close(ws)

    def _raise_for_close(self, ws: ClientConnection) -> None:
        code = ws.close_code
        if code is not None and code not in (1000, 1001):
            raise ClientError(
                ws.close_reason or f"closed with code {code}",
                code=f"close_{code}",
                fatal=code in _FATAL_CLOSE,
            )
        raise DisconnectedError("the server closed the connection")

    async def _refresh_token_loop(self) -> None:
        """Send a fresh token before the current one expires (the server closes the
        connection at expiry plus its leeway)."""
        while True:
            expires = self._token_expires_at
            if expires is None:
                await asyncio.sleep(1)
                continue
            left = expires - time.time()
            await asyncio.sleep(max(1.0, left - 60.0) if left > 90 else max(0.5, left / 2))
            token = await fetch_token(self.token_provider, self.document_id)
            self._token_expires_at = None
            await self._send({"type": "token", "token": token})

    # -- internals: server messages ------------------------------------------------------
    async def _receive_frame(self, raw: str | bytes) -> None:
        """One WebSocket frame: JSON text, or (negotiated) a binary update or batch."""
        if isinstance(raw, bytes) and binary.is_binary(raw):
            try:
                messages = binary.decode_server_frame(raw)
            except binary.FrameError as exc:
                raise _bad_frame(str(exc)) from None
            for message in messages:
                if isinstance(message, binary.ServerUpdate):
                    await self._handle(message.as_message())
                else:
                    await self._handle(_json_frame(message))
            return
        msg = _json_frame(raw)
        if isinstance(msg, dict) and msg.get("type") == "welcome":
            self._binary_frames = self.use_binary_frames and msg.get("binary") is True
        await self._handle(msg)

    async def _handle(self, msg: object) -> None:
        if not isinstance(msg, dict):
            raise _bad_frame("a server message is not a JSON object")
        kind = msg.get("type")
        if kind == "batch":  # several server messages in one frame, in order
            inner_messages = msg.get("messages", [])
            if not isinstance(inner_messages, list):
                raise _bad_frame("a batch's messages are not a JSON array")
            for inner in inner_messages:
                await self._handle(inner)
            return
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            log.debug("ignoring unknown message type %r", kind)
            return
        result = handler(msg)
        if result is not None:
            await result

    async def _on_welcome(self, msg: dict[str, Any]) -> None:
        # The highest counter the server stored under this client id (in the active
        # session): a new instance reusing a client id (a bot run again) continues
        # after it, so its updates are never mistaken for re-sent ones.
        stored_counter = msg.get("counter")
        if isinstance(stored_counter, int) and stored_counter > self._counter:
            self._counter = stored_counter
        self.user_id = msg["user_id"]
        self.role = msg["role"]
        self.caret = msg["caret"]
        self._token_expires_at = msg.get("token_expires_at")
        self.clients = {c["client_id"]: c for c in msg.get("clients", [])}
        session = msg.get("session")
        if session is not None:
            await self._adopt_session(
                session,
                fresh=self.session is None or self.session["session_id"] != session["session_id"],
            )
        elif not self.create:
            raise ClientError(
                f"document {self.document_id!r} does not exist", code="unknown_document", fatal=True
            )
        elif self.role == "editor":
            await self._create_session(msg.get("version", 0))

    async def _create_session(self, version: int, replaces: str | None = None) -> None:
        key, hint = await fetch_key(self.encryption_provider, self.document_id, None)
        session_id = secrets.token_urlsafe(18)
        session_secrets = await asyncio.to_thread(
            new_session_secrets, key, self.document_id, session_id, iterations=self.iterations
        )
        if replaces is None:
            self._reset_document()
            if self.initial_content:
                self._applying_remote = True  # the initial state travels as the snapshot
                try:
                    html_to_fragment(self.initial_content, self.fragment)
                finally:
                    self._applying_remote = False
        # (A rotation keeps the document: its full state becomes the new snapshot.)
        cipher = SessionCipher(session_secrets.content_key, self.document_id, session_id)
        snapshot = cipher.seal_snapshot(version, self.doc.get_update())
        self._creating = session_id
        proposed: dict[str, Any] = {
            "session_id": session_id,
            "key_hint": hint,
            "salt": _b64(session_secrets.salt),
            "iterations": session_secrets.iterations,
            "wrapped_key": _b64(session_secrets.wrapped_key),
            "start_seq": version,
        }
        self._pending_session = (cipher, proposed)
        await self._send(
            {
                "type": "create_session",
                "session_id": session_id,
                "key_hint": hint,
                "salt": _b64(session_secrets.salt),
                "iterations": session_secrets.iterations,
                "wrapped_key": _b64(session_secrets.wrapped_key),
                "snapshot": _b64(snapshot),
                "replaces": replaces,
                "seq": version,
            }
        )

    async def rotate_key(self, timeout: float = 30.0) -> str:
        """Move the document to a new session with a new key from the encryption
        provider (called with ``keyHint: None``). Old key hints stay usable for old
        sessions. Returns the new key hint."""
        self._require_synced()
        if self.role != "editor":
            raise ClientError("a viewer cannot rotate keys", code="read_only")
        assert self.session is not None
        old = self.session["session_id"]
        for _attempt in range(5):
            self._rotation_behind = False
            await self._create_session(self.version, replaces=old)
            await self._wait_for(
                lambda: (
                    self._rotation_behind
                    or (
                        self.session is not None
                        and self.session["session_id"] != old
                        and self.synced
                    )
                ),
                timeout,
                "rotated",
            )
            if not self._rotation_behind:
                assert self.session is not None
                hint = self.session["key_hint"]
                if not isinstance(hint, str):
                    raise ClientError("the new session has no key hint", code="bad_frame")
                return hint
            await asyncio.sleep(0.05)  # others' updates landed first: seal again, newer
        raise ClientError(
            "could not rotate the key: the document kept changing", code="session_conflict"
        )

    async def _wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if self.error is not None:
                raise self.error
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the document was not {what} within {timeout} s")
            await asyncio.sleep(0.02)

    async def _on_session_created(self, msg: dict[str, Any]) -> None:
        pending = self._pending_session
        if pending is None or self._creating is None or msg.get("session_id") != self._creating:
            return  # not the session this client is creating
        cipher, session = pending
        self._pending_session = None
        self._cipher = cipher
        self._ciphers[session["session_id"]] = cipher
        self.session = session
        self.key_hint = session["key_hint"]
        self.version = msg.get("version", 0)
        self._creating = None
        self._emit("session", {"session_id": session["session_id"], "created": True})
        await self._became_synced()

    def _on_session_rejected(self, msg: dict[str, Any]) -> None:
        # The winner's session arrives as new_session; wait for it. A rotation sealed
        # for an older version than the document's ("behind") is simply retried.
        if msg.get("session_id") == self._creating:
            self._creating = None
            self._rotation_behind = msg.get("reason") == "behind"

    async def _on_new_session(self, msg: dict[str, Any]) -> None:
        self._creating = None
        await self._adopt_session(msg["session"], fresh=True)

    async def _adopt_session(self, session: dict[str, Any], *, fresh: bool) -> None:
        key, _hint = await fetch_key(
            self.encryption_provider, self.document_id, session["key_hint"]
        )
        try:
            content_key: bytes | None = await asyncio.to_thread(
                unwrap_content_key,
                key,
                base64.b64decode(session["salt"]),
                session["iterations"],
                base64.b64decode(session["wrapped_key"]),
                self.document_id,
                session["session_id"],
            )
        except EncryptionError:
            if self.session is None and not session.get("start_seq"):
                raise  # the document's first session: simply a wrong key
            # A key hint we resolve but a wrapped key that does not open (a broken or
            # malicious rotation): keep what we have, read from history, report it.
            content_key = None
            self._sync_problem = (
                "session_key_unusable",
                f"the content key of session {session['session_id']} cannot be unwrapped",
            )
        if fresh:
            self._synced.clear()
            if self.session is None:
                # We had no session: what this Doc holds is our own losing initial
                # content, not part of the winner's document. Start from its snapshot.
                self._reset_document()
            # A rotated session continues the same document (its snapshot is a full
            # state of it): keep the Doc and re-send unacknowledged edits under it.
        self.session = session
        self.key_hint = session["key_hint"]
        self._cipher = (
            None
            if content_key is None
            else SessionCipher(content_key, self.document_id, session["session_id"])
        )
        if self._cipher is not None:
            self._ciphers[session["session_id"]] = self._cipher
        self._sync_expected = {}
        self._emit("session", {"session_id": session["session_id"], "created": False})

    def _on_snapshot(self, msg: dict[str, Any]) -> None:
        if self.session is None or msg.get("session_id") != self.session["session_id"]:
            return
        try:
            if self._cipher is None:
                raise EncryptionError("no key for this session")
            state = self._cipher.open_snapshot(msg["seq"], base64.b64decode(msg["data"]))
            self._apply_remote(state)
        except (EncryptionError, ValueError) as exc:
            # Carry on from its seq: the fall-back rebuilds what it should have held.
            self._sync_problem = self._sync_problem or (
                "snapshot_unreadable",
                f"the checkpoint at seq {msg['seq']} cannot be decrypted ({exc})",
            )
        self._sync_expected = {}
        if msg["seq"] > self.version:
            self.version = msg["seq"]
            self._above = {s for s in self._above if s > self.version}
            self._advance(self.version)
        self._emit("remote_change", {"seq": msg["seq"], "snapshot": True})

    def _on_update(self, msg: dict[str, Any]) -> None:
        if self.session is None or msg.get("session_id") != self.session["session_id"]:
            return
        if self._cipher is None:
            self._advance(msg["seq"])
            return
        seq = msg["seq"]
        if seq > self.version and seq not in self._above:
            try:
                data = msg["data"]  # base64 text (JSON frame) or bytes (binary frame)
                update = self._cipher.open_update(
                    msg["client_id"],
                    msg["counter"],
                    data if isinstance(data, bytes) else base64.b64decode(data),
                )
                self._apply_remote(update)
                if not self.synced:
                    try:
                        merge_ends(self._sync_expected, update_ranges(update))
                    except ValueError:  # not a v1 update we can read: no check, no alarm
                        log.debug("cannot read the clock ranges of update %s", seq)
            except (EncryptionError, ValueError) as exc:
                self._sync_problem = self._sync_problem or (
                    "update_unreadable",
                    f"the update at seq {seq} cannot be read ({exc})",
                )
            self._advance(seq)
            self._emit(
                "remote_change",
                {"seq": seq, "user_id": msg["user_id"], "client_id": msg["client_id"]},
            )

    async def _on_synced(self, msg: dict[str, Any]) -> None:
        self._advance(msg.get("version", 0))
        problem, self._sync_problem = self._sync_problem, None
        expected, self._sync_expected = self._sync_expected, {}
        if problem is None:
            missing = missing_clients(self.doc.get_state(), expected)
            if missing:
                problem = (
                    "snapshot_incomplete",
                    "the latest checkpoint lacks updates the "
                    f"log after it builds on ({len(missing)} clients' changes missing)",
                )
        if problem is not None and not self._recovering:
            self._start_recovery(*problem)
            return
        await self._became_synced()

    async def _became_synced(self) -> None:
        self._merge_local()
        self._synced.set()
        self._emit("synced", {"version": self.version})
        for counter in sorted(self._pending):
            self._send_soon(counter)

    def _on_ack(self, msg: dict[str, Any]) -> None:
        if self._pending.pop(msg["counter"], None) is not None:
            self._save_local()
        self._advance(msg["seq"])
        if not self._pending:
            self._acked.set()

    async def _on_snapshot_request(self, msg: dict[str, Any]) -> None:
        if self._cipher is None or self.session is None or self._above:
            return  # only a client with a gap-free history may vouch for a version
        seq = self.version
        data = self._cipher.seal_snapshot(seq, self.doc.get_update())
        self._snapshot_waiters.append(None)
        await self._send(
            {
                "type": "snapshot",
                "session_id": self.session["session_id"],
                "seq": seq,
                "data": _b64(data),
            }
        )

    def _on_client_joined(self, msg: dict[str, Any]) -> None:
        info: dict[str, Any] = {
            k: msg[k] for k in ("user_id", "client_id", "caret", "client_info", "role") if k in msg
        }
        self.clients[msg["client_id"]] = info
        self._emit("client_joined", info)

    def _on_client_left(self, msg: dict[str, Any]) -> None:
        info = self.clients.pop(msg["client_id"], msg)
        self._emit("client_left", info)

    def _on_presence(self, msg: dict[str, Any]) -> None:
        if self._cipher is None:
            return
        try:
            state = json.loads(
                self._cipher.open_presence(msg["client_id"], base64.b64decode(msg["data"]))
            )
        except (EncryptionError, ValueError):
            return  # presence from another session or garbage: ignore, it is ephemeral
        if msg["client_id"] in self.clients:
            self.clients[msg["client_id"]]["presence"] = state
        self._emit(
            "presence", {"client_id": msg["client_id"], "user_id": msg["user_id"], "state": state}
        )

    def _on_token_accepted(self, msg: dict[str, Any]) -> None:
        self._token_expires_at = msg.get("expires_at")
        self.role = msg.get("role", self.role)

    def _on_error(self, msg: dict[str, Any]) -> None:
        code = msg.get("code", "error")
        retry_after = msg.get("retry_after")
        raise ClientError(
            msg.get("message", "error"),
            code="jwt" if code == "jwt" else code,
            fatal=msg.get("close") in _FATAL_CLOSE,
            detail=msg.get("detail"),
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        )
