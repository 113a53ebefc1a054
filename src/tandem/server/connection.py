"""One collaborator's WebSocket: the I/O around the sans-I/O ``ServerConnection``.

The protocol's rules (states, validation, limits, roles) live in
``tandem.protocol.server_connection``; this layer reads frames, feeds them to it,
and does what the resulting events ask: verify tokens, join the document's hub,
store updates, relay presence. It is the hub's ``Member`` for this client.

Two tasks per connection: the receive loop, and a sender draining a byte-bounded
outbound queue, so a slow reader never stalls the hub's fan-out (it is dropped when
its queue passes ``send_queue_bytes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from tandem.auth import AuthError, Identity
from tandem.protocol import server_frames
from tandem.protocol.errors import ProtocolError
from tandem.protocol.messages import (
    CreateSession,
    GetUpdates,
    GetVersion,
    Hello,
    HistoryRequest,
    ListVersions,
    Presence,
    Snapshot,
    Update,
    b64,
)
from tandem.protocol.server_connection import (
    ConnectionLimits,
    CreateSessionReceived,
    Credentials,
    HelloReceived,
    HistoryRequested,
    PresenceReceived,
    ServerConnection,
    SnapshotReceived,
    TokenReceived,
    UpdateReceived,
)
from tandem.protocol.server_frames import UpdateFrame
from tandem.server.deletion import close_deleted_document, document_deleted
from tandem.server.fanout import ReleasedRun
from tandem.server.quotas import check_write
from tandem.storage import (
    AppendResult,
    ClientIdTaken,
    SessionRecord,
    SnapshotRejected,
    StaleSession,
    StorageError,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from tandem.server.hub import DocumentHub
    from tandem.server.state import ServerState

log = logging.getLogger("tandem.server")

_SYNC_PAGE = 1000  # updates read from storage at once, at most
_SYNC_PAGE_BYTES = 4 * 1024 * 1024  # ... and about this many bytes
_MAX_BATCH_FRAMES = 256
# The pause grows with the document's audience: fan-out work grows with its square.
_BATCH_INTERVAL = 0.010  # seconds, at most
_BATCH_INTERVAL_PER_MEMBER = 0.00005
_PIPELINE = 64  # updates of one connection stored per transaction, at most
_BATCH_BYTES = 1024 * 1024  # ... and bytes (one larger update goes alone)
TRANSPORT_EXTENSION = "tandem.transport"  # scope extension set by server.transport


class _Append:
    """One batch of a connection's updates on its way into the store."""

    __slots__ = ("batch", "future", "holds_gate", "nbytes", "settled", "started")

    def __init__(self, batch: list[Update], nbytes: int) -> None:
        self.batch = batch
        self.nbytes = nbytes
        self.future: asyncio.Future[list[AppendResult]] | None = None
        self.holds_gate = False  # its bytes are counted in the hub's write gate
        self.started = 0.0
        self.settled = False

    def settle(self, hub: DocumentHub) -> None:
        """The batch is no longer in flight (stored, failed or abandoned): give back its
        write-gate bytes and its place in the hub's queue, once."""
        if self.settled:
            return
        self.settled = True
        if self.holds_gate:
            hub.write_gate.release(self.nbytes)
        hub.queued -= len(self.batch)
        hub.queued_bytes -= self.nbytes


# Token failures that count against the source address: those of tokens that were not
# validly signed for the API key (garbage, forgeries, unknown keys). An expired or
# wrong-document token was signed by the integrator: a clock or a cache, not an attack.
FORGERY_CODES = frozenset(
    {
        "token_too_large",
        "not_enough_parts",
        "too_many_parts",
        "bad_base64",
        "bad_json",
        "missing_alg",
        "missing_claims",
        "unsupported_alg",
        "unsupported_header",
        "jwks_unavailable",
        "bad_signature",
    }
)


def _auth_error(exc: AuthError) -> ProtocolError:
    code = "forbidden_document" if exc.code == "wrong_document" else "jwt"
    return ProtocolError(code, exc.message, detail=exc.code)


