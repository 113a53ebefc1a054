"""Every frame the server sends, built in one place (docs/protocol.md, "Server → client
messages"). Each function returns the encoded JSON text of one message; an update is an
``UpdateFrame`` that encodes itself once per representation (JSON text for JSON clients,
a binary frame for clients that negotiated ``binary``) and is shared by every receiver."""

from __future__ import annotations

import base64
from typing import Any

from tandem.protocol import binary
from tandem.protocol.errors import ProtocolError
from tandem.protocol.messages import b64, batch_frame, encode
from tandem.storage.records import SessionRecord, UpdateRecord, VersionRecord

__all__ = [
    "UpdateFrame",
    "ack",
    "batch_frame",
    "binary_batch",
    "client_joined",
    "client_left",
    "error",
    "history_updates",
    "new_session",
    "presence",
    "request_failed",
    "session_created",
    "session_json",
    "session_rejected",
    "snapshot",
    "snapshot_ack",
    "snapshot_request",
    "synced",
    "token_accepted",
    "update",
    "update_b64",
    "update_from_b64",
    "version",
    "version_json",
    "versions",
    "welcome",
]


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


def welcome(
    *,
    protocol: int,
    user_id: str,
    role: str,
    client_id: str,
    caret: int,
    version: int,
    session: SessionRecord | None,
    clients: list[dict[str, Any]],
    token_expires_at: float,
    limits: dict[str, Any],
    counter: int,
    binary: bool = False,
) -> str:
    extra: dict[str, Any] = {"binary": True} if binary else {}
    return encode(
        {
            "type": "welcome",
            "protocol": protocol,
            "user_id": user_id,
            "role": role,
            "client_id": client_id,
            "caret": caret,
            "version": version,
            "session": session_json(session) if session is not None else None,
            "clients": clients,
            "token_expires_at": token_expires_at,
            "limits": limits,
            "counter": counter,
            **extra,
        }
    )


def snapshot(session_id: str, seq: int, data: bytes) -> str:
    return encode({"type": "snapshot", "session_id": session_id, "seq": seq, "data": b64(data)})


class UpdateFrame:
    """One accepted update as the server sends it: built once per publish, shared by all
    receivers; each representation is encoded on first use and cached."""

    __slots__ = (
        "_binary",
        "_data",
        "_data_b64",
        "_text",
        "client_id",
        "counter",
        "seq",
        "session_id",
        "user_id",
    )

    def __init__(
        self,
        seq: int,
        session_id: str,
        client_id: str,
        counter: int,
        user_id: str,
        data: bytes | None = None,
        data_b64: str | None = None,
    ) -> None:
        self.seq = seq
        self.session_id = session_id
        self.client_id = client_id
        self.counter = counter
        self.user_id = user_id
        self._data = data
        self._data_b64 = data_b64
        self._text: str | None = None
        self._binary: bytes | None = None

    @property
    def nbytes(self) -> int:
        """The ciphertext's size in bytes."""
        if self._data is not None:
            return len(self._data)
        b64 = self._data_b64 or ""
        return len(b64) * 3 // 4 - b64[-2:].count("=")

    @property
    def text(self) -> str:
        if self._text is None:
            data_b64 = self._data_b64
            if data_b64 is None:
                data_b64 = b64(self._data or b"")
            self._text = update_b64(
                self.seq, self.session_id, self.client_id, self.counter, self.user_id, data_b64
            )
        return self._text

    @property
    def binary(self) -> bytes:
        if self._binary is None:
            data = self._data
            if data is None:
                data = base64.b64decode(self._data_b64 or "")
            self._binary = binary.encode_server_update(
                self.seq, self.session_id, self.client_id, self.counter, self.user_id, data
            )
        return self._binary


def update(
    seq: int, session_id: str, client_id: str, counter: int, user_id: str, data: bytes
) -> UpdateFrame:
    return UpdateFrame(seq, session_id, client_id, counter, user_id, data=data)


def update_from_b64(
    seq: int, session_id: str, client_id: str, counter: int, user_id: str, data_b64: str
) -> UpdateFrame:
    """An update whose ciphertext is already base64 (as cluster events carry it)."""
    return UpdateFrame(seq, session_id, client_id, counter, user_id, data_b64=data_b64)


