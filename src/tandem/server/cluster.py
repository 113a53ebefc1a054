"""ClusterRelay: makes the nodes that share one PostgreSQL database act as one server.

Every node LISTENs to the store's events (typed in ``cluster_events``). An update
committed on node A is announced inside its transaction; node B releases it to its
own members in sequence order (reading the row when the notification did not carry
it). New sessions, snapshots, presence and joins travel the same way. A lost listen
connection is followed by a resync that reads what may have been missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from tandem.protocol import server_frames
from tandem.server.cluster_events import (
    ClusterEvent,
    DocumentDeleted,
    Heartbeat,
    MemberInfo,
    MemberJoined,
    MemberLeft,
    PresenceRelayed,
    Resync,
    SessionCreated,
    SnapshotStored,
    UpdateCommitted,
    UpdatesCommitted,
    WhoIsThere,
    parse_event,
    parse_member,
)
from tandem.server.deletion import close_deleted_document
from tandem.server.hub import DocumentHub
from tandem.server.state import ServerState
from tandem.storage import StorageError, UpdateRecord

log = logging.getLogger("tandem.cluster")

HEARTBEAT_SECONDS = 10.0
NODE_TIMEOUT_SECONDS = 30.0
GAP_WAIT_SECONDS = 0.3
PRESENCE_NOTIFY_LIMIT = 5000  # NOTIFY payloads are small by design


class ClusterRelay:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.store = state.store
        self.node = state.store.node_id
        self.nodes_seen: dict[str, float] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._gap_checks: set[tuple[str, str]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self.malformed = 0

    @property
    def enabled(self) -> bool:
        return self.store.shared

    async def start(self) -> None:
        hubs = self.state.hubs
        # Gaps are filled from storage on any engine (a single node can see one too,
        # when an append's coroutine is cancelled after its commit).
        hubs.on_gap = self._on_gap
        if not self.enabled:
            return
        hubs.on_open = lambda hub: self.send(WhoIsThere(hub.api_key, hub.document_id))
        hubs.on_joined = self.member_joined
        hubs.on_left = self.member_left
        await self.store.listen(self.handle)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop())

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, StorageError):
                log.error("cluster task failed", exc_info=exc)

    # -- what this node tells the others -------------------------------------------
    def send(self, event: ClusterEvent) -> None:
        if self.enabled:
            self._spawn(self.store.notify(event.to_wire()))

    def member_joined(self, hub: DocumentHub, member: dict[str, Any]) -> None:
        info = self._member_info(member)
        if info is not None:
            self.send(MemberJoined(hub.api_key, hub.document_id, info))

    def member_left(self, hub: DocumentHub, member: dict[str, Any]) -> None:
        info = self._member_info(member)
        if info is not None:
            self.send(MemberLeft(hub.api_key, hub.document_id, info))

    @staticmethod
    def _member_info(member: dict[str, Any]) -> MemberInfo | None:
        """A local member's object, checked as the other nodes will check it (they would
        drop it as malformed: it is not sent)."""
        info = parse_member(member)
        if info is None:
            log.warning("not announcing a malformed member object to the other nodes")
        return info

    def presence(self, hub: DocumentHub, client_id: str, user_id: str, data_b64: str) -> None:
        if len(data_b64) < PRESENCE_NOTIFY_LIMIT:
            self.send(PresenceRelayed(hub.api_key, hub.document_id, client_id, user_id, data_b64))

    async def _heartbeat_loop(self) -> None:
        while True:
            with contextlib.suppress(StorageError):
                await self.store.notify(Heartbeat().to_wire())
            self._forget_silent_nodes()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def _forget_silent_nodes(self) -> None:
        now = time.monotonic()
        for hub in list(self.state.hubs.hubs.values()):
            for client_id, (node, member) in list(hub.remote_members.items()):
                if now - self.nodes_seen.get(node, now) > NODE_TIMEOUT_SECONDS:
                    del hub.remote_members[client_id]
                    hub.broadcast(server_frames.client_left(member))

    # -- what the others tell this node -----------------------------------------------
    def handle(self, wire: object) -> None:
        """One event from the store's LISTEN connection. Only what ``parse_event``
        checked (types, shapes, document keys a hello could name) is used; anything
        else is counted, logged now and then, and dropped."""
        if isinstance(wire, dict) and wire.get("node") == self.node:
            return  # this node's own event (every commit's): not worth checking in full
        envelope = parse_event(wire)
        if envelope is None:
            self.malformed += 1
            if self.malformed & (self.malformed - 1) == 0:  # 1st, 2nd, 4th, 8th, ...
                log.warning(
                    "ignored %d malformed or unknown cluster event(s), last kind %r",
                    self.malformed,
                    wire.get("k") if isinstance(wire, dict) else None,
                )
            return
        node, event = envelope.node, envelope.event
        if node is not None:
            self.nodes_seen[node] = time.monotonic()
        if isinstance(event, Resync):
            for open_hub in list(self.state.hubs.hubs.values()):
                self._spawn(self._catch_up(open_hub))
            return
        if node == self.node or isinstance(event, Heartbeat):
            return
        hub = self.state.hubs.hubs.get((event.api_key, event.document_id))
        if hub is None or not hub.loaded.is_set():
            return
        if isinstance(event, UpdatesCommitted):
            self._on_updates(hub, event)
        elif isinstance(event, UpdateCommitted):
            self._on_update(hub, event)
        elif isinstance(event, SessionCreated):
            self._spawn(self._adopt_session(hub))
        elif isinstance(event, SnapshotStored):
            hub.snapshot_stored(event.seq)  # stored through another node: not pending here
        elif isinstance(event, PresenceRelayed):
            hub.broadcast(
                server_frames.presence(event.client_id, event.user_id, event.data_b64),
                ephemeral=True,
            )
        elif isinstance(event, MemberJoined):
            self._on_joined(hub, node or "", event.member)
        elif isinstance(event, MemberLeft):
            entry = hub.remote_members.get(event.member.client_id)
            if entry is not None and entry[0] == node:
                del hub.remote_members[event.member.client_id]
                hub.broadcast(server_frames.client_left(event.member.info()))
        elif isinstance(event, WhoIsThere):
            for member in list(hub.members.values()):
                self.member_joined(hub, member.info())
        elif isinstance(event, DocumentDeleted):
            close_deleted_document(self.state, event.api_key, event.document_id)

    def _on_update(self, hub: DocumentHub, event: UpdateCommitted) -> None:
        if hub.session is None or event.session_id != hub.session.session_id:
            self._spawn(self._catch_up(hub))
            return
        if event.data_b64 is None:
            self._spawn(self._fetch_and_publish(hub, event.seq))
            return
        hub.stored_bytes += len(event.data_b64) * 3 // 4
        hub.publish(
            event.seq,
            server_frames.update_from_b64(
                event.seq,
                event.session_id,
                event.client_id,
                event.counter,
                event.user_id,
                event.data_b64,
            ),
            None,
        )
        self.state.metrics.fanout(max(0.0, time.time() - event.time))
        self.state.metrics.updates_out += len(hub.members)

    def _on_updates(self, hub: DocumentHub, event: UpdatesCommitted) -> None:
        if hub.session is None or event.session_id != hub.session.session_id:
            self._spawn(self._catch_up(hub))
            return
        missing: list[int] = []
        for entry in event.entries:
            if entry.data_b64 is None:
                missing.append(entry.seq)
                continue
            hub.stored_bytes += len(entry.data_b64) * 3 // 4
            hub.publish(
                entry.seq,
                server_frames.update_from_b64(
                    entry.seq,
                    event.session_id,
                    entry.client_id,
                    entry.counter,
                    entry.user_id,
                    entry.data_b64,
                ),
                None,
            )
            self.state.metrics.updates_out += len(hub.members)
        if missing:
            self._spawn(self._fetch_range_and_publish(hub, min(missing), max(missing)))
        self.state.metrics.fanout(max(0.0, time.time() - event.time))

    async def _fetch_range_and_publish(self, hub: DocumentHub, first: int, last: int) -> None:
        rows = await self.store.updates_after(
            hub.api_key, hub.document_id, first - 1, limit=last - first + 1
        )
        self._publish_rows(hub, rows)

    def _on_joined(self, hub: DocumentHub, node: str, member: MemberInfo) -> None:
        client_id = member.client_id
        known = client_id in hub.remote_members
        info = member.info()
        hub.remote_members[client_id] = (node, info)
        if not known and client_id not in hub.members:
            hub.broadcast(server_frames.client_joined(info))

    # -- reading what notifications did not carry ------------------------------------
    async def _fetch_and_publish(self, hub: DocumentHub, seq: int) -> None:
        rows = await self.store.updates_after(hub.api_key, hub.document_id, seq - 1, limit=1)
        self._publish_rows(hub, rows)

    def _publish_rows(self, hub: DocumentHub, rows: list[UpdateRecord]) -> None:
        for row in rows:
            hub.publish(
                row.seq,
                server_frames.update(
                    row.seq, row.session_id, row.client_id, row.counter, row.user_id, row.ciphertext
                ),
                None,
            )

    def _on_gap(self, hub: DocumentHub) -> None:
        if hub.key not in self._gap_checks:
            self._gap_checks.add(hub.key)
            self._spawn(self._fill_gap(hub))

    async def _fill_gap(self, hub: DocumentHub) -> None:
        """An update is missing from the sequence: wait briefly (its notification may be
        on the way), then read it; if it was compacted, resync the members."""
        try:
            await asyncio.sleep(GAP_WAIT_SECONDS)
            waiting = hub.waiting_for
            if waiting is None:
                return
            start = hub.next_seq - 1
            rows = await self.store.updates_after(
                hub.api_key, hub.document_id, start, limit=waiting - start - 1
            )
            self._publish_rows(hub, rows)
            if hub.waiting_for is not None and hub.next_seq < hub.waiting_for:
                hub.skip_to(hub.waiting_for)
                self._resync_members(hub)
        finally:
            self._gap_checks.discard(hub.key)

    async def _catch_up(self, hub: DocumentHub) -> None:
        """After a lost listen connection: adopt a newer session, read missed updates."""
        session = await self.store.active_session(hub.api_key, hub.document_id)
        if session is None:
            if hub.session is not None:  # it had one: deleted while we were not listening
                close_deleted_document(self.state, hub.api_key, hub.document_id)
            return
        if hub.session is None or hub.session.session_id != session.session_id:
            await self._adopt_session(hub)
            return
        start = hub.next_seq - 1
        while True:
            rows = await self.store.updates_after(hub.api_key, hub.document_id, start, limit=1000)
            if not rows:
                return
            if rows[0].seq > start + 1:  # compacted meanwhile
                hub.skip_to(rows[0].seq)
                self._resync_members(hub)
            self._publish_rows(hub, rows)
            start = rows[-1].seq

    async def _adopt_session(self, hub: DocumentHub) -> None:
        session = await self.store.active_session(hub.api_key, hub.document_id)
        if session is None or (
            hub.session is not None and hub.session.session_id == session.session_id
        ):
            return
        hub.session_started(session)
        for member in list(hub.members.values()):
            member.announce(session)

    def _resync_members(self, hub: DocumentHub) -> None:
        if hub.session is None:
            return
        for member in list(hub.members.values()):
            member.resync(hub.session)
