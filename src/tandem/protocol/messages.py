"""Client messages parsed and validated into small immutable events; server messages encoded.

Frames are JSON text frames holding one object with a ``type`` (updates may also come
as binary frames, ``binary``, once negotiated). Binary fields
(ciphertext, salt, wrapped key) are standard base64 with padding. JSON is read
strictly (``strict_json``: no duplicate names, no non-finite numbers, no lone
surrogates, bounded depth). Nothing here does I/O; every malformed input raises
``ProtocolError`` (code ``bad_frame``). Server frames are built in ``server_frames``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from tandem.protocol import binary, strict_json
from tandem.protocol.errors import ProtocolError, bad_frame

PROTOCOL_VERSION = 1
MAX_DOCUMENT_ID = 512
MAX_KEY_HINT = 256
MAX_API_KEY = 256
MAX_CLIENT_INFO_BYTES = 4096
MAX_CLIENT_INFO_DEPTH = 8
MAX_FRAME_DEPTH = MAX_CLIENT_INFO_DEPTH + 2  # the frame object, then client_info's own
MAX_COUNTER = 2**53 - 1
#: A JSON object as ``strict_json`` reads it: field values are checked before use.
JsonObject = dict[str, object]
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True, slots=True)
class Hello:
    protocol: int
    api_key: str
    document_id: str
    token: str
    client_id: str
    client_info: dict[str, Any]  # an arbitrary JSON object, relayed to the other members
    last_seq: int | None
    session_id: str | None
    batch: bool = False  # the client accepts several messages in one ``batch`` frame
    binary: bool = False  # the client speaks binary update frames (``protocol.binary``)


@dataclass(frozen=True, slots=True)
class CreateSession:
    session_id: str
    key_hint: str
    salt: bytes
    iterations: int
    wrapped_key: bytes
    snapshot: bytes
    replaces: str | None
    seq: int | None


@dataclass(frozen=True, slots=True)
class Update:
    session_id: str
    counter: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    session_id: str
    seq: int
    data: bytes
    kind: str = "auto"  # auto | named | restore | repair (docs/protocol.md)
    name: bytes | None = None  # sealed by the client (named versions)


@dataclass(frozen=True, slots=True)
class ListVersions:
    id: int
    before: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class GetVersion:
    id: int
    number: int


@dataclass(frozen=True, slots=True)
class GetUpdates:
    id: int
    after: int
    upto: int
    limit: int


@dataclass(frozen=True, slots=True)
class Presence:
    data: bytes


@dataclass(frozen=True, slots=True)
class TokenRefresh:
    token: str


HistoryRequest = ListVersions | GetVersion | GetUpdates
ClientMessage = (
    Hello
    | CreateSession
    | Update
    | Snapshot
    | Presence
    | TokenRefresh
    | ListVersions
    | GetVersion
    | GetUpdates
)
#: Kinds a client may give a snapshot (``session`` versions come from create_session).
SNAPSHOT_KINDS = ("auto", "named", "restore", "repair")
MAX_VERSION_NAME_BYTES = 1024  # a sealed version name
MAX_VERSIONS_PAGE = 100  # versions in one ``versions`` answer
MAX_UPDATES_PAGE = 1000  # updates in one ``history_updates`` answer


# -- field readers ---------------------------------------------------------------------
def _field(obj: JsonObject, name: str, kind: str) -> object:
    if name not in obj:
        raise bad_frame(f"{kind} message is missing the field '{name}'")
    return obj[name]


def _str(obj: JsonObject, name: str, kind: str, *, max_len: int, min_len: int = 1) -> str:
    value = _field(obj, name, kind)
    if not isinstance(value, str):
        raise bad_frame(f"'{name}' in {kind} must be a string")
    if not min_len <= len(value) <= max_len:
        raise bad_frame(f"'{name}' in {kind} must be {min_len} to {max_len} characters long")
    return value


def _int(obj: JsonObject, name: str, kind: str, *, low: int = 0, high: int = MAX_COUNTER) -> int:
    value = _field(obj, name, kind)
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_frame(f"'{name}' in {kind} must be an integer")
    if not low <= value <= high:
        raise bad_frame(f"'{name}' in {kind} must be between {low} and {high}")
    return value


def _id(obj: JsonObject, name: str, kind: str, pattern: re.Pattern[str]) -> str:
    value = _field(obj, name, kind)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise bad_frame(f"'{name}' in {kind} must match {pattern.pattern}")
    return value


def _bytes(obj: JsonObject, name: str, kind: str, *, max_len: int, min_len: int = 0) -> bytes:
    value = _field(obj, name, kind)
    if not isinstance(value, str):
        raise bad_frame(f"'{name}' in {kind} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_frame(f"'{name}' in {kind} is not valid base64") from None
    if not min_len <= len(raw) <= max_len:
        raise bad_frame(f"'{name}' in {kind} must hold {min_len} to {max_len} bytes")
    return raw


def _optional(obj: JsonObject, name: str) -> bool:
    return obj.get(name) is not None


# -- parsing -----------------------------------------------------------------------------
_SEALED_MIN = 12 + 16  # nonce + GCM tag: anything shorter cannot be a ciphertext


def parse_client_message(raw: str | bytes, *, max_bytes: int) -> ClientMessage:
    """Parse one frame. ``max_bytes`` bounds every binary field."""
    if isinstance(raw, bytes) and raw and raw[0] < binary.FIRST_NON_BINARY:
        update = binary.decode_client_frame(raw, max_bytes=max_bytes)
        return Update(session_id=update.session_id, counter=update.counter, data=update.data)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_frame("frame is not valid UTF-8 JSON") from None
    try:
        loaded = strict_json.loads(raw, max_depth=MAX_FRAME_DEPTH)
    except strict_json.StrictJSONError as exc:
        raise bad_frame(f"frame is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise bad_frame("frame must be a JSON object")
    obj: JsonObject = loaded  # JSON object names are always strings
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise bad_frame("frame has no 'type'")
    if kind == "hello":
        return _parse_hello(obj)
    if kind == "update":
        return Update(
            session_id=_id(obj, "session_id", kind, _SESSION_ID),
            counter=_int(obj, "counter", kind, low=1),
            data=_bytes(obj, "data", kind, min_len=_SEALED_MIN, max_len=max_bytes),
        )
    if kind == "presence":
        return Presence(data=_bytes(obj, "data", kind, min_len=_SEALED_MIN, max_len=max_bytes))
    if kind == "snapshot":
        snapshot_kind = obj.get("kind")
        if snapshot_kind is None:
            snapshot_kind = "auto"
        elif not isinstance(snapshot_kind, str) or snapshot_kind not in SNAPSHOT_KINDS:
            raise bad_frame(f"'kind' in snapshot must be one of {', '.join(SNAPSHOT_KINDS)}")
        return Snapshot(
            session_id=_id(obj, "session_id", kind, _SESSION_ID),
            seq=_int(obj, "seq", kind),
            data=_bytes(obj, "data", kind, min_len=_SEALED_MIN, max_len=max_bytes),
            kind=snapshot_kind,
            name=(
                _bytes(obj, "name", kind, min_len=_SEALED_MIN, max_len=MAX_VERSION_NAME_BYTES)
                if _optional(obj, "name")
                else None
            ),
        )
    if kind == "list_versions":
        return ListVersions(
            id=_int(obj, "id", kind),
            before=_int(obj, "before", kind, low=1) if _optional(obj, "before") else None,
            limit=(
                _int(obj, "limit", kind, low=1, high=MAX_VERSIONS_PAGE)
                if _optional(obj, "limit")
                else 50
            ),
        )
    if kind == "get_version":
        return GetVersion(id=_int(obj, "id", kind), number=_int(obj, "number", kind, low=1))
    if kind == "get_updates":
        return GetUpdates(
            id=_int(obj, "id", kind),
            after=_int(obj, "after", kind),
            upto=_int(obj, "upto", kind),
            limit=(
                _int(obj, "limit", kind, low=1, high=MAX_UPDATES_PAGE)
                if _optional(obj, "limit")
                else MAX_UPDATES_PAGE
            ),
        )
    if kind == "create_session":
        iterations = _int(obj, "iterations", kind, low=1, high=100_000_000)
        return CreateSession(
            session_id=_id(obj, "session_id", kind, _SESSION_ID),
            key_hint=_str(obj, "key_hint", kind, max_len=MAX_KEY_HINT, min_len=0),
            salt=_bytes(obj, "salt", kind, min_len=32, max_len=32),
            iterations=iterations,
            wrapped_key=_bytes(obj, "wrapped_key", kind, min_len=_SEALED_MIN, max_len=256),
            snapshot=_bytes(obj, "snapshot", kind, min_len=_SEALED_MIN, max_len=max_bytes),
            replaces=(
                _id(obj, "replaces", kind, _SESSION_ID) if _optional(obj, "replaces") else None
            ),
            seq=_int(obj, "seq", kind) if _optional(obj, "seq") else None,
        )
    if kind == "token":
        return TokenRefresh(token=_str(obj, "token", kind, max_len=64 * 1024))
    raise bad_frame(f"unknown message type {kind[:40]!r}")


def _parse_hello(obj: JsonObject) -> Hello:
    kind = "hello"
    protocol = _field(obj, "protocol", kind)
    if isinstance(protocol, bool) or not isinstance(protocol, int):
        raise bad_frame("'protocol' in hello must be an integer")
    if protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            "client_update_required",
            f"this server speaks protocol {PROTOCOL_VERSION}, the client speaks {protocol}; "
            "update the client",
        )
    client_info = obj.get("client_info") or {}
    if not isinstance(client_info, dict):
        raise bad_frame("'client_info' in hello must be a JSON object")
    if len(json.dumps(client_info, separators=(",", ":"))) > MAX_CLIENT_INFO_BYTES:
        raise bad_frame(f"'client_info' in hello must be at most {MAX_CLIENT_INFO_BYTES} bytes")
    return Hello(
        protocol=protocol,
        api_key=_str(obj, "api_key", kind, max_len=MAX_API_KEY),
        document_id=_str(obj, "document_id", kind, max_len=MAX_DOCUMENT_ID),
        token=_str(obj, "token", kind, max_len=64 * 1024),
        client_id=_id(obj, "client_id", kind, _CLIENT_ID),
        client_info=client_info,
        last_seq=_int(obj, "last_seq", kind) if _optional(obj, "last_seq") else None,
        session_id=(
            _id(obj, "session_id", kind, _SESSION_ID) if _optional(obj, "session_id") else None
        ),
        batch=obj.get("batch") is True,
        binary=obj.get("binary") is True,
    )


# -- encoding ----------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode(message: dict[str, Any]) -> str:
    """Encode a server message (a dict with ``type``) as a compact JSON text frame.

    ASCII only (non-ASCII escaped), so a frame can always be sent as UTF-8 whatever
    strings a token or an older stored record holds."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def batch_frame(frames: list[str]) -> str:
    """Several encoded server messages as one ``batch`` frame (no re-encoding)."""
    return '{"type":"batch","messages":[' + ",".join(frames) + "]}"
