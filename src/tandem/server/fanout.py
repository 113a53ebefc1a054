"""ReleasedRun: the updates a hub releases in one event-loop turn, sent to every member
as shared bytes.

Relaying an update to N members used to cost N queue pushes, N task wake-ups, N batch
encodings and N WebSocket framings. A run is encoded once per wire form (binary or
JSON text, batch frames or not) as complete WebSocket frames; a member whose queue is
empty and whose socket is writable gets those bytes written straight to its socket
(server frames are unmasked and no extension is negotiated, so the bytes are the same
for every receiver). Only a member that sent some of the run's updates, or already got
some of its seqs through a sync, needs its own encoding. Everyone else goes through the
connection's bounded queue as before, so order and the slow-consumer limit still hold.
"""

from __future__ import annotations

from typing import Any

from websockets.frames import Frame, Opcode

from tandem.protocol import server_frames
from tandem.protocol.server_frames import UpdateFrame

# One batch frame holds at most this many updates / bytes (a client's frame limit and
# its batch parser see nothing larger than the queue path sends).
MAX_BATCH_FRAMES = 256
MAX_BATCH_BYTES = 256 * 1024


def websocket_frame(payload: bytes | str) -> bytes:
    """One complete, unmasked server-to-client WebSocket frame."""
    if isinstance(payload, str):
        return Frame(Opcode.TEXT, payload.encode()).serialize(mask=False, extensions=[])
    return Frame(Opcode.BINARY, payload).serialize(mask=False, extensions=[])


def encode_frames(payloads: list[str] | list[bytes], *, batching: bool) -> bytes:
    """The WebSocket bytes of ``payloads`` (all JSON text or all binary frames): batch
    frames when the client accepts them, else one WebSocket frame each."""
    if not batching or len(payloads) == 1:
        return b"".join(websocket_frame(p) for p in payloads)
    out: list[bytes] = []
    chunk: list[Any] = []
    size = 0
    for payload in payloads:
        if chunk and (len(chunk) >= MAX_BATCH_FRAMES or size + len(payload) > MAX_BATCH_BYTES):
            out.append(_batch(chunk))
            chunk, size = [], 0
        chunk.append(payload)
        size += len(payload)
    out.append(_batch(chunk))
    return b"".join(out)


def _batch(chunk: list[Any]) -> bytes:
    if len(chunk) == 1:
        return websocket_frame(chunk[0])
    if isinstance(chunk[0], bytes):
        return websocket_frame(server_frames.binary_batch(chunk))
    return websocket_frame(server_frames.batch_frame(chunk))


class ReleasedRun:
    """Updates released in sequence order, with the member that sent each (or None)."""

    __slots__ = ("_senders", "_wire", "updates")

    def __init__(self) -> None:
        self.updates: list[tuple[int, UpdateFrame, object | None]] = []
        self._senders: set[int] = set()
        self._wire: dict[tuple[bool, bool], bytes] = {}

    def add(self, seq: int, frame: UpdateFrame, sender: object | None) -> None:
        self.updates.append((seq, frame, sender))
        if sender is not None:
            self._senders.add(id(sender))

    @property
    def last_seq(self) -> int:
        return self.updates[-1][0]

    def frames_for(self, member: object, after_seq: int = 0) -> list[tuple[int, UpdateFrame]]:
        """The updates ``member`` should get: not its own, and none it already has."""
        return [
            (seq, frame)
            for seq, frame, sender in self.updates
            if sender is not member and seq > after_seq
        ]

    def wire_for(
        self, member: object, *, binary: bool, batching: bool, after_seq: int
    ) -> bytes | None:
        """The WebSocket bytes of what ``member`` should get (None: nothing)."""
        shared = id(member) not in self._senders and self.updates[0][0] > after_seq
        if shared:
            key = (binary, batching)
            wire = self._wire.get(key)
            if wire is None:
                wire = self._wire[key] = self._encode(
                    [frame for _seq, frame, _sender in self.updates], binary, batching
                )
            return wire
        frames = [frame for _seq, frame in self.frames_for(member, after_seq)]
        return self._encode(frames, binary, batching) if frames else None

    @staticmethod
    def _encode(frames: list[UpdateFrame], binary: bool, batching: bool) -> bytes:
        if binary:
            return encode_frames([f.binary for f in frames], batching=batching)
        return encode_frames([f.text for f in frames], batching=batching)
