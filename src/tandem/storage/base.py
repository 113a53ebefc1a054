"""The narrow storage interface every engine (SQLite, PostgreSQL) implements.

All methods are coroutines but ``start_append_updates``, which queues appends and
reports their results through a callback and a future. An engine must make
``append_update`` durable before it returns (and ``start_append_updates``' results
before it reports them: invariant 2), and ``create_session`` must have exactly one
winner per document across every process that shares the database (invariant 3).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tandem.errors import TandemError
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

log = logging.getLogger("tandem.storage")

#: Called on the event loop with an append's results the moment they are known (see
#: ``Store.start_append_updates``). It may return a callable the engine runs once after
#: every append settled in the same wake-up (the server flushes a document's released
#: run there, so one group commit goes out as one write per receiver).
OnStored = Callable[[list[AppendResult]], Callable[[], None] | None]

#: Kinds of stored versions: ``session`` (a session's initial snapshot), ``auto`` (a
#: snapshot the server asked for), ``named`` (on demand, with a sealed name), ``restore``
#: (the state after restoring an older version), ``repair`` (a client replaced a latest
#: checkpoint it could not use).
VERSION_KINDS = frozenset({"session", "auto", "named", "restore", "repair"})
#: The most editors listed on one version (the rest are counted in storage only).
MAX_VERSION_EDITORS = 50


class StorageError(TandemError):
    code = "storage_error"


class StorageUnavailable(StorageError):
    """The database cannot be reached; nothing was stored."""

    code = "storage_unavailable"


class UnknownApiKey(StorageError):
    code = "unknown_api_key"


class StaleSession(StorageError):
    """An update or snapshot names a session that is not the document's active one."""

    code = "stale_session"


class SnapshotRejected(StorageError):
    code = "snapshot_rejected"


class ClientIdTaken(StorageError):
    """Updates under this client id were stored for another user (in this session)."""

    code = "client_id_taken"


