"""The events server nodes exchange (through the store's LISTEN/NOTIFY), as types.

Each event is a small immutable class with ``to_wire()`` (the JSON object sent) and
is read back by ``parse_event``, which checks every field's type and returns None
for anything malformed or unknown (a newer node's event kind, a corrupted payload),
so a bad event can neither crash a node nor reach a client. The wire format is the
one the storage engines already publish from inside their transactions (``u``,
``ub`` — a group commit —, ``s``, ``p``); ``node`` is added by the store when it sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem.protocol.messages import MAX_API_KEY, MAX_DOCUMENT_ID


@dataclass(frozen=True, slots=True)
class UpdateCommitted:
    """An update was committed (published by the storage engine in its transaction)."""

    api_key: str
    document_id: str
    seq: int
    session_id: str
    client_id: str
    counter: int
    user_id: str
    time: float
    data_b64: str | None  # absent when too large for a notification: read the row

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "k": "u",
            "a": self.api_key,
            "d": self.document_id,
            "s": self.seq,
            "sid": self.session_id,
            "c": self.client_id,
            "n": self.counter,
            "uid": self.user_id,
            "t": self.time,
        }
        if self.data_b64 is not None:
            wire["data"] = self.data_b64
        return wire


@dataclass(frozen=True, slots=True)
class CommittedEntry:
    """One update of an ``UpdatesCommitted`` batch."""

    seq: int
    client_id: str
    counter: int
    user_id: str
    data_b64: str | None  # absent when the batch's notification had no room: read the row


@dataclass(frozen=True, slots=True)
class UpdatesCommitted:
    """A group commit: consecutive updates of one session, one notification (``ub``)."""

    api_key: str
    document_id: str
    session_id: str
    time: float
    entries: tuple[CommittedEntry, ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "k": "ub",
            "a": self.api_key,
            "d": self.document_id,
            "sid": self.session_id,
            "t": self.time,
            "u": [[e.seq, e.client_id, e.counter, e.user_id, e.data_b64] for e in self.entries],
        }


@dataclass(frozen=True, slots=True)
class SessionCreated:
    api_key: str
    document_id: str
    session_id: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": "s", "a": self.api_key, "d": self.document_id, "sid": self.session_id}


@dataclass(frozen=True, slots=True)
class SnapshotStored:
    api_key: str
    document_id: str
    seq: int

    def to_wire(self) -> dict[str, Any]:
        return {"k": "p", "a": self.api_key, "d": self.document_id, "s": self.seq}


@dataclass(frozen=True, slots=True)
class PresenceRelayed:
    api_key: str
    document_id: str
    client_id: str
    user_id: str
    data_b64: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "k": "pr",
            "a": self.api_key,
            "d": self.document_id,
            "c": self.client_id,
            "uid": self.user_id,
            "data": self.data_b64,
        }


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A member as ``MemberJoined`` and ``MemberLeft`` carry it: the checked fields of
    the member object clients see (docs/protocol.md), nothing else."""

    user_id: str
    client_id: str
    caret: int
    role: str
    client_info: dict[str, Any] | None  # None: the member object had none

    def info(self) -> dict[str, Any]:
        """The member object, as the node that announced it built it."""
        info: dict[str, Any] = {
            "user_id": self.user_id,
            "client_id": self.client_id,
            "caret": self.caret,
        }
        if self.client_info is not None:
            info["client_info"] = self.client_info
        info["role"] = self.role
        return info


@dataclass(frozen=True, slots=True)
class MemberJoined:
    api_key: str
    document_id: str
    member: MemberInfo

    def to_wire(self) -> dict[str, Any]:
        return {"k": "j", "a": self.api_key, "d": self.document_id, "m": self.member.info()}


@dataclass(frozen=True, slots=True)
class MemberLeft:
    api_key: str
    document_id: str
    member: MemberInfo

    def to_wire(self) -> dict[str, Any]:
        return {"k": "l", "a": self.api_key, "d": self.document_id, "m": self.member.info()}


@dataclass(frozen=True, slots=True)
class WhoIsThere:
    """A node opened the document: the others announce their members of it."""

    api_key: str
    document_id: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": "who", "a": self.api_key, "d": self.document_id}


@dataclass(frozen=True, slots=True)
class DocumentDeleted:
    """The document and everything stored for it were deleted (by the storage engine,
    in the deleting transaction): close its connections."""

    api_key: str
    document_id: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": "x", "a": self.api_key, "d": self.document_id}


@dataclass(frozen=True, slots=True)
class Heartbeat:
    def to_wire(self) -> dict[str, Any]:
        return {"k": "hb"}


@dataclass(frozen=True, slots=True)
class Resync:
    """Delivered locally by the store after its listen connection came back."""

    def to_wire(self) -> dict[str, Any]:
        return {"k": "resync"}


