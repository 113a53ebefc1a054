"""DocumentHub: the live state of one open document on this node.

It holds the connected members, the active session, the document version, and
releases broadcasts strictly in sequence order (appends from different members
may finish out of order; receivers always see seq N before N+1).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tandem.storage import SessionRecord, Store

if TYPE_CHECKING:
    from tandem.server.connection import CollabConnection

DocKey = tuple[str, str]  # (api key, document id)


class DocumentHub:
    def __init__(self, key: DocKey) -> None:
        self.key = key
        self.members: dict[str, CollabConnection] = {}
        self.session: SessionRecord | None = None
        self.head = 0
        self.snapshot_seq = 0
        self.snapshot_requested_at = 0.0
        self.inflight = 0
        self.loaded = asyncio.Event()
        self.load_error: BaseException | None = None
        self._next_seq = 1
        self._pending: dict[int, tuple[str, CollabConnection | None]] = {}
        # Members connected to other nodes (shared storage only): client id -> (node, member)
        self.remote_members: dict[str, tuple[str, dict]] = {}
        # Called when an update is missing from the sequence (e.g. a lost notification).
        self.on_gap: Callable[[DocumentHub], None] | None = None

    @property
    def api_key(self) -> str:
        return self.key[0]

    @property
    def document_id(self) -> str:
        return self.key[1]

    async def load(self, store: Store) -> None:
        info = await store.document_info(*self.key)
        if info is not None:
            self.session = info.active_session
            self.head = info.version
            self.snapshot_seq = info.snapshot_seq or 0
        self._next_seq = self.head + 1

    # -- membership ------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def waiting_for(self) -> int | None:
        """The lowest seq held back behind a gap, if any."""
        return min(self._pending) if self._pending else None

    def skip_to(self, seq: int) -> None:
        """Give up on updates before ``seq`` (compacted away); release what follows."""
        self._next_seq = max(self._next_seq, seq)
        self._pending = {s: p for s, p in self._pending.items() if s >= self._next_seq}
        self._release()

    def caret_for_new_member(self) -> int:
        taken = {m.caret for m in self.members.values()}
        taken |= {member.get("caret") for _node, member in self.remote_members.values()}
        for caret in range(1, 9):
            if caret not in taken:
                return caret
        return len(self.members) % 8 + 1

    def broadcast(self, frame: str, *, exclude: CollabConnection | None = None) -> None:
        """Send a frame that is not part of the update sequence (presence, joins)."""
        for member in list(self.members.values()):
            if member is not exclude:
                member.send(frame)

    # -- ordered fan-out of accepted updates -----------------------------------------
    def publish(self, seq: int, frame: str, sender: CollabConnection | None) -> None:
        """Release update ``seq`` to every member but its sender, in sequence order."""
        if seq < self._next_seq:
            return  # already released (e.g. seen through another path)
        self._pending[seq] = (frame, sender)
        self._release()
        if self._pending and self.on_gap is not None:
            self.on_gap(self)

    def _release(self) -> None:
        while self._next_seq in self._pending:
            frame, sender = self._pending.pop(self._next_seq)
            self.head = max(self.head, self._next_seq)
            for member in list(self.members.values()):
                if member is not sender:
                    member.send(frame, seq=self._next_seq)
            self._next_seq += 1

    def session_started(self, session: SessionRecord) -> None:
        """A new session is active from its start_seq; the log restarts there."""
        self.session = session
        self.head = max(self.head, session.start_seq)
        self.snapshot_seq = session.start_seq
        self._pending = {s: p for s, p in self._pending.items() if s > session.start_seq}
        self._next_seq = max(self._next_seq, session.start_seq + 1)

    def needs_snapshot(self, threshold: int) -> bool:
        if self.head - self.snapshot_seq < threshold:
            return False
        return time.monotonic() - self.snapshot_requested_at > 30.0


class HubRegistry:
    """The hubs of the documents open on this node; a hub lives while it has members."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.hubs: dict[DocKey, DocumentHub] = {}
        self.on_gap: Callable[[DocumentHub], None] | None = None
        self.on_open: Callable[[DocumentHub], None] | None = None

    async def open(self, key: DocKey) -> DocumentHub:
        hub = self.hubs.get(key)
        if hub is None:
            hub = DocumentHub(key)
            hub.on_gap = self.on_gap
            self.hubs[key] = hub
            try:
                await hub.load(self.store)
            except BaseException as exc:
                hub.load_error = exc
                self.hubs.pop(key, None)
                raise
            finally:
                hub.loaded.set()
            if self.on_open is not None:
                self.on_open(hub)
        else:
            await hub.loaded.wait()
            if hub.load_error is not None:
                return await self.open(key)
        return hub

    def release(self, hub: DocumentHub) -> None:
        if not hub.members and hub.inflight == 0 and self.hubs.get(hub.key) is hub:
            del self.hubs[hub.key]

    @property
    def connection_count(self) -> int:
        return sum(len(h.members) for h in self.hubs.values())
