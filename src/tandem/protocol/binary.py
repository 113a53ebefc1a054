"""Binary frames for updates (docs/protocol.md, "Binary frames"): a small header and the
raw ciphertext, no JSON and no base64 per update. Negotiated in ``hello``/``welcome``
(``"binary": true``); JSON stays for every other message and for clients that did not
ask. Pure functions, no I/O; used by the server, the Python SDK and the benchmark.

A binary WebSocket frame whose first byte is below ``0x09`` is one of these; any other
binary frame holds UTF-8 JSON as before (JSON text starts with ``{`` or whitespace).

Client → server ``update`` (type 0x01)::

    u8 0x01 | u8 len(session_id) | session_id (ASCII) | u64 counter (big-endian) | data

Server → client ``update`` (type 0x02)::

    u8 0x02 | u64 seq | u64 counter | u8 len(session_id) | session_id
    | u8 len(client_id) | client_id | u16 len(user_id) | user_id (UTF-8) | data

Server → client ``batch`` (type 0x04), only to clients that also asked for batches::

    u8 0x04 | ( u32 length | message )*   message: a binary frame, or JSON text ({…})
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from tandem.protocol.errors import ProtocolError, bad_frame

CLIENT_UPDATE = 0x01
SERVER_UPDATE = 0x02
BATCH = 0x04
FIRST_NON_BINARY = 0x09  # tab: below it a frame is binary, from it on it is JSON text
MAX_COUNTER = 2**53 - 1
_SEALED_MIN = 12 + 16  # nonce + GCM tag
_U64 = struct.Struct(">Q")
_SERVER_HEAD = struct.Struct(">BQQ")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


def is_binary(frame: bytes | bytearray | memoryview) -> bool:
    """True for a binary protocol frame (as opposed to JSON sent in a binary frame)."""
    return len(frame) > 0 and frame[0] < FIRST_NON_BINARY


def _valid_id(raw: bytes, low: int, high: int) -> bool:
    if not low <= len(raw) <= high:
        return False
    return raw.isascii() and raw.replace(b"-", b"").replace(b"_", b"").isalnum()


# -- client → server -------------------------------------------------------------------
def encode_client_update(session_id: str, counter: int, data: bytes) -> bytes:
    sid = session_id.encode("ascii")
    return b"".join((bytes((CLIENT_UPDATE, len(sid))), sid, _U64.pack(counter), data))


@dataclass(frozen=True, slots=True)
class ClientUpdate:
    session_id: str
    counter: int
    data: bytes


def decode_client_frame(frame: bytes, *, max_bytes: int) -> ClientUpdate:
    """Parse a client's binary frame; ``ProtocolError`` (``bad_frame``) for anything that
    is not a well-formed update. ``max_bytes`` bounds the ciphertext."""
    if not frame:
        raise bad_frame("empty binary frame")
    kind = frame[0]
    if kind != CLIENT_UPDATE:
        raise bad_frame(f"unknown binary frame type 0x{kind:02x} (clients send 0x01 updates)")
    if len(frame) < 2:
        raise bad_frame("binary update frame is truncated (no session id length)")
    sid_len = frame[1]
    end = 2 + sid_len
    if len(frame) < end + 8:
        raise bad_frame("binary update frame is truncated (header shorter than its lengths)")
    sid = bytes(frame[2:end])
    if not _valid_id(sid, 16, 64):
        raise bad_frame("'session_id' in a binary update must match [A-Za-z0-9_-]{16,64}")
    (counter,) = _U64.unpack_from(frame, end)
    if not 1 <= counter <= MAX_COUNTER:
        raise bad_frame(f"'counter' in a binary update must be between 1 and {MAX_COUNTER}")
    data = bytes(frame[end + 8 :])
    if not _SEALED_MIN <= len(data) <= max_bytes:
        raise bad_frame(f"'data' in a binary update must hold {_SEALED_MIN} to {max_bytes} bytes")
    return ClientUpdate(sid.decode("ascii"), counter, data)


# -- server → client -------------------------------------------------------------------
def encode_server_update(
    seq: int, session_id: str, client_id: str, counter: int, user_id: str, data: bytes
) -> bytes:
    sid = session_id.encode("ascii")
    cid = client_id.encode("ascii")
    uid = user_id.encode("utf-8", "surrogatepass")
    return b"".join(
        (
            _SERVER_HEAD.pack(SERVER_UPDATE, seq, counter),
            bytes((len(sid),)),
            sid,
            bytes((len(cid),)),
            cid,
            _U16.pack(len(uid)),
            uid,
            data,
        )
    )


@dataclass(frozen=True, slots=True)
class ServerUpdate:
    seq: int
    session_id: str
    client_id: str
    counter: int
    user_id: str
    data: bytes

    def as_message(self) -> dict[str, Any]:
        """The JSON ``update`` message's fields (``data`` as bytes, not base64)."""
        return {
            "type": "update",
            "seq": self.seq,
            "session_id": self.session_id,
            "client_id": self.client_id,
            "counter": self.counter,
            "user_id": self.user_id,
            "data": self.data,
        }