DocumentEvent = (
    UpdateCommitted
    | UpdatesCommitted
    | SessionCreated
    | SnapshotStored
    | PresenceRelayed
    | MemberJoined
    | MemberLeft
    | WhoIsThere
    | DocumentDeleted
)
ClusterEvent = DocumentEvent | Heartbeat | Resync


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event and the node that sent it (None for local events)."""

    node: str | None
    event: ClusterEvent


class _Bad(Exception):
    pass


def _str(wire: dict[str, object], name: str, *, max_len: int | None = None) -> str:
    value = wire.get(name)
    if not isinstance(value, str) or not value:
        raise _Bad(name)
    if max_len is not None and len(value) > max_len:
        raise _Bad(name)
    return value


def _int(wire: dict[str, object], name: str) -> int:
    value = wire.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad(name)
    return value


def _member_info(member: object) -> MemberInfo:
    if not isinstance(member, dict):
        raise _Bad("m")
    if "client_info" in member and not isinstance(member["client_info"], dict):
        raise _Bad("client_info")
    client_info = member.get("client_info")  # a dict, or None when absent
    caret = member.get("caret")
    if isinstance(caret, bool) or not isinstance(caret, int):
        raise _Bad("caret")
    return MemberInfo(
        user_id=_str(member, "user_id"),
        client_id=_str(member, "client_id"),
        caret=caret,
        role=_str(member, "role"),
        client_info=client_info,
    )


def parse_member(member: object) -> MemberInfo | None:
    """A member object (``Member.info()``) as a ``MemberInfo``, or None if malformed."""
    try:
        return _member_info(member)
    except _Bad:
        return None


def _entry(item: object) -> CommittedEntry:
    if not isinstance(item, list) or len(item) != 5:
        raise _Bad("u")
    seq, client_id, counter, user_id, data = item
    for number in (seq, counter):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise _Bad("u")
    if (
        not isinstance(client_id, str)
        or not client_id
        or not isinstance(user_id, str)
        or not user_id
        or (data is not None and not isinstance(data, str))
    ):
        raise _Bad("u")
    return CommittedEntry(seq, client_id, counter, user_id, data)


def _parse(kind: str, wire: dict[str, object]) -> ClusterEvent | None:
    if kind == "hb":
        return Heartbeat()
    if kind == "resync":
        return Resync()
    # The document's key: only one a client's hello could have named (an event naming
    # a longer one cannot be about a document any node has open).
    api_key = _str(wire, "a", max_len=MAX_API_KEY)
    document_id = _str(wire, "d", max_len=MAX_DOCUMENT_ID)
    if kind == "u":
        data = wire.get("data")
        if data is not None and not isinstance(data, str):
            raise _Bad("data")
        sent = wire.get("t", 0.0)
        if isinstance(sent, bool) or not isinstance(sent, int | float):
            raise _Bad("t")
        return UpdateCommitted(
            api_key,
            document_id,
            _int(wire, "s"),
            _str(wire, "sid"),
            _str(wire, "c"),
            _int(wire, "n"),
            _str(wire, "uid"),
            float(sent),
            data,
        )
    if kind == "ub":
        sent = wire.get("t", 0.0)
        if isinstance(sent, bool) or not isinstance(sent, int | float):
            raise _Bad("t")
        raw = wire.get("u")
        if not isinstance(raw, list) or not raw or len(raw) > 100_000:
            raise _Bad("u")
        return UpdatesCommitted(
            api_key,
            document_id,
            _str(wire, "sid"),
            float(sent),
            tuple(_entry(item) for item in raw),
        )
    if kind == "s":
        return SessionCreated(api_key, document_id, _str(wire, "sid"))
    if kind == "p":
        return SnapshotStored(api_key, document_id, _int(wire, "s"))
    if kind == "pr":
        return PresenceRelayed(
            api_key, document_id, _str(wire, "c"), _str(wire, "uid"), _str(wire, "data")
        )
    if kind == "j":
        return MemberJoined(api_key, document_id, _member_info(wire.get("m")))
    if kind == "l":
        return MemberLeft(api_key, document_id, _member_info(wire.get("m")))
    if kind == "who":
        return WhoIsThere(api_key, document_id)
    if kind == "x":
        return DocumentDeleted(api_key, document_id)
    return None


def parse_event(wire: object) -> Envelope | None:
    """A wire object as a typed event, or None when it is malformed or unknown."""
    if not isinstance(wire, dict):
        return None
    kind = wire.get("k")
    node = wire.get("node")
    if not isinstance(kind, str) or (node is not None and not isinstance(node, str)):
        return None
    try:
        event = _parse(kind, wire)
    except _Bad:
        return None
    return None if event is None else Envelope(node, event)
