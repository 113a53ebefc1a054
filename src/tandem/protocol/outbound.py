"""The frames waiting for one client's socket: ordered, de-duplicated, bounded in bytes.

- While a sync runs (snapshot, then history), live frames are held back and released
  after it, so the client sees snapshot, history, then live updates.
- Update frames carry their seq: a seq the client already got is skipped.
- The queue is bounded in bytes *and* in frames (held frames count too). A live
  frame that would pass a bound is refused (``push`` returns False: the caller drops
  the client as a slow consumer). Ephemeral frames (presence) are dropped instead,
  once the queue holds more than a quarter of its byte bound.
- History is read at the reader's pace: ``room_for_history`` says when the sync may
  add another page (below half the byte bound), so a late joiner's sync never needs
  more than that much memory however long the history.

Frames are ASCII JSON text (``messages.encode``) or binary frames (``bytes``, see
``protocol.binary``), so their length is their size in bytes either way.
"""

from __future__ import annotations

from collections import deque

Frame = str | bytes  # JSON text, or a binary frame


class OutboundQueue:
    __slots__ = (
        "_held",
        "_held_bytes",
        "_queue",
        "last_sent_seq",
        "max_bytes",
        "max_frames",
        "nbytes",
        "syncing",
    )

    def __init__(self, max_bytes: int, max_frames: int) -> None:
        self.max_bytes = max_bytes
        self.max_frames = max_frames
        self._queue: deque[Frame] = deque()
        self.nbytes = 0
        self._held: list[tuple[Frame, int | None]] = []
        self._held_bytes = 0
        self.syncing = False
        self.last_sent_seq = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def total_bytes(self) -> int:
        return self.nbytes + self._held_bytes

    def _fits(self, size: int) -> bool:
        frames = len(self._queue) + len(self._held)
        return self.total_bytes + size <= self.max_bytes and frames < self.max_frames

    def push(self, frame: Frame, *, seq: int | None = None, ephemeral: bool = False) -> bool:
        """Queue a live frame. False: it does not fit (the client is not reading)."""
        if ephemeral and self.total_bytes + len(frame) > self.max_bytes // 4:
            return True  # presence is ephemeral: shed it for a backed-up reader
        if not self._fits(len(frame)):
            return False
        if self.syncing:
            self._held.append((frame, seq))
            self._held_bytes += len(frame)
            return True
        self._append(frame, seq)
        return True

    def push_history(self, frame: Frame, *, seq: int | None = None) -> bool:
        """Queue a frame of the sync (snapshot, stored updates, synced): never held."""
        if not self._fits(len(frame)):
            return False
        self._append(frame, seq)
        return True

    def _append(self, frame: Frame, seq: int | None) -> None:
        if seq is not None:
            if seq <= self.last_sent_seq:
                return  # the sync already delivered it
            self.last_sent_seq = seq
        self._queue.append(frame)
        self.nbytes += len(frame)

    @property
    def room_for_history(self) -> bool:
        return self.total_bytes < self.max_bytes // 2

    def begin_sync(self, last_sent_seq: int | None = None) -> None:
        """Hold live frames from now on; forget held ones (a new sync supersedes)."""
        self._held.clear()
        self._held_bytes = 0
        self.syncing = True
        if last_sent_seq is not None:
            self.last_sent_seq = last_sent_seq

    def end_sync(self) -> None:
        """Release what was held meanwhile, in order (skipping seqs already sent)."""
        held, self._held = self._held, []
        self._held_bytes = 0
        self.syncing = False
        for frame, seq in held:
            self._append(frame, seq)

    def pop(self, limit: int) -> list[Frame]:
        """Up to ``limit`` frames, oldest first."""
        out: list[Frame] = []
        while self._queue and len(out) < limit:
            frame = self._queue.popleft()
            self.nbytes -= len(frame)
            out.append(frame)
        return out