class FrameError(ValueError):
    """A server frame a client cannot read (a bug or a hostile server)."""


def decode_server_update(frame: bytes | memoryview) -> ServerUpdate:
    try:
        kind, seq, counter = _SERVER_HEAD.unpack_from(frame, 0)
        if kind != SERVER_UPDATE:
            raise FrameError(f"not an update frame: 0x{kind:02x}")
        at = _SERVER_HEAD.size
        sid_len = frame[at]
        sid = bytes(frame[at + 1 : at + 1 + sid_len]).decode("ascii")
        at += 1 + sid_len
        cid_len = frame[at]
        cid = bytes(frame[at + 1 : at + 1 + cid_len]).decode("ascii")
        at += 1 + cid_len
        (uid_len,) = _U16.unpack_from(frame, at)
        at += 2
        if at + uid_len > len(frame):
            raise FrameError("truncated update frame")
        uid = bytes(frame[at : at + uid_len]).decode("utf-8", "surrogatepass")
        return ServerUpdate(seq, sid, cid, counter, uid, bytes(frame[at + uid_len :]))
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise FrameError(f"malformed update frame: {exc}") from None


def encode_batch(messages: list[str | bytes]) -> bytes:
    """Several server messages (binary frames or JSON text) in one binary frame."""
    parts: list[bytes] = [bytes((BATCH,))]
    for message in messages:
        raw = message.encode("ascii") if isinstance(message, str) else message
        parts.append(_U32.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def decode_batch(frame: bytes | memoryview) -> list[bytes | str]:
    """The messages of a binary ``batch``: bytes (binary frames) or str (JSON text)."""
    if not frame or frame[0] != BATCH:
        raise FrameError("not a batch frame")
    out: list[bytes | str] = []
    at, end = 1, len(frame)
    view = memoryview(frame)
    while at < end:
        if at + 4 > end:
            raise FrameError("truncated batch frame")
        (size,) = _U32.unpack_from(view, at)
        at += 4
        if at + size > end or size == 0:
            raise FrameError("truncated batch frame")
        part = view[at : at + size]
        out.append(bytes(part) if part[0] < FIRST_NON_BINARY else str(part, "utf-8"))
        at += size
    return out


def decode_server_frame(frame: bytes) -> list[ServerUpdate | str]:
    """A binary server frame as its messages: ``ServerUpdate``s, and JSON objects (left
    as text for the caller to parse: returned as ``str``)."""
    if not frame:
        raise FrameError("empty frame")
    kind = frame[0]
    if kind == SERVER_UPDATE:
        return [decode_server_update(frame)]
    if kind == BATCH:
        return [decode_server_update(p) if isinstance(p, bytes) else p for p in decode_batch(frame)]
    raise FrameError(f"unknown binary frame type 0x{kind:02x}")


__all__ = [
    "BATCH",
    "CLIENT_UPDATE",
    "SERVER_UPDATE",
    "ClientUpdate",
    "FrameError",
    "ProtocolError",
    "ServerUpdate",
    "decode_batch",
    "decode_client_frame",
    "decode_server_frame",
    "decode_server_update",
    "encode_batch",
    "encode_client_update",
    "encode_server_update",
    "is_binary",
]
