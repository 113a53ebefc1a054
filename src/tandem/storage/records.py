"""Plain records the storage engines return. The server never sees plaintext in any of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key: str
    name: str
    origins: tuple[str, ...] = ()
    jwks_url: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One encryption session of a document. Only the key hint and KDF inputs are plain."""

    session_id: str
    key_hint: str
    salt: bytes
    iterations: int
    wrapped_key: bytes
    creator: str
    created_at: float
    start_seq: int = 0  # the document version at which this session began


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    seq: int
    session_id: str
    client_id: str
    counter: int
    user_id: str
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    seq: int
    session_id: str
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One stored checkpoint of a document's history (docs/protocol.md, "Version history").

    ``name`` is sealed by the client (the server cannot read it); ``editors`` are the
    user ids (``sub``) of the updates since the previous version; ``size`` is the
    checkpoint's ciphertext length; ``ciphertext`` is filled only by ``get_version``.
    """

    number: int
    seq: int
    session_id: str
    key_hint: str
    kind: str
    created_at: float
    editors: tuple[str, ...]
    size: int
    name: bytes | None = None
    ciphertext: bytes | None = None


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    api_key: str
    document_id: str
    version: int
    session_count: int
    active_session: SessionRecord | None
    snapshot_seq: int | None
    stored_updates: int
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    seq: int
    duplicate: bool = False


@dataclass(slots=True)
class CreateSessionResult:
    created: bool
    session: SessionRecord
    version: int = 0


@dataclass(frozen=True, slots=True)
class ClientCounter:
    """The user a client id is bound to in a session, and its highest stored counter."""

    user_id: str | None
    max_counter: int