def binary_batch(frames: list[str | bytes]) -> bytes:
    """Several messages (JSON text or binary frames) as one binary ``batch`` frame."""
    return binary.encode_batch(frames)


def update_b64(
    seq: int, session_id: str, client_id: str, counter: int, user_id: str, data_b64: str
) -> str:
    """An update whose ciphertext is already base64 (as cluster events carry it)."""
    return encode(
        {
            "type": "update",
            "seq": seq,
            "session_id": session_id,
            "client_id": client_id,
            "counter": counter,
            "user_id": user_id,
            "data": data_b64,
        }
    )


def synced(session_id: str, version: int) -> str:
    return encode({"type": "synced", "session_id": session_id, "version": version})


def ack(counter: int, seq: int, duplicate: bool) -> str:
    return encode({"type": "ack", "counter": counter, "seq": seq, "duplicate": duplicate})


def session_created(session_id: str, version: int) -> str:
    return encode({"type": "session_created", "session_id": session_id, "version": version})


def session_rejected(session_id: str, reason: str) -> str:
    return encode({"type": "session_rejected", "session_id": session_id, "reason": reason})


def new_session(session: SessionRecord) -> str:
    return encode({"type": "new_session", "session": session_json(session)})


def client_joined(member: dict[str, Any]) -> str:
    return encode({"type": "client_joined", **member})


def client_left(member: dict[str, Any]) -> str:
    return encode({"type": "client_left", **member})


def presence(client_id: str, user_id: str, data_b64: str) -> str:
    return encode(
        {"type": "presence", "client_id": client_id, "user_id": user_id, "data": data_b64}
    )


def snapshot_request(seq: int) -> str:
    return encode({"type": "snapshot_request", "seq": seq})


def snapshot_ack(
    seq: int, accepted: bool, message: str | None = None, *, version: int | None = None
) -> str:
    frame: dict[str, Any] = {"type": "snapshot_ack", "seq": seq, "accepted": accepted}
    if message is not None:
        frame["message"] = message
    if version is not None:
        frame["version"] = version
    return encode(frame)


# -- version history -------------------------------------------------------------------
def version_json(record: VersionRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "seq": record.seq,
        "session_id": record.session_id,
        "key_hint": record.key_hint,
        "kind": record.kind,
        "created_at": record.created_at,
        "editors": list(record.editors),
        "size": record.size,
        "name": None if record.name is None else b64(record.name),
    }


def versions(
    request_id: int, records: list[VersionRecord], sessions: list[SessionRecord], more: bool
) -> str:
    return encode(
        {
            "type": "versions",
            "id": request_id,
            "versions": [version_json(r) for r in records],
            "sessions": [session_json(s) for s in sessions],
            "more": more,
        }
    )


def version(request_id: int, record: VersionRecord, session: SessionRecord | None) -> str:
    assert record.ciphertext is not None
    return encode(
        {
            "type": "version",
            "id": request_id,
            "version": version_json(record),
            "session": session_json(session) if session is not None else None,
            "data": b64(record.ciphertext),
        }
    )


def history_updates(
    request_id: int, records: list[UpdateRecord], sessions: list[SessionRecord], more: bool
) -> str:
    return encode(
        {
            "type": "history_updates",
            "id": request_id,
            "updates": [
                {
                    "seq": u.seq,
                    "session_id": u.session_id,
                    "client_id": u.client_id,
                    "counter": u.counter,
                    "user_id": u.user_id,
                    "data": b64(u.ciphertext),
                }
                for u in records
            ],
            "sessions": [session_json(s) for s in sessions],
            "more": more,
        }
    )


def request_failed(request_id: int, code: str, message: str) -> str:
    """A history request could not be answered; the connection stays open."""
    return encode({"type": "request_failed", "id": request_id, "code": code, "message": message})


def token_accepted(expires_at: float, role: str) -> str:
    return encode({"type": "token_accepted", "expires_at": expires_at, "role": role})


def error(exc: ProtocolError) -> str:
    frame: dict[str, Any] = {
        "type": "error",
        "code": exc.code,
        "message": exc.message,
        "close": exc.close_code,
    }
    if exc.detail:
        frame["detail"] = exc.detail
    if exc.retry_after is not None:
        frame["retry_after"] = exc.retry_after
    return encode(frame)
