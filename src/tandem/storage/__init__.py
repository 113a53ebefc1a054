"""Storage engines behind one narrow interface (``Store``)."""

from tandem.storage.base import (
    ClientIdTaken,
    SnapshotRejected,
    StaleSession,
    StorageError,
    StorageUnavailable,
    Store,
    UnknownApiKey,
)
from tandem.storage.records import (
    ApiKeyRecord,
    AppendResult,
    ClientCounter,
    CreateSessionResult,
    DocumentInfo,
    SessionRecord,
    SnapshotRecord,
    UpdateRecord,
)

__all__ = [
    "ApiKeyRecord",
    "AppendResult",
    "ClientCounter",
    "ClientIdTaken",
    "CreateSessionResult",
    "DocumentInfo",
    "SessionRecord",
    "SnapshotRecord",
    "SnapshotRejected",
    "StaleSession",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "UnknownApiKey",
    "UpdateRecord",
]
