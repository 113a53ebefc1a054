"""DocumentHub: the live state of one open document on this node.

The hub alone owns the document's membership: connections join and leave through
``admit``/``leave`` and are reached only through the ``Member`` interface. It holds
the active session and version, and releases broadcasts strictly in sequence order
(appends from different members may finish out of order; receivers always see seq N
before N+1). A hub stays registered while it has members, work in flight, or a
connection between opening it and joining it (a pin), so a member that replaces
another (same client id, e.g. after a network change) never lands on a hub that was
just dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tandem.protocol import server_frames
from tandem.protocol.errors import ProtocolError
from tandem.protocol.server_frames import UpdateFrame
from tandem.server.fanout import ReleasedRun
from tandem.server.member import Member
from tandem.server.quotas import ByteGate, ByteRate
from tandem.storage import SessionRecord, Store

DocKey = tuple[str, str]  # (api key, document id)
WRITE_GATE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MembershipLimits:
    per_document: int = 250
    per_user: int = 8


class DocumentHub:
    def __init__(self, key: DocKey) -> None:
        self.key = key
        self.members: dict[str, Member] = {}
        self.session: SessionRecord | None = None
        self.head = 0
        self.snapshot_seq = 0
        self.snapshot_requested_at = 0.0
        self.snapshot_requested_log = 0  # log length when a snapshot was last requested
        self.snapshot_bytes = 0  # size of the latest snapshot this hub saw stored (0: unknown)
        self.log_bytes = 0  # ciphertext bytes released since then
        self._snapshot_turn = 0  # the editor (index) asked last
        self._snapshot_round = 0  # requests since the last snapshot arrived
        self.last_write_at = time.monotonic()  # an update was stored through this node
        self.checkpoint_at = time.monotonic()  # a checkpoint was stored (or the hub opened)
        self.stored_bytes = 0  # snapshot + log, as last read plus what was appended since
        self.inflight = 0  # tasks storing for this hub (appends, session creation)
        self.queued = 0  # updates accepted for storing, not stored yet
        self.queued_bytes = 0
        self.pins = 0
        self.deleted = False  # the document was deleted (server.deletion): never rejoin
        self.loaded = asyncio.Event()
        self.load_error: BaseException | None = None
        self.write_rate: ByteRate | None = None  # bytes per minute (quota)
        # Fairness between documents: one document's appends in flight are bounded, so a
        # busy document waits behind its own writes, not ahead of everyone else's.
        self.write_gate = ByteGate(WRITE_GATE_BYTES)
        self._next_seq = 1
        self._pending: dict[int, tuple[UpdateFrame, Member | None]] = {}
        self._run: ReleasedRun | None = None  # released, not yet handed to the members
        # Members connected to other nodes (shared storage only): client id -> (node, member)
        self.remote_members: dict[str, tuple[str, dict[str, Any]]] = {}
        # Called when an update is missing from the sequence (e.g. a lost notification).
        self.on_gap: Callable[[DocumentHub], None] | None = None
        # Called with the member object when a member joins / leaves on this node.
        self.on_joined: Callable[[DocumentHub, dict[str, Any]], None] | None = None
        self.on_left: Callable[[DocumentHub, dict[str, Any]], None] | None = None

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
            self.stored_bytes = info.stored_bytes
        self._next_seq = self.head + 1

    @property
    def idle(self) -> bool:
        return not self.members and self.inflight == 0 and self.pins == 0

    # -- membership --------------------------------------------------------------------
    def admit(self, member: Member, limits: MembershipLimits) -> list[dict[str, Any]]:
        """Add ``member``; returns the member objects of everyone else on the document.

        A connection with the same client id and user is replaced (kicked with
        ``replaced``) in the same step; a client id in use by another user is refused,
        as are members over the per-document and per-user limits."""
        self.flush()  # updates released before it joined reach it through its sync
        previous = self.members.get(member.client_id)
        if previous is not None and previous.user_id != member.user_id:
            raise _client_id_taken()
        remote = self.remote_members.get(member.client_id)
        if remote is not None and remote[1].get("user_id") != member.user_id:
            raise _client_id_taken()
        if previous is None:
            if len(self.members) >= limits.per_document:
                raise ProtocolError(
                    "too_many_connections",
                    f"the document already has {len(self.members)} connections (the limit)",
                    retry_after=5.0,
                )
            mine = sum(1 for m in self.members.values() if m.user_id == member.user_id)
            if mine >= limits.per_user:
                raise ProtocolError(
                    "too_many_connections",
                    f"this user already has {mine} connections to the document (the limit)",
                    retry_after=5.0,
                )
        else:
            del self.members[member.client_id]
            previous.kick(
                ProtocolError(
                    "replaced", "the same client connected again; this connection is replaced"
                )
            )
            self._announce_left(previous)
        member.caret = self.caret_for_new_member()
        others = [m.info() for m in self.members.values()]
        others += [
            info
            for _node, info in self.remote_members.values()
            if info.get("client_id") not in self.members
            and info.get("client_id") != member.client_id
        ]
        self.members[member.client_id] = member
        info = member.info()
        self.broadcast(server_frames.client_joined(info), exclude=member)
        if self.on_joined is not None:
            self.on_joined(self, info)
        return others

    def leave(self, member: Member) -> None:
        """Remove ``member`` if it is (still) the member for its client id."""
        if self.members.get(member.client_id) is member:
            del self.members[member.client_id]
            self._announce_left(member)

    def _announce_left(self, member: Member) -> None:
        info = member.info()
        self.broadcast(server_frames.client_left(info))
        if self.on_left is not None:
            self.on_left(self, info)

    def caret_for_new_member(self) -> int:
        taken: set[object] = {m.caret for m in self.members.values()}
        taken |= {info.get("caret") for _node, info in self.remote_members.values()}
        for caret in range(1, 9):
            if caret not in taken:
                return caret
        return len(self.members) % 8 + 1

    def editors(self) -> list[Member]:
        return [m for m in self.members.values() if m.role == "editor"]

    def broadcast(
        self, frame: str, *, exclude: Member | None = None, ephemeral: bool = False
    ) -> None:
        """Send a frame that is not part of the update sequence (presence, joins)."""
        self.flush()  # updates released before it go first
        for member in list(self.members.values()):
            if member is not exclude:
                member.deliver(frame, ephemeral=ephemeral)

    # -- ordered fan-out of accepted updates -------------------------------------------
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

    def publish(self, seq: int, frame: UpdateFrame, sender: Member | None) -> None:
        """Release update ``seq`` to every member but its sender, in sequence order. The
        frame is built once and shared: each representation (JSON text, binary) is
        encoded at most once however many members receive it."""
        if seq < self._next_seq:
            return  # already released (e.g. seen through another path)
        if isinstance(frame, UpdateFrame) and seq not in self._pending:
            self.log_bytes += frame.nbytes
        self._pending[seq] = (frame, sender)
        self._release()
        if self._pending and self.on_gap is not None:
            self.on_gap(self)

    def _release(self) -> None:
        if self._next_seq not in self._pending:
            return
        started = self._run is None
        run = self._run = self._run or ReleasedRun()
        while self._next_seq in self._pending:
            frame, sender = self._pending.pop(self._next_seq)
            self.head = max(self.head, self._next_seq)
            run.add(self._next_seq, frame, sender)
            self._next_seq += 1
        if started:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Hand the run to the members at the end of this event-loop turn, so updates
        released together (one group commit, many writers) go out as one write per
        member; at once when no loop runs (the sans-I/O tests)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        loop.call_soon(self.flush)

    def flush_if_idle(self) -> None:
        """Flush now unless appends for this document are still being stored: then the
        scheduled flush (next loop turn) lets their updates join the run, one write per
        receiver for several commits (at 200 clients, flushing after every commit
        multiplied the socket writes: end-to-end p50 18 -> 86 ms, bench/trace_relay.py)."""
        if self.queued == 0:
            self.flush()

    def flush(self) -> None:
        """Deliver the released run to every member but each update's sender."""
        run, self._run = self._run, None
        if run is None:
            return
        for member in list(self.members.values()):
            member.deliver_run(run)

    def session_started(self, session: SessionRecord) -> None:
        """A new session is active from its start_seq; the log restarts there."""
        self.flush()
        self.session = session
        self.head = max(self.head, session.start_seq)
        self.snapshot_seq = session.start_seq
        self.snapshot_requested_log = 0
        self.snapshot_bytes = self.log_bytes = 0
        self._pending = {s: p for s, p in self._pending.items() if s > session.start_seq}
        self._next_seq = max(self._next_seq, session.start_seq + 1)

    # -- the log and its snapshots -----------------------------------------------------
    @property
    def log_length(self) -> int:
        """Updates stored since the latest snapshot."""
        return max(0, self.head - self.snapshot_seq)

    def needs_snapshot(
        self, threshold: int, now: float | None = None, *, log_cap: int | None = None
    ) -> bool:
        """The log passed ``threshold`` and no request is pending: none was sent in the
        last 30 s, or the log grew by another ``threshold`` updates since the last one
        (the editor asked did not deliver: a busy document must not run into
        ``max_log_updates`` while waiting 30 s for it).

        With ``log_cap`` (``max_log_updates``), a log that holds less than half the
        bytes of the latest snapshot waits until it reaches half the cap: a snapshot
        is the whole document and every one is kept as a version, so asking for a large
        document's every ``threshold`` updates would multiply its history and upload
        traffic, while a joiner reads at most the snapshot plus half its size again."""
        log_length = self.log_length
        if log_length < threshold:
            return False
        if (
            log_cap is not None
            and self.log_bytes * 2 < self.snapshot_bytes
            and log_length < log_cap // 2
        ):
            return False
        if log_length >= self.snapshot_requested_log + max(threshold, 1):
            return True
        now = time.monotonic() if now is None else now
        return now - self.snapshot_requested_at > 30.0

    def ask_for_snapshot(
        self,
        threshold: int,
        *,
        prefer: Member | None = None,
        everyone: bool = False,
        log_cap: int | None = None,
        now: float | None = None,
    ) -> None:
        """Send ``snapshot_request`` when the log passed ``threshold`` (see
        ``needs_snapshot``): to ``prefer`` (else the first editor); when asked again
        before a snapshot arrived, to the next 2, then 4, 8 ... editors in turn, so a
        few editors that never answer cannot hold the document up and a large
        audience is not asked all at once; to every editor when ``everyone``.
        ``log_cap``: see ``needs_snapshot``."""
        if not self.needs_snapshot(threshold, now, log_cap=log_cap):
            return
        editors = self.editors()
        if not editors:
            return
        self.snapshot_requested_at = time.monotonic() if now is None else now
        repeated = self.snapshot_requested_log > 0  # the last request was not answered
        self.snapshot_requested_log = self.log_length
        if everyone:
            targets = editors
        elif repeated:
            self._snapshot_round += 1
            count = min(len(editors), 2 ** min(self._snapshot_round - 1, 16))
            first = self._snapshot_turn + 1
            targets = [editors[(first + i) % len(editors)] for i in range(count)]
            self._snapshot_turn = (first + count - 1) % len(editors)
        else:
            target = prefer if prefer in editors else editors[0]
            self._snapshot_round = 1
            self._snapshot_turn = editors.index(target)
            targets = [target]
        for member in targets:
            member.request_snapshot(self.head)

    def snapshot_stored(self, seq: int, nbytes: int | None = None) -> None:
        """A snapshot up to ``seq`` (of ``nbytes``, when known) was stored: the log
        restarts there."""
        if seq >= self.snapshot_seq:
            self.log_bytes = 0  # (updates after seq already counted are forgotten)
            if nbytes is not None:
                self.snapshot_bytes = nbytes
        self.snapshot_seq = max(self.snapshot_seq, seq)
        self.snapshot_requested_at = 0.0
        self.snapshot_requested_log = 0

    def checkpoint_due(self, now: float, idle: float, interval: float) -> bool:
        """Updates arrived since the latest checkpoint, and the document has been quiet
        for ``idle`` seconds or was last checkpointed ``interval`` seconds ago."""
        if self.head <= self.snapshot_seq or self.session is None:
            return False
        if now - self.snapshot_requested_at < min(30.0, idle):
            return False
        return now - self.last_write_at >= idle or now - self.checkpoint_at >= interval

    def ask_for_checkpoint(self, now: float, idle: float, interval: float) -> bool:
        """Send ``snapshot_request`` to one editor when a checkpoint is due."""
        if not self.checkpoint_due(now, idle, interval):
            return False
        editors = self.editors()
        if not editors:
            return False
        self.snapshot_requested_at = now
        editors[0].request_snapshot(self.head)
        return True