class CollabConnection:
    """The I/O driver of one connection, and the hub's ``Member`` for it."""

    def __init__(self, websocket: WebSocket, state: ServerState) -> None:
        self.ws = websocket
        self.state = state
        self.settings = state.settings
        self.protocol = ServerConnection(ConnectionLimits.from_settings(state.settings))
        self.outbound = self.protocol.outbound
        self.hub: DocumentHub | None = None
        self.hello: Hello | None = None
        self.client_id = ""
        self.user_id = ""
        self.role = ""
        self.caret = 0
        self.token = ""  # the current token: re-verified when the API key's keys change
        self.source = websocket.client.host if websocket.client else "unknown"
        self.announced: str | None = None  # session id this client was told about
        self.sync_generation = 0
        self._final: tuple[str | None, int] | None = None  # (error frame, close code)
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._batch: deque[Update] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._counted_user = False
        self.binary = False  # the client negotiated binary update frames
        # Writes complete WebSocket frames straight to the socket (server.transport);
        # False when it cannot (socket paused or closing). None: not available.
        self._send_frames: Callable[[bytes], bool] | None = None
        self._sending = False  # the send loop is inside an ASGI send
        self._welcomed = False  # the welcome is queued: frames may follow it
        self._batching = False  # ... and batch frames

    # -- Member --------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        assert self.hello is not None
        return {
            "user_id": self.user_id,
            "client_id": self.client_id,
            "caret": self.caret,
            "client_info": self.hello.client_info,
            "role": self.role,
        }

    def deliver(
        self, frame: str | UpdateFrame, *, seq: int | None = None, ephemeral: bool = False
    ) -> None:
        if self._final is not None:
            return
        if not self.outbound.push(self._form(frame), seq=seq, ephemeral=ephemeral):
            self.fail(
                ProtocolError("slow_consumer", "the client is not reading its messages fast enough")
            )
            return
        self._wake.set()

    def _form(self, frame: str | UpdateFrame) -> str | bytes:
        """An update in the form this client negotiated."""
        if isinstance(frame, UpdateFrame):
            return frame.binary if self.binary else frame.text
        return frame

    def deliver_run(self, run: ReleasedRun) -> None:
        """Released updates (``DocumentHub.flush``): written straight to the socket as
        bytes shared with the other members when nothing is queued before them and the
        socket takes them; else queued one by one like any frame."""
        if self._final is not None:
            return
        outbound = self.outbound
        send_frames = self._send_frames
        if (
            send_frames is not None
            and self._welcomed
            and not self._sending
            and not len(outbound)
            and not outbound.syncing
        ):
            wire = run.wire_for(
                self, binary=self.binary, batching=self._batching, after_seq=outbound.last_sent_seq
            )
            if wire is None:
                return
            if send_frames(wire):
                outbound.last_sent_seq = max(outbound.last_sent_seq, run.last_seq)
                return
        for seq, frame in run.frames_for(self):
            self.deliver(frame, seq=seq)

    def kick(self, error: ProtocolError) -> None:
        if self.hub is not None:  # the hub already let go of this member
            self.hub = None
            self.state.metrics.connections -= 1
        self.fail(error)

    def request_snapshot(self, seq: int) -> None:
        self.deliver(server_frames.snapshot_request(seq))

    def _history(self, frame: str | UpdateFrame, seq: int | None = None) -> None:
        if self._final is not None:
            return
        if not self.outbound.push_history(self._form(frame), seq=seq):
            self.fail(
                ProtocolError("slow_consumer", "the client is not reading its messages fast enough")
            )
            return
        self._wake.set()

    # -- closing -------------------------------------------------------------------
    def fail(self, error: ProtocolError) -> None:
        """Send an error frame, then close with the error's close code."""
        frame = self.protocol.fail(error)
        if frame is None or self._final is not None:
            return
        if error.code == "slow_consumer":
            self.outbound.pop(len(self.outbound))  # it will not read them anyway
        self._final = (frame, error.close_code)
        self._wake.set()
        self.state.metrics.error(error.code)

    def close_quietly(self, code: int = 1000) -> None:
        if self._final is None:
            self.protocol.closed()
            self._final = (None, code)
            self._wake.set()

    async def _send_loop(self) -> None:
        """Drain the outbound queue. When frames pile up and the client accepts it,
        send them as one ``batch`` frame: per-frame overhead is what limits fan-out to
        many clients, not bytes. Frames go straight to the ASGI server's ``send`` (the
        connection is accepted and only this task sends), without Starlette's
        per-message state checks."""
        loop = asyncio.get_running_loop()
        outbound = self.outbound
        send = self.ws._send  # the raw ASGI send callable
        last_send = 0.0
        try:
            while True:
                if not len(outbound):
                    if self._final is not None:
                        last, code = self._final
                        if last is not None:
                            await self.ws.send_text(last)
                        try:
                            await self.ws.close(code)
                        except Exception as exc:  # the peer is already gone: nothing to close
                            log.debug("closing a connection (code %s): %r", code, exc)
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if self._batching:
                    # Under a stream of frames, send at most every _BATCH_INTERVAL: a
                    # busy document costs a few sends per client, not one per update.
                    # An occasional frame still leaves at once.
                    hub = self.hub
                    interval = min(
                        _BATCH_INTERVAL,
                        _BATCH_INTERVAL_PER_MEMBER * (len(hub.members) if hub is not None else 0),
                    )
                    wait = last_send + interval - loop.time()
                    if wait > 0 and self._final is None:
                        await asyncio.sleep(wait)
                    frames = outbound.pop(_MAX_BATCH_FRAMES)
                    last_send = loop.time()
                else:
                    frames = outbound.pop(1)
                frame: str | bytes
                if len(frames) == 1:
                    frame = frames[0]
                elif self.binary:
                    frame = server_frames.binary_batch(frames)
                elif frames:  # a text client's queue holds only JSON text
                    frame = server_frames.batch_frame([f for f in frames if type(f) is str])
                else:
                    continue
                self._sending = True
                try:
                    if type(frame) is bytes:
                        await send({"type": "websocket.send", "bytes": frame})
                    else:
                        await send({"type": "websocket.send", "text": frame})
                finally:
                    self._sending = False
                if outbound.room_for_history:
                    self._room.set()
        except asyncio.CancelledError:
            raise
        except (OSError, RuntimeError) as exc:  # the peer went away; the reader notices
            log.debug("send failed: %s", exc)
        except Exception:  # a bug: never silent, and the connection ends
            log.exception("internal error sending to a client")
        finally:
            self.protocol.closed()
            self._final = self._final or (None, 1011)
            self._room.set()

    # -- lifecycle -----------------------------------------------------------------
    async def refuse_if_limited(self) -> bool:
        """A source over its failed-authentication budget is refused at the handshake
        (HTTP 429 with Retry-After): cheaper than a WebSocket, a hello and an error."""
        assert self.state.sources is not None
        try:
            self.state.sources.check(self.source)
        except ProtocolError as exc:
            if "websocket.http.response" not in self.ws.scope.get("extensions", {}):
                return False  # the error frame after hello will say it
            self.state.metrics.error(exc.code)
            await self.ws.send_denial_response(
                PlainTextResponse(
                    exc.message,
                    status_code=429,
                    headers={"Retry-After": str(int(exc.retry_after or 1) + 1)},
                )
            )
            return True
        return False

    async def run(self) -> None:
        if await self.refuse_if_limited():
            return
        await self.ws.accept()
        transport = self.ws.scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
        if transport is not None:
            self._send_frames = transport.get("send_frames")
        self._sender = asyncio.create_task(self._send_loop())
        try:
            await self._serve()
        except ProtocolError as exc:
            self.fail(exc)
        except asyncio.CancelledError:
            self.fail(ProtocolError("server_shutdown", "the server is shutting down"))
            raise
        except Exception:  # never let one connection take the server down
            log.exception("internal error on a connection")
            self.fail(ProtocolError("internal_error", "internal server error"))
        finally:
            self._leave()
            for task in self._tasks:
                task.cancel()
            self.close_quietly()
            try:
                # the send loop flushes the final frame; it handles its own errors, and
                # asyncio.wait neither raises them nor swallows this task's cancellation
                await asyncio.wait({self._sender}, timeout=5)
            finally:
                if not self._sender.done():
                    self._sender.cancel()

    async def _receive(self, timeout: float | None) -> str | bytes | None:
        if timeout is not None and timeout <= 0:
            raise TimeoutError  # past the deadline: not even a frame already buffered
        # asyncio.timeout, not wait_for: no task (and its two loop turns) per frame
        async with asyncio.timeout(timeout):
            message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("text")
        if data is None:
            data = message.get("bytes")
        return b"" if data is None else data

    def _set_transport_limit(self, nbytes: int) -> None:
        transport = self.ws.scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
        if transport is not None:
            transport["set_max_message_size"](nbytes)

    async def _serve(self) -> None:
        try:
            raw = await self._receive(self.settings.hello_timeout)
        except TimeoutError:
            raise ProtocolError(
                "hello_timeout", f"no hello message within {self.settings.hello_timeout:g} seconds"
            ) from None
        if raw is None:
            return
        event = self.protocol.receive_frame(raw)
        assert isinstance(event, HelloReceived)
        assert self.state.sources is not None
        self.state.sources.check(self.source)  # before any token work
        await self._authenticate(event.hello)
        self._set_transport_limit(self.settings.max_frame_bytes * TRANSPORT_LIMIT_FACTOR)
        await self._join(event.hello)
        while not self.protocol.is_closed:
            try:
                raw = await self._receive(self.protocol.time_left())
            except TimeoutError:
                raise self.protocol.expired() from None
            if raw is None or self.protocol.is_closed:
                return
            event = self.protocol.receive_frame(raw)
            if event is not None:
                await self._handle(event)

    async def _handle(self, event: object) -> None:
        if isinstance(event, UpdateReceived):
            await self._on_update(event.update)
        elif isinstance(event, PresenceReceived):
            self._on_presence(event.presence)
        elif isinstance(event, SnapshotReceived):
            await self._on_snapshot(event.snapshot)
        elif isinstance(event, CreateSessionReceived):
            await self._on_create_session(event.request)
        elif isinstance(event, TokenReceived):
            await self._on_token(event.token)
        elif isinstance(event, HistoryRequested):
            await self._on_history(event.request)

    # -- hello ---------------------------------------------------------------------
    async def _verify(self, api_key: str, token: str, document_id: str) -> Identity:
        state = self.state
        assert state.sources is not None
        cached = state.rejected_tokens.get(api_key, token)
        if isinstance(cached, AuthError):
            state.sources.failed(self.source)
            raise _auth_error(cached)
        try:
            return await state.verifier.verify(api_key, token, document_id=document_id)
        except AuthError as exc:
            if exc.code in FORGERY_CODES:  # not a (validly signed) stale or wrong token
                state.sources.failed(self.source)
            if exc.code == "bad_signature":
                state.rejected_tokens.add(api_key, token, exc)
            raise _auth_error(exc) from None

    async def _authenticate(self, hello: Hello) -> None:
        identity = await self._verify(hello.api_key, hello.token, hello.document_id)
        try:
            record = await self.state.store.get_api_key(hello.api_key)
        except StorageError as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        if record is None:
            raise ProtocolError("jwt", "Unable to retrieve JWK set", detail="jwks_unavailable")
        origin = self.ws.headers.get("origin")
        if record.origins and origin is not None and origin not in record.origins:
            raise ProtocolError(
                "origin_not_allowed", f"origin {origin} is not allowed for this API key"
            )
        self.protocol.authenticated(
            Credentials(identity.user_id, identity.role, identity.expires_at)
        )
        assert self.state.user_connections is not None
        self.state.user_connections.acquire(hello.api_key, identity.user_id)
        self._counted_user = True
        self.hello = hello
        self.client_id = hello.client_id
        self.user_id = identity.user_id
        self.role = identity.role
        self.token = hello.token
        self.binary = hello.binary
        self._batching = hello.batch
        self.state.connections[hello.api_key].add(self)

    async def _join(self, hello: Hello) -> None:
        registry = self.state.hubs
        try:
            hub = await registry.open((hello.api_key, hello.document_id))
        except StorageError as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        try:
            counter = 0
            if hub.session is not None:
                try:
                    stored = await self.state.store.client_counter(
                        hub.api_key, hub.document_id, hub.session.session_id, self.client_id
                    )
                except StorageError as exc:
                    raise ProtocolError("storage_unavailable", exc.message) from None
                if stored is not None:
                    if stored.user_id is not None and stored.user_id != self.user_id:
                        raise ProtocolError(
                            "client_id_taken",
                            "this client id is in use by another user; use a random client id",
                        )
                    counter = stored.max_counter
            if hub.deleted:
                raise document_deleted()
            others = hub.admit(self, self.state.membership)
            self.hub = hub
        finally:
            registry.unpin(hub)
        self.state.metrics.connections += 1
        self._history(
            self.protocol.joined(
                caret=self.caret,
                version=hub.head,
                session=hub.session,
                clients=others,
                counter=counter,
            )
        )
        self._welcomed = True
        if hub.session is not None:
            self.announced = hub.session.session_id
            self._start_sync(
                hub.session, hello.last_seq if hello.session_id == hub.session.session_id else None
            )

    def _leave(self) -> None:
        state = self.state
        if self.hello is not None:
            state.connections[self.hello.api_key].discard(self)
            if not state.connections[self.hello.api_key]:
                del state.connections[self.hello.api_key]
        if self._counted_user and self.hello is not None:
            assert state.user_connections is not None
            state.user_connections.release(self.hello.api_key, self.user_id)
            self._counted_user = False
        hub, self.hub = self.hub, None
        if hub is None:
            return
        if hub.members.get(self.client_id) is self:
            state.metrics.connections -= 1
        hub.leave(self)
        state.hubs.release(hub)

    # -- sync ----------------------------------------------------------------------
    def _start_sync(
        self, session: SessionRecord, last_seq: int | None, last_sent_seq: int | None = None
    ) -> None:
        self.sync_generation += 1
        self.outbound.begin_sync(last_sent_seq)
        task = asyncio.create_task(self._sync(session, last_seq, self.sync_generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_for_room(self) -> None:
        while not self.outbound.room_for_history and not self.protocol.is_closed:
            self._room.clear()
            await self._room.wait()

    async def _sync(self, session: SessionRecord, last_seq: int | None, generation: int) -> None:
        """Send the snapshot (unless the client's last_seq makes it unnecessary), the
        updates after it at the client's pace, then what arrived live meanwhile, then
        ``synced``."""
        hub = self.hub
        if hub is None:
            return
        store = self.state.store
        key = hub.key
        try:
            # A snapshot stored while we read may compact updates we have not sent
            # yet; then the log has a hole after ``start`` and we begin again from the
            # newer snapshot (sending a state twice is harmless: Yjs merges it).
            for _attempt in range(5):
                snapshot = await store.latest_snapshot(*key)
                if generation != self.sync_generation:
                    return
                if snapshot is None or snapshot.session_id != session.session_id:
                    return  # a newer session was announced; its own sync follows
                if last_seq is not None and snapshot.seq <= last_seq <= hub.head:
                    start = last_seq
                else:
                    start = snapshot.seq
                    self._history(
                        server_frames.snapshot(
                            session.session_id, snapshot.seq, snapshot.ciphertext
                        )
                    )
                self.outbound.last_sent_seq = max(self.outbound.last_sent_seq, start)
                if await self._send_log_after(key, start, generation):
                    break
                last_seq = None
            if generation != self.sync_generation:
                return
            start = self.outbound.last_sent_seq
        except StorageError as exc:
            self.fail(ProtocolError("storage_unavailable", exc.message))
            return
        self.outbound.end_sync()
        self._history(
            server_frames.synced(session.session_id, max(self.outbound.last_sent_seq, start))
        )

    async def _send_log_after(self, key: tuple[str, str], start: int, generation: int) -> bool:
        """Send the stored updates after ``start``; False if some were compacted away.
        Pages are sized so that one holds about ``_SYNC_PAGE_BYTES`` in memory."""
        limit = 64
        while True:
            await self._wait_for_room()
            if generation != self.sync_generation or self.protocol.is_closed:
                return True
            page = await self.state.store.updates_after(*key, start, limit=limit)
            if generation != self.sync_generation:
                return True
            if page and page[0].seq != start + 1:
                return False
            for update in page:
                if not self.outbound.room_for_history:
                    await self._wait_for_room()  # at the reader's pace
                    if generation != self.sync_generation or self.protocol.is_closed:
                        return True
                self._history(
                    server_frames.update(
                        update.seq,
                        update.session_id,
                        update.client_id,
                        update.counter,
                        update.user_id,
                        update.ciphertext,
                    ),
                    update.seq,
                )
            if len(page) < limit:
                return True
            start = page[-1].seq
            average = max(1, sum(len(u.ciphertext) for u in page) // len(page))
            limit = max(1, min(_SYNC_PAGE, _SYNC_PAGE_BYTES // average))

    def resync(self, session: SessionRecord) -> None:
        """Updates this client needs were compacted before it got them: send the
        snapshot and the log after it again (Yjs merges repeats harmlessly)."""
        self._start_sync(session, None, last_sent_seq=0)

    def announce(self, session: SessionRecord) -> None:
        """Tell this client about the document's (new) active session, then sync it."""
        self.protocol.session_changed(session.session_id)
        if self.announced == session.session_id:
            return
        self.announced = session.session_id
        self.sync_generation += 1
        self.outbound.begin_sync(session.start_seq)
        self.outbound.syncing = False
        self._history(server_frames.new_session(session))
        self._start_sync(session, None)

    # -- messages ------------------------------------------------------------------
    def _hub(self) -> DocumentHub:
        if self.hub is None:
            raise ProtocolError("replaced", "this connection was replaced")
        return self.hub

    async def _on_update(self, message: Update) -> None:
        """Check the quotas, then store in the background: updates that arrive while a
        batch is being stored form the next batch (one transaction, consecutive seqs in
        the order received), so a fast typist does not wait a round-trip per keystroke."""
        hub = self._hub()
        state = self.state
        nbytes = len(message.data)
        api_key_bytes = None
        if state.write_limits.max_api_key_bytes:
            api_key_bytes = await self._api_key_bytes(hub.api_key)
        error = check_write(
            nbytes,
            log_length=hub.log_length + hub.queued,
            document_bytes=hub.stored_bytes + hub.queued_bytes,
            api_key_bytes=api_key_bytes,
            limits=state.write_limits,
            document_rate=hub.write_rate,
            api_key_rate=state.api_key_rate(hub.api_key),
        )
        if error is not None:
            if error.code == "storage_quota_exceeded":
                hub.ask_for_snapshot(0, everyone=True)
            raise error
        hub.queued += 1
        hub.queued_bytes += nbytes
        self._batch.append(message)
        if self._flusher is None or self._flusher.done():
            hub.inflight += 1
            # Queue the first append now rather than when the task first runs: the
            # store starts on it one loop turn earlier.
            append = self._take_append()
            if hub.write_gate.try_acquire(append.nbytes):
                self._submit(hub, append)
            self._flusher = asyncio.create_task(self._store_batches(hub, append))
            self._flusher.add_done_callback(self._flusher_done)
        elif len(self._batch) >= _PIPELINE:
            await asyncio.wait({self._flusher})  # back-pressure: stop reading meanwhile

    async def _api_key_bytes(self, api_key: str) -> int:
        known = self.state.stored_bytes.known(api_key)
        if known is None:
            try:
                known = await self.state.store.api_key_stored_bytes(api_key)
            except StorageError as exc:
                raise ProtocolError("storage_unavailable", exc.message) from None
            self.state.stored_bytes.set(api_key, known)
        return known

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ProtocolError):
            self.fail(exc)
        elif exc is not None:
            log.error("internal error storing updates", exc_info=exc)
            self.fail(ProtocolError("internal_error", "internal server error"))

    def _take_append(self) -> _Append:
        """The next batch: consecutive updates of one session, bounded in number and
        bytes (one larger update goes alone)."""
        session_id = self._batch[0].session_id
        batch: list[Update] = []
        nbytes = 0
        while (
            self._batch
            and len(batch) < _PIPELINE
            and self._batch[0].session_id == session_id
            and (not batch or nbytes + len(self._batch[0].data) <= _BATCH_BYTES)
        ):
            message = self._batch.popleft()
            batch.append(message)
            nbytes += len(message.data)
        return _Append(batch, nbytes)

    def _submit(self, hub: DocumentHub, append: _Append) -> None:
        """Hand a batch (its write-gate bytes held) to the store."""
        append.holds_gate = True
        append.started = time.perf_counter()
        append.future = self.state.store.start_append_updates(
            hub.api_key,
            hub.document_id,
            append.batch[0].session_id,
            self.client_id,
            self.user_id,
            [(m.counter, m.data) for m in append.batch],
            lambda results: self._stored(hub, append, results),
        )
        append.future.add_done_callback(lambda _f: append.settle(hub))

    async def _store_batches(self, hub: DocumentHub, append: _Append | None) -> None:
        try:
            while append is not None or self._batch:
                if append is None:
                    append = self._take_append()
                if append.future is None:
                    await hub.write_gate.acquire(append.nbytes)
                    self._submit(hub, append)
                assert append.future is not None
                try:
                    await append.future  # relayed and acked by _stored, in the commit's turn
                except StaleSession as exc:
                    raise await self._stale(hub, exc) from None
                except ClientIdTaken:
                    raise ProtocolError(
                        "client_id_taken",
                        "this client id is in use by another user; use a random client id",
                    ) from None
                except StorageError as exc:
                    raise ProtocolError(
                        "storage_unavailable", f"the update could not be stored: {exc.message}"
                    ) from None
                finally:
                    append.settle(hub)
                append = None
        finally:
            if append is not None:
                append.settle(hub)
            for message in self._batch:  # not stored: the client re-sends them
                hub.queued -= 1
                hub.queued_bytes -= len(message.data)
            self._batch.clear()
            hub.inflight -= 1
            if self.hub is None:
                self.state.hubs.release(hub)

    def _stored(
        self, hub: DocumentHub, append: _Append, results: list[AppendResult]
    ) -> Callable[[], None]:
        """A batch is durable: relay its new updates and ack each one. Runs on the loop
        in the turn the commit is reported in (``Store.start_append_updates``); the hub's
        run is flushed once every append of that commit has been relayed, so one group
        commit goes out as one write per receiver."""
        append.settle(hub)
        state = self.state
        elapsed = time.perf_counter() - append.started
        hub.last_write_at = time.monotonic()
        metrics = state.metrics
        client_id, user_id = self.client_id, self.user_id
        for message, result in zip(append.batch, results, strict=True):
            metrics.storage_latency(elapsed)
            metrics.updates_in += 1
            if not result.duplicate:
                hub.stored_bytes += len(message.data)
                state.stored_bytes.add(hub.api_key, len(message.data))
                hub.publish(
                    result.seq,
                    server_frames.update(
                        result.seq,
                        message.session_id,
                        client_id,
                        message.counter,
                        user_id,
                        message.data,
                    ),
                    self,
                )
                metrics.updates_out += len(hub.members) - 1
            self.deliver(server_frames.ack(message.counter, result.seq, result.duplicate))
        metrics.fanout(time.perf_counter() - append.started)
        if self.hub is not None:
            hub.ask_for_snapshot(
                self.settings.snapshot_threshold,
                prefer=self,
                log_cap=self.settings.max_log_updates or None,
            )
        return hub.flush_if_idle

    def _on_presence(self, message: Presence) -> None:
        hub = self._hub()
        data = b64(message.data)
        hub.broadcast(
            server_frames.presence(self.client_id, self.user_id, data), exclude=self, ephemeral=True
        )
        if self.state.cluster is not None:
            self.state.cluster.presence(hub, self.client_id, self.user_id, data)

    def _prune_before(self) -> float | None:
        """The start of the retention window (None: history is kept forever)."""
        days = self.settings.history_days
        return time.time() - days * 86400.0 if days > 0 else None

    async def _on_snapshot(self, message: Snapshot) -> None:
        hub = self._hub()
        try:
            version = await self.state.store.store_snapshot(
                hub.api_key,
                hub.document_id,
                message.session_id,
                message.seq,
                message.data,
                kind=message.kind,
                name=message.name,
                prune_before=self._prune_before(),
            )
        except StaleSession as exc:
            raise await self._stale(hub, exc) from None
        except SnapshotRejected as exc:
            self.deliver(server_frames.snapshot_ack(message.seq, False, exc.message))
            return
        except StorageError as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        hub.snapshot_stored(message.seq, len(message.data))
        hub.checkpoint_at = time.monotonic()
        with contextlib.suppress(StorageError):
            info = await self.state.store.document_info(hub.api_key, hub.document_id)
            if info is not None:
                hub.stored_bytes = info.stored_bytes
        self.deliver(server_frames.snapshot_ack(message.seq, True, version=version.number))

    # -- version history (docs/protocol.md, "Version history") --------------------------
    async def _on_history(self, request: HistoryRequest) -> None:
        hub = self._hub()
        store = self.state.store
        try:
            if isinstance(request, ListVersions):
                page = await store.list_versions(
                    hub.api_key, hub.document_id, before=request.before, limit=request.limit + 1
                )
                more = len(page) > request.limit
                page = page[: request.limit]
                sessions = await store.get_sessions(
                    hub.api_key, hub.document_id, [v.session_id for v in page]
                )
                self.deliver(server_frames.versions(request.id, page, sessions, more))
            elif isinstance(request, GetVersion):
                record = await store.get_version(hub.api_key, hub.document_id, request.number)
                if record is None:
                    self.deliver(
                        server_frames.request_failed(
                            request.id,
                            "unknown_version",
                            f"version {request.number} does not "
                            "exist (never created, or older than the retention window)",
                        )
                    )
                    return
                found = await store.get_sessions(hub.api_key, hub.document_id, [record.session_id])
                self.deliver(server_frames.version(request.id, record, found[0] if found else None))
            elif isinstance(request, GetUpdates):
                await self._send_history_updates(hub, request)
        except StorageError as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None

    async def _send_history_updates(self, hub: DocumentHub, request: GetUpdates) -> None:
        upto = min(request.upto, hub.head)
        page = []
        if upto > request.after:  # bounded in number and in bytes (invariant 9)
            page = await self.state.store.updates_between(
                hub.api_key,
                hub.document_id,
                request.after,
                upto,
                request.limit,
                max_bytes=_SYNC_PAGE_BYTES,
            )
        more = bool(page) and page[-1].seq < upto
        sessions = await self.state.store.get_sessions(
            hub.api_key, hub.document_id, [u.session_id for u in page]
        )
        self.deliver(server_frames.history_updates(request.id, page, sessions, more))

    async def _on_create_session(self, message: CreateSession) -> None:
        hub = self._hub()
        active = hub.session.session_id if hub.session else None
        if active != message.replaces:
            self.deliver(server_frames.session_rejected(message.session_id, "exists"))
            if hub.session is not None:
                self.announce(hub.session)
            return
        proposed = SessionRecord(
            session_id=message.session_id,
            key_hint=message.key_hint,
            salt=message.salt,
            iterations=message.iterations,
            wrapped_key=message.wrapped_key,
            creator=self.user_id,
            created_at=time.time(),
        )
        hub.inflight += 1
        try:
            result = await self.state.store.create_session(
                hub.api_key,
                hub.document_id,
                proposed,
                message.snapshot,
                replaces=message.replaces,
                at_seq=message.seq,
                prune_before=self._prune_before(),
            )
        except StorageUnavailable as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        except StorageError as exc:
            raise ProtocolError("session_conflict", exc.message) from None
        finally:
            hub.inflight -= 1
        if result.created:
            hub.session_started(result.session)
            hub.stored_bytes += len(message.snapshot)  # the history stays (issue 12)
            self.announced = result.session.session_id
            self.protocol.session_changed(result.session.session_id)
            self.outbound.last_sent_seq = result.session.start_seq
            self.deliver(server_frames.session_created(message.session_id, result.version))
            for member in list(hub.members.values()):
                if member is not self:
                    member.announce(result.session)
        else:
            if hub.session is None or hub.session.session_id != result.session.session_id:
                hub.session_started(result.session)
            behind = result.session.session_id == message.replaces
            self.deliver(
                server_frames.session_rejected(message.session_id, "behind" if behind else "exists")
            )
            self.announce(result.session)
        if self.hub is None:
            self.state.hubs.release(hub)

    async def _on_token(self, token: str) -> None:
        assert self.hello is not None
        identity = await self._verify(self.hello.api_key, token, self.hello.document_id)
        self.deliver(
            self.protocol.token_refreshed(
                Credentials(identity.user_id, identity.role, identity.expires_at)
            )
        )
        self.token = token
        self.role = identity.role

    async def _stale(self, hub: DocumentHub, exc: StaleSession) -> ProtocolError:
        """A write named a session that is not active: ``document_deleted`` when the
        document is gone (deleted meanwhile, perhaps by another process), else
        ``stale_session``."""
        if not hub.deleted:
            with contextlib.suppress(StorageError):
                if await self.state.store.active_session(*hub.key) is None:
                    close_deleted_document(self.state, *hub.key, hub)
                    hub.deleted = True
        return document_deleted() if hub.deleted else ProtocolError("stale_session", exc.message)

    # -- revocation ----------------------------------------------------------------
    async def reverify(self) -> None:
        """The API key's keys changed: close this connection if its token no longer
        verifies (key removed, API key deleted)."""
        if self.hello is None or self.protocol.is_closed:
            return
        try:
            await self.state.verifier.verify(
                self.hello.api_key, self.token, document_id=self.hello.document_id
            )
        except AuthError as exc:
            self.fail(_auth_error(exc))


# Frames above this multiple of max_frame_bytes are cut by the WebSocket layer itself
# (close 1009, no error frame); between 1x and 2x the server reads the frame and answers
# with a ``frame_too_large`` error frame first. Before hello the cut is max_hello_bytes.
TRANSPORT_LIMIT_FACTOR = 2
