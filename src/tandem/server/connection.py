"""One collaborator's WebSocket: hello and authentication, then the message loop.

Two tasks per connection: this receive loop, and a sender draining an outbound
queue so that a slow reader never stalls the hub's fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from tandem.auth import AuthError, Identity
from tandem.protocol.errors import ProtocolError
from tandem.protocol.messages import (
    CreateSession,
    Hello,
    Presence,
    Snapshot,
    TokenRefresh,
    Update,
    b64,
    batch_frame,
    encode,
    parse_client_message,
)
from tandem.server.rate_limit import TokenBucket
from tandem.storage import (
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

_CLOSE = object()
_SYNC_PAGE = 1000
_MAX_BATCH_FRAMES = 256
# The pause grows with the document's audience: fan-out work grows with its square.
_BATCH_INTERVAL = 0.010  # seconds, at most
_BATCH_INTERVAL_PER_MEMBER = 0.00005
_PIPELINE = 64  # updates of one connection stored per transaction, at most


def session_json(session: SessionRecord) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "key_hint": session.key_hint,
        "salt": b64(session.salt),
        "iterations": session.iterations,
        "wrapped_key": b64(session.wrapped_key),
        "creator": session.creator,
        "start_seq": session.start_seq,
    }


class CollabConnection:
    def __init__(self, websocket: WebSocket, state: ServerState) -> None:
        self.ws = websocket
        self.state = state
        self.settings = state.settings
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.hub: DocumentHub | None = None
        self.identity: Identity | None = None
        self.hello: Hello | None = None
        self.caret = 0
        self.announced: str | None = None  # session id this client was told about
        self.batching = False  # set from hello: the client accepts ``batch`` frames
        self.sync_generation = 0
        self.syncing = False
        self._held: list[tuple[str, int | None]] = []
        self._last_sent_seq = 0
        self._closing = False
        self._sender: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._batch: list[Update] = []
        self._flusher: asyncio.Task[None] | None = None
        settings = self.settings
        self.messages = TokenBucket(settings.messages_per_second, settings.message_burst)
        self.presence = TokenBucket(settings.presence_per_second, settings.presence_per_second * 2)

    # -- outbound ----------------------------------------------------------------------
    def send(self, frame: str, *, seq: int | None = None) -> None:
        """Queue a frame. While a sync is running, live frames are held back and
        released after it, so the client sees snapshot, history, then live updates."""
        if self._closing:
            return
        if self.syncing:
            self._held.append((frame, seq))
            return
        self._enqueue(frame, seq)

    def _enqueue(self, frame: str, seq: int | None) -> None:
        if seq is not None:
            if seq <= self._last_sent_seq:
                return  # the sync already delivered it
            self._last_sent_seq = seq
        if self.queue.qsize() >= self.settings.send_queue_limit:
            self.fail(ProtocolError(
                "slow_consumer", "the client is not reading its messages fast enough"))
            return
        self.queue.put_nowait(frame)

    def send_message(self, message: dict[str, Any], *, seq: int | None = None) -> None:
        self.send(encode(message), seq=seq)

    def fail(self, error: ProtocolError) -> None:
        """Send an error frame, then close with the error's close code."""
        if self._closing:
            return
        self._closing = True
        frame = {"type": "error", "code": error.code, "message": error.message,
                 "close": error.close_code}
        if error.detail:
            frame["detail"] = error.detail
        self.queue.put_nowait(encode(frame))
        self.queue.put_nowait((_CLOSE, error.close_code))
        self.state.metrics.error(error.code)

    async def _send_loop(self) -> None:
        """Drain the outbound queue. When frames pile up and the client accepts it,
        send them as one ``batch`` frame: per-frame overhead is what limits fan-out to
        many clients, not bytes."""
        queue = self.queue
        loop = asyncio.get_running_loop()
        last_send = 0.0
        try:
            while True:
                frames = [await queue.get()]
                if self.batching:
                    # Under a stream of frames, send at most every _BATCH_INTERVAL: a
                    # busy document costs a few sends per client, not one per update.
                    # An occasional frame still leaves at once.
                    hub = self.hub
                    interval = min(_BATCH_INTERVAL, _BATCH_INTERVAL_PER_MEMBER *
                                   (len(hub.members) if hub is not None else 0))
                    wait = last_send + interval - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    while not queue.empty() and len(frames) < _MAX_BATCH_FRAMES:
                        frames.append(queue.get_nowait())
                    last_send = loop.time()
                closing = next((f for f in frames if isinstance(f, tuple)), None)
                texts = [f for f in frames if not isinstance(f, tuple)]
                if len(texts) == 1:
                    await self.ws.send_text(texts[0])
                elif texts:
                    await self.ws.send_text(batch_frame(texts))
                if closing is not None:
                    with contextlib.suppress(Exception):
                        await self.ws.close(closing[1])
                    return
        except Exception:  # the peer went away; the receive loop will notice
            self._closing = True

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self) -> None:
        await self.ws.accept()
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
            if not self._closing:
                self._closing = True
                self.queue.put_nowait((_CLOSE, 1000))
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._sender, timeout=5)
            if not self._sender.done():
                self._sender.cancel()

    async def _receive(self, timeout: float | None) -> str | bytes | None:
        try:
            message = await asyncio.wait_for(self.ws.receive(), timeout)
        except TimeoutError:
            raise
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("text")
        if data is None:
            data = message.get("bytes")
        if data is None:
            return b""
        if len(data) > self.settings.max_frame_bytes:
            raise ProtocolError(
                "frame_too_large",
                f"frame of {len(data)} bytes exceeds the limit of "
                f"{self.settings.max_frame_bytes} bytes",
            )
        return data

    def _parse(self, raw: str | bytes):
        return parse_client_message(raw, max_bytes=self.settings.max_frame_bytes)

    async def _serve(self) -> None:
        try:
            raw = await self._receive(self.settings.hello_timeout)
        except TimeoutError:
            raise ProtocolError("hello_timeout", "no hello message within "
                                f"{self.settings.hello_timeout:g} seconds") from None
        if raw is None:
            return
        hello = self._parse(raw)
        if not isinstance(hello, Hello):
            raise ProtocolError("protocol_violation", "the first message must be hello")
        await self._authenticate(hello)
        await self._join(hello)
        while not self._closing:
            timeout = self._token_time_left()
            try:
                raw = await self._receive(timeout)
            except TimeoutError:
                raise ProtocolError("jwt", "JWT has expired", detail="expired") from None
            if raw is None or self._closing:
                return
            if not self.messages.take():
                raise ProtocolError(
                    "rate_limited",
                    f"more than {self.settings.messages_per_second:g} messages per second",
                )
            await self._dispatch(self._parse(raw))

    def _token_time_left(self) -> float:
        assert self.identity is not None
        return max(0.0, self.identity.expires_at + self.settings.leeway - time.time())

    # -- hello -------------------------------------------------------------------------
    async def _verify(self, api_key: str, token: str, document_id: str) -> Identity:
        try:
            return await self.state.verifier.verify(api_key, token, document_id=document_id)
        except AuthError as exc:
            code = "forbidden_document" if exc.code == "wrong_document" else "jwt"
            raise ProtocolError(code, exc.message, detail=exc.code) from None

    async def _authenticate(self, hello: Hello) -> None:
        self.identity = await self._verify(hello.api_key, hello.token, hello.document_id)
        try:
            record = await self.state.store.get_api_key(hello.api_key)
        except StorageError as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        if record is None:
            raise ProtocolError("jwt", "Unable to retrieve JWK set", detail="jwks_unavailable")
        origin = self.ws.headers.get("origin")
        if record.origins and origin is not None and origin not in record.origins:
            raise ProtocolError(
                "origin_not_allowed",
                f"origin {origin} is not allowed for this API key",
            )
        self.hello = hello
        self.batching = hello.batch

    async def _join(self, hello: Hello) -> None:
        registry = self.state.hubs
        try:
            hub = await registry.open((hello.api_key, hello.document_id))
        except StorageError as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        previous = hub.members.get(hello.client_id)
        if previous is None and len(hub.members) >= self.settings.max_connections_per_document:
            registry.release(hub)
            raise ProtocolError(
                "too_many_connections",
                f"the document already has {len(hub.members)} connections (the limit)",
            )
        if previous is not None:
            previous.fail(ProtocolError(
                "replaced", "the same client connected again; this connection is replaced"))
            previous._leave()
        self.hub = hub
        self.caret = hub.caret_for_new_member()
        others = [m.member_json() for m in hub.members.values()]
        others += [member for _node, member in hub.remote_members.values()]
        hub.members[hello.client_id] = self
        self.state.metrics.connections += 1
        assert self.identity is not None
        self.send_message({
            "type": "welcome",
            "protocol": hello.protocol,
            "user_id": self.identity.user_id,
            "role": self.identity.role,
            "client_id": hello.client_id,
            "caret": self.caret,
            "version": hub.head,
            "session": session_json(hub.session) if hub.session else None,
            "clients": others,
            "token_expires_at": self.identity.expires_at,
            "limits": {
                "max_frame_bytes": self.settings.max_frame_bytes,
                "messages_per_second": self.settings.messages_per_second,
                "presence_per_second": self.settings.presence_per_second,
            },
        })
        hub.broadcast(encode({"type": "client_joined", **self.member_json()}), exclude=self)
        if self.state.cluster is not None:
            self.state.cluster.member_joined(hub, self.member_json())
        if hub.session is not None:
            self.announced = hub.session.session_id
            self._start_sync(hub.session, hello.last_seq if
                             hello.session_id == hub.session.session_id else None)

    def member_json(self) -> dict[str, Any]:
        assert self.hello is not None and self.identity is not None
        return {
            "user_id": self.identity.user_id,
            "client_id": self.hello.client_id,
            "caret": self.caret,
            "client_info": self.hello.client_info,
            "role": self.identity.role,
        }

    def _leave(self) -> None:
        hub, self.hub = self.hub, None
        if hub is None or self.hello is None:
            return
        if hub.members.get(self.hello.client_id) is self:
            del hub.members[self.hello.client_id]
            self.state.metrics.connections -= 1
            hub.broadcast(encode({"type": "client_left", **self.member_json()}))
            if self.state.cluster is not None:
                self.state.cluster.member_left(hub, self.member_json())
        self.state.hubs.release(hub)

    # -- sync --------------------------------------------------------------------------
    def _start_sync(self, session: SessionRecord, last_seq: int | None) -> None:
        self.sync_generation += 1
        self.syncing = True
        task = asyncio.create_task(self._sync(session, last_seq, self.sync_generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sync(self, session: SessionRecord, last_seq: int | None, generation: int) -> None:
        """Send the snapshot (unless the client's last_seq makes it unnecessary), the
        updates after it, then what arrived live meanwhile, then ``synced``."""
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
                    self._enqueue(encode({
                        "type": "snapshot", "session_id": session.session_id,
                        "seq": snapshot.seq, "data": b64(snapshot.ciphertext),
                    }), None)
                self._last_sent_seq = max(self._last_sent_seq, start)
                if await self._send_log_after(key, start, generation):
                    break
                last_seq = None
            if generation != self.sync_generation:
                return
            start = self._last_sent_seq
        except StorageError as exc:
            self.fail(ProtocolError("storage_unavailable", exc.message))
            return
        held, self._held = self._held, []
        self.syncing = False
        for frame, seq in held:
            self._enqueue(frame, seq)
        self._enqueue(encode({"type": "synced", "session_id": session.session_id,
                              "version": max(self._last_sent_seq, start)}), None)

    async def _send_log_after(self, key: tuple[str, str], start: int, generation: int) -> bool:
        """Send the stored updates after ``start``; False if some were compacted away."""
        while True:
            page = await self.state.store.updates_after(*key, start, limit=_SYNC_PAGE)
            if generation != self.sync_generation:
                return True
            if page and page[0].seq != start + 1:
                return False
            for update in page:
                self._enqueue(self._update_frame(update.seq, update.session_id,
                                                 update.client_id, update.counter,
                                                 update.user_id, update.ciphertext), update.seq)
            if len(page) < _SYNC_PAGE:
                return True
            start = page[-1].seq

    @staticmethod
    def _update_frame(seq: int, session_id: str, client_id: str, counter: int, user_id: str,
                      data: bytes) -> str:
        return encode({
            "type": "update", "seq": seq, "session_id": session_id, "client_id": client_id,
            "counter": counter, "user_id": user_id, "data": b64(data),
        })

    def resync(self, session: SessionRecord) -> None:
        """Updates this client needs were compacted before it got them: send the
        snapshot and the log after it again (Yjs merges repeats harmlessly)."""
        self.sync_generation += 1
        self._held = []
        self.syncing = False
        self._last_sent_seq = 0  # send the whole retained log again, not just what is new
        self._start_sync(session, None)

    def announce(self, session: SessionRecord) -> None:
        """Tell this client about the document's (new) active session, then sync it."""
        if self.announced == session.session_id:
            return
        self.announced = session.session_id
        self.sync_generation += 1
        self._held = []
        self.syncing = False
        self._last_sent_seq = session.start_seq
        self.send_message({"type": "new_session", "session": session_json(session)})
        self._start_sync(session, None)

    # -- messages ----------------------------------------------------------------------
    def _require_editor(self, what: str) -> None:
        assert self.identity is not None
        if self.identity.role != "editor":
            raise ProtocolError("read_only", f"a viewer token cannot {what}")

    async def _dispatch(self, message: object) -> None:
        if isinstance(message, Update):
            await self._on_update(message)
        elif isinstance(message, Presence):
            self._on_presence(message)
        elif isinstance(message, Snapshot):
            await self._on_snapshot(message)
        elif isinstance(message, CreateSession):
            await self._on_create_session(message)
        elif isinstance(message, TokenRefresh):
            await self._on_token(message)
        else:
            raise ProtocolError("protocol_violation", "hello was already received")

    def _hub(self) -> DocumentHub:
        if self.hub is None:
            raise ProtocolError("replaced", "this connection was replaced")
        return self.hub

    async def _on_update(self, message: Update) -> None:
        """Validate now, store in the background: updates that arrive while a batch is
        being stored form the next batch (one transaction, consecutive seqs in the
        order received), so a fast typist does not wait a round-trip per keystroke."""
        self._require_editor("send updates")
        hub = self._hub()
        if hub.session is None or message.session_id != hub.session.session_id:
            raise ProtocolError(
                "stale_session",
                "the update names a session that is not the document's active session",
            )
        self._batch.append(message)
        if self._flusher is None or self._flusher.done():
            hub.inflight += 1
            self._flusher = asyncio.create_task(self._store_batches(hub))
            self._flusher.add_done_callback(self._flusher_done)
        elif len(self._batch) >= _PIPELINE:
            await asyncio.wait({self._flusher})  # back-pressure: stop reading meanwhile

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ProtocolError):
            self.fail(exc)
        elif exc is not None:
            log.error("internal error storing updates", exc_info=exc)
            self.fail(ProtocolError("internal_error", "internal server error"))

    async def _store_batches(self, hub: DocumentHub) -> None:
        assert self.identity is not None and self.hello is not None
        client_id, user_id = self.hello.client_id, self.identity.user_id
        try:
            while self._batch:
                session_id = self._batch[0].session_id
                count = 0
                while (count < len(self._batch) and count < _PIPELINE
                       and self._batch[count].session_id == session_id):
                    count += 1
                batch, self._batch = self._batch[:count], self._batch[count:]
                started = time.perf_counter()
                try:
                    results = await self.state.store.append_updates(
                        hub.api_key, hub.document_id, session_id, client_id, user_id,
                        [(m.counter, m.data) for m in batch])
                except StaleSession as exc:
                    raise ProtocolError("stale_session", exc.message) from None
                except StorageError as exc:
                    raise ProtocolError("storage_unavailable",
                                        f"the update could not be stored: {exc.message}") from None
                elapsed = time.perf_counter() - started
                metrics = self.state.metrics
                for message, result in zip(batch, results, strict=True):
                    metrics.storage_latency(elapsed)
                    metrics.updates_in += 1
                    if not result.duplicate:
                        hub.publish(result.seq, self._update_frame(
                            result.seq, session_id, client_id, message.counter, user_id,
                            message.data), self)
                        metrics.updates_out += len(hub.members) - 1
                    self.send_message({"type": "ack", "counter": message.counter,
                                       "seq": result.seq, "duplicate": result.duplicate})
                metrics.fanout(time.perf_counter() - started)
                if self.hub is not None and hub.needs_snapshot(self.settings.snapshot_threshold):
                    hub.snapshot_requested_at = time.monotonic()
                    self.send_message({"type": "snapshot_request", "seq": hub.head})
        finally:
            hub.inflight -= 1
            if self.hub is None:
                self.state.hubs.release(hub)

    def _on_presence(self, message: Presence) -> None:
        if not self.presence.take():
            return  # presence is ephemeral: excess is dropped, not an error
        assert self.identity is not None and self.hello is not None
        hub = self._hub()
        hub.broadcast(encode({
            "type": "presence", "client_id": self.hello.client_id,
            "user_id": self.identity.user_id, "data": b64(message.data),
        }), exclude=self)
        if self.state.cluster is not None:
            self.state.cluster.presence(hub, self.hello.client_id, self.identity.user_id,
                                        message.data)

    async def _on_snapshot(self, message: Snapshot) -> None:
        self._require_editor("upload snapshots")
        hub = self._hub()
        try:
            await self.state.store.store_snapshot(
                hub.api_key, hub.document_id, message.session_id, message.seq, message.data,
                retain_updates=self.settings.retain_updates,
            )
        except StaleSession as exc:
            raise ProtocolError("stale_session", exc.message) from None
        except SnapshotRejected as exc:
            self.send_message({"type": "snapshot_ack", "seq": message.seq, "accepted": False,
                               "message": exc.message})
            return
        except StorageError as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        hub.snapshot_seq = max(hub.snapshot_seq, message.seq)
        hub.snapshot_requested_at = 0.0
        self.send_message({"type": "snapshot_ack", "seq": message.seq, "accepted": True})

    async def _on_create_session(self, message: CreateSession) -> None:
        self._require_editor("create sessions")
        hub = self._hub()
        assert self.identity is not None
        if message.iterations < self.settings.pbkdf2_min_iterations:
            raise ProtocolError(
                "bad_frame",
                f"'iterations' must be at least {self.settings.pbkdf2_min_iterations}",
            )
        active = hub.session.session_id if hub.session else None
        if active != message.replaces:
            self.send_message({"type": "session_rejected", "session_id": message.session_id,
                               "reason": "exists"})
            if hub.session is not None:
                self.announce(hub.session)
            return
        proposed = SessionRecord(
            session_id=message.session_id, key_hint=message.key_hint, salt=message.salt,
            iterations=message.iterations, wrapped_key=message.wrapped_key,
            creator=self.identity.user_id, created_at=time.time(),
        )
        hub.inflight += 1
        try:
            result = await self.state.store.create_session(
                hub.api_key, hub.document_id, proposed, message.snapshot,
                replaces=message.replaces, at_seq=message.seq,
            )
        except StorageUnavailable as exc:
            raise ProtocolError("storage_unavailable", exc.message) from None
        except StorageError as exc:
            raise ProtocolError("session_conflict", exc.message) from None
        finally:
            hub.inflight -= 1
        if result.created:
            hub.session_started(result.session)
            self.announced = result.session.session_id
            self._last_sent_seq = result.session.start_seq
            self.send_message({"type": "session_created", "session_id": message.session_id,
                               "version": result.version})
            for member in list(hub.members.values()):
                if member is not self:
                    member.announce(result.session)
        else:
            if hub.session is None or hub.session.session_id != result.session.session_id:
                hub.session_started(result.session)
            behind = result.session.session_id == message.replaces
            self.send_message({"type": "session_rejected", "session_id": message.session_id,
                               "reason": "behind" if behind else "exists"})
            self.announce(result.session)
        if self.hub is None:
            self.state.hubs.release(hub)

    async def _on_token(self, message: TokenRefresh) -> None:
        assert self.hello is not None and self.identity is not None
        identity = await self._verify(self.hello.api_key, message.token, self.hello.document_id)
        if identity.user_id != self.identity.user_id:
            raise ProtocolError("jwt", "a refreshed token must be for the same user (sub)",
                                detail="user_changed")
        self.identity = identity
        self.send_message({"type": "token_accepted", "expires_at": identity.expires_at,
                           "role": identity.role})