def _client_id_taken() -> ProtocolError:
    return ProtocolError(
        "client_id_taken", "this client id is in use by another user; use a random client id"
    )


class HubRegistry:
    """The hubs of the documents open on this node; a hub lives while it is not idle."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.hubs: dict[DocKey, DocumentHub] = {}
        self.on_gap: Callable[[DocumentHub], None] | None = None
        self.on_open: Callable[[DocumentHub], None] | None = None
        self.on_joined: Callable[[DocumentHub, dict[str, Any]], None] | None = None
        self.on_left: Callable[[DocumentHub, dict[str, Any]], None] | None = None
        self.new_write_rate: Callable[[], ByteRate | None] = lambda: None
        # A document's write quota outlives its hub (closing and reopening a document
        # must not refill it); least recently used entries go beyond ``max_rates``.
        self._write_rates: OrderedDict[DocKey, ByteRate | None] = OrderedDict()
        self.max_rates = 100_000

    def write_rate(self, key: DocKey) -> ByteRate | None:
        if key in self._write_rates:
            self._write_rates.move_to_end(key)
            return self._write_rates[key]
        rate = self._write_rates[key] = self.new_write_rate()
        if len(self._write_rates) > self.max_rates:
            self._write_rates.popitem(last=False)
        return rate

    async def open(self, key: DocKey) -> DocumentHub:
        """The hub of ``key``, loaded and pinned: call ``unpin`` once joined (or not)."""
        while True:
            hub = self.hubs.get(key)
            if hub is None:
                hub = DocumentHub(key)
                hub.on_gap = self.on_gap
                hub.on_joined = self.on_joined
                hub.on_left = self.on_left
                hub.write_rate = self.write_rate(key)
                hub.pins += 1
                self.hubs[key] = hub
                try:
                    await hub.load(self.store)
                except BaseException as exc:
                    hub.load_error = exc
                    hub.pins -= 1
                    if self.hubs.get(key) is hub:
                        del self.hubs[key]
                    raise
                finally:
                    hub.loaded.set()
                if self.on_open is not None:
                    self.on_open(hub)
                return hub
            hub.pins += 1
            await hub.loaded.wait()
            if hub.load_error is None:
                return hub
            hub.pins -= 1  # that load failed; try again with a fresh hub

    def unpin(self, hub: DocumentHub) -> None:
        hub.pins -= 1
        self.release(hub)

    def release(self, hub: DocumentHub) -> None:
        if hub.idle and self.hubs.get(hub.key) is hub:
            del self.hubs[hub.key]

    @property
    def connection_count(self) -> int:
        return sum(len(h.members) for h in self.hubs.values())
