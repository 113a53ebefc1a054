"""Storage engines behind one narrow interface (``Store``)."""

from tandem.storage.base import (
    VERSION_KINDS,
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
    VersionRecord,
)

__all__ = [
    "VERSION_KINDS",
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
    "VersionRecord",
]