class Store(abc.ABC):
    """Storage for tenants (API keys + their public keys) and encrypted documents."""

    #: True when other server processes share this store (their changes arrive as events).
    shared: bool = False
    #: This process's id in events it publishes (engines that are shared set it).
    node_id: str = "local"

    # -- events between server nodes (shared engines only) ---------------------------
    async def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Deliver events from every node (committed updates, new sessions, snapshots,
        and what ``notify`` sends) to ``handler``. A no-op for a single-process store.
        After a lost connection is re-established, ``{"k": "resync"}`` is delivered so
        the server can read what it may have missed."""
        return None

    async def notify(self, event: dict[str, Any]) -> None:
        """Send an ephemeral event (presence, joins) to every node. Best effort."""
        return None

    # -- lifecycle -----------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and run pending schema migrations."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- API keys (tenants) ----------------------------------------------------------
    @abc.abstractmethod
    async def create_api_key(self, name: str, origins: tuple[str, ...] = ()) -> ApiKeyRecord: ...

    @abc.abstractmethod
    async def get_api_key(self, key: str) -> ApiKeyRecord | None: ...

    @abc.abstractmethod
    async def list_api_keys(self) -> list[ApiKeyRecord]: ...

    @abc.abstractmethod
    async def delete_api_key(self, key: str) -> bool:
        """Delete the key, its public keys and its documents. False if it did not exist."""

    @abc.abstractmethod
    async def set_jwks_url(self, key: str, url: str | None) -> None: ...

    # -- public keys (JWK dicts, public members only) ------------------------------
    @abc.abstractmethod
    async def add_public_keys(self, api_key: str, jwks: list[dict[str, Any]]) -> None:
        """Insert or replace keys by their ``kid`` (every JWK given here has one)."""

    @abc.abstractmethod
    async def list_public_keys(self, api_key: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def remove_public_key(self, api_key: str, kid: str) -> bool: ...

    # -- documents -----------------------------------------------------------------
    @abc.abstractmethod
    async def active_session(self, api_key: str, document_id: str) -> SessionRecord | None: ...

    @abc.abstractmethod
    async def create_session(
        self,
        api_key: str,
        document_id: str,
        session: SessionRecord,
        initial_snapshot: bytes,
        *,
        replaces: str | None = None,
        at_seq: int | None = None,
        prune_before: float | None = None,
    ) -> CreateSessionResult:
        """Create the document's session atomically.

        With ``replaces=None`` this succeeds only if the document has no session;
        with ``replaces=ID`` only if ``ID`` is the active session (key rotation)
        and, when ``at_seq`` is given, the document is still at that version (the
        snapshot was sealed for it).
        On success the initial snapshot is stored as a version (kind ``session``) at
        the document's current version; the old sessions' updates and checkpoints
        stay readable with their own key hints. Otherwise ``created`` is False and
        ``session`` is the winner's.
        """

    @abc.abstractmethod
    async def append_update(
        self,
        api_key: str,
        document_id: str,
        session_id: str,
        client_id: str,
        counter: int,
        user_id: str,
        ciphertext: bytes,
    ) -> AppendResult:
        """Durably store an update with the next contiguous sequence number.

        A (client_id, counter) seen before returns its original seq with
        ``duplicate=True``. Raises StaleSession if ``session_id`` is not active, and
        ClientIdTaken if updates under ``client_id`` were stored for another user in
        this session (a client id is bound to its user).
        """

    async def append_updates(
        self,
        api_key: str,
        document_id: str,
        session_id: str,
        client_id: str,
        user_id: str,
        items: list[tuple[int, bytes]],
    ) -> list[AppendResult]:
        """Append one client's updates ``(counter, ciphertext)`` in order, in one
        transaction where the engine can: they get consecutive sequence numbers in
        the order given (Yjs expects a client's own updates in order)."""
        return [
            await self.append_update(
                api_key, document_id, session_id, client_id, counter, user_id, data
            )
            for counter, data in items
        ]

    def start_append_updates(
        self,
        api_key: str,
        document_id: str,
        session_id: str,
        client_id: str,
        user_id: str,
        items: list[tuple[int, bytes]],
        on_stored: OnStored | None,
    ) -> asyncio.Future[list[AppendResult]]:
        """``append_updates``, queued before this call returns (no loop turn to start a
        task), with ``on_stored(results)`` called on the event loop as soon as the
        results are durable and known, before any task awaiting the returned future
        resumes: the server relays committed updates in the very loop turn the commit is
        reported in. ``on_stored`` is not called when the append fails (the future holds
        the error) or the future was cancelled; an exception it raises becomes the
        future's. Engines with their own write queue override this; the default runs
        ``append_updates`` in a task."""
        task = asyncio.ensure_future(
            self.append_updates(api_key, document_id, session_id, client_id, user_id, items)
        )
        settled: asyncio.Future[list[AppendResult]] = asyncio.get_running_loop().create_future()

        def done(finished: asyncio.Future[list[AppendResult]]) -> None:
            if settled.done():
                return
            if finished.cancelled():
                settled.cancel()
            elif finished.exception() is not None:
                settled.set_exception(finished.exception())  # type: ignore[arg-type]
            else:
                settle_writes([(settled, True, finished.result(), on_stored)])

        task.add_done_callback(done)
        settled.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        return settled

    @abc.abstractmethod
    async def latest_snapshot(self, api_key: str, document_id: str) -> SnapshotRecord | None: ...

    @abc.abstractmethod
    async def updates_after(
        self, api_key: str, document_id: str, seq: int, limit: int | None = None
    ) -> list[UpdateRecord]:
        """Updates of the active session with sequence number > ``seq``, in order."""

    @abc.abstractmethod
    async def store_snapshot(
        self,
        api_key: str,
        document_id: str,
        session_id: str,
        seq: int,
        ciphertext: bytes,
        *,
        kind: str = "auto",
        name: bytes | None = None,
        prune_before: float | None = None,
    ) -> VersionRecord:
        """Store a checkpoint covering updates up to ``seq`` as the document's next
        version. Nothing is deleted: older checkpoints and the updates they cover stay
        (history only grows), except what ``prune_history(prune_before)`` removes.

        Refused (SnapshotRejected) beyond the document's version, below the latest
        checkpoint's seq, and, for ``kind="auto"``, at the latest checkpoint's seq."""

    @abc.abstractmethod
    async def prune_history(self, api_key: str, document_id: str, before: float) -> int:
        """Forget history older than ``before`` (a time): the versions created before it
        except the newest of those (the base the window starts from), and the updates
        that base covers. The newest version and everything after it always stay.
        Returns the number of versions removed."""

    @abc.abstractmethod
    async def list_versions(
        self, api_key: str, document_id: str, *, before: int | None = None, limit: int = 50
    ) -> list[VersionRecord]:
        """Versions newest first (number < ``before`` when given), without ciphertext."""

    @abc.abstractmethod
    async def get_version(
        self, api_key: str, document_id: str, number: int
    ) -> VersionRecord | None:
        """One version with its checkpoint ciphertext."""

    @abc.abstractmethod
    async def get_sessions(
        self, api_key: str, document_id: str, session_ids: list[str]
    ) -> list[SessionRecord]:
        """The given sessions of the document (old ones included)."""

    @abc.abstractmethod
    async def updates_between(
        self,
        api_key: str,
        document_id: str,
        after: int,
        upto: int,
        limit: int,
        *,
        max_bytes: int | None = None,
    ) -> list[UpdateRecord]:
        """Stored updates with ``after < seq <= upto`` of any session, in order: at most
        ``limit``, and (always at least one) no more than ``max_bytes`` of ciphertext."""

    @abc.abstractmethod
    async def document_info(self, api_key: str, document_id: str) -> DocumentInfo | None: ...

    # -- quotas and client ids (read-only helpers) -----------------------------------
    @abc.abstractmethod
    async def client_counter(
        self, api_key: str, document_id: str, session_id: str, client_id: str
    ) -> ClientCounter | None:
        """Who stored updates under ``client_id`` in the session and its highest counter."""

    @abc.abstractmethod
    async def api_key_stored_bytes(self, api_key: str) -> int:
        """The ciphertext bytes (updates and checkpoints) stored for the API key's documents."""

    @abc.abstractmethod
    async def recount_logs(self) -> int:
        """Set every document's log counters (``DocumentInfo.stored_updates`` and the log's
        part of ``stored_bytes``, kept by every append and prune) from its stored rows;
        returns the number of documents. Needed only after nodes from before schema
        migration 5 appended during a rolling upgrade (they do not keep the counters)."""

    # -- erasure (docs/security.md, "Deleting a document") -------------------------------
    @abc.abstractmethod
    async def delete_document(self, api_key: str, document_id: str) -> bool:
        """Delete the document and everything stored for it (sessions, the update log,
        its versions, client counters) in one transaction, and tell every node (shared
        engines: a ``document_deleted`` event). False if it did not exist. Call
        ``scrub`` afterwards to remove the deleted bytes from the database files."""

    @abc.abstractmethod
    async def list_documents(self, api_key: str) -> list[str]:
        """The ids of the API key's documents, sorted."""

    @abc.abstractmethod
    async def existing_documents(self, api_key: str, document_ids: list[str]) -> set[str]:
        """Which of ``document_ids`` exist (a deletion watcher's check)."""

    async def scrub(self) -> str:
        """Make what was deleted unrecoverable from the database files where the engine
        can (SQLite: deleted content is zeroed as it is deleted, then the WAL is
        checkpointed and truncated). Returns what was done, for humans."""
        return "nothing to do"


def settle_writes(
    entries: list[tuple[asyncio.Future[Any], bool, Any, OnStored | None]],
) -> None:
    """Resolve finished writes ``(future, ok, result or error, on_stored)`` in order: a
    successful append's ``on_stored`` runs before its future is resolved, and every
    distinct callable those calls returned runs once at the end. A future already done
    (its caller gave up) is skipped."""
    after: dict[Callable[[], None], None] = {}
    for future, ok, value, on_stored in entries:
        if future.done():
            continue
        if not ok:
            future.set_exception(value)
            continue
        if on_stored is not None:
            try:
                then = on_stored(value)
            except Exception as exc:  # the caller's bug: its own write fails, not the others
                future.set_exception(exc)
                continue
            if then is not None:
                after[then] = None
        future.set_result(value)
    for then in after:
        try:
            then()
        except Exception:
            log.exception("error after storing updates")
