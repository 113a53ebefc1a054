"""SQLite engine: one file, WAL, and a single writer thread with group commit.

Writes from every connection go through one queue; the writer thread runs all
queued jobs in one transaction (each inside its own savepoint, so one failing
job does not undo the others), commits with ``synchronous=FULL`` and only then
resolves the callers' futures. An acknowledged update is therefore on disk
(invariant 2), and many concurrent writers share one fsync.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tandem.storage.base import (
    MAX_VERSION_EDITORS,
    VERSION_KINDS,
    ClientIdTaken,
    OnStored,
    SnapshotRejected,
    StaleSession,
    StorageError,
    StorageUnavailable,
    Store,
    UnknownApiKey,
    settle_writes,
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
from tandem.storage.sqlite_schema import MIGRATIONS, RECOUNT_LOGS

log = logging.getLogger("tandem.storage")

T = TypeVar("T")
_MAX_BATCH = 256
_STOP = object()


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    # Deleted content (rows, freed pages) is overwritten with zeros, not left behind in
    # free space: a deleted document must not be recoverable from the file (GDPR).
    conn.execute("PRAGMA secure_delete=ON")
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    (level,) = conn.execute("PRAGMA user_version").fetchone()
    if level > len(MIGRATIONS):
        raise StorageError(
            f"the database schema (version {level}) is newer than this Tandem "
            f"(knows {len(MIGRATIONS)}); upgrade Tandem"
        )
    for number, script in enumerate(MIGRATIONS[level:], start=level + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class _Writer(threading.Thread):
    """Runs write jobs in batches, one transaction and one fsync per batch."""

    def __init__(self, path: str) -> None:
        super().__init__(name="tandem-sqlite-writer", daemon=True)
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._path = path
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = _connect(self._path)
            _migrate(conn)
        except BaseException as exc:  # reported to open()
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            while True:
                first = self.jobs.get()
                if first is _STOP:
                    return
                batch = [first]
                stop = False
                while len(batch) < _MAX_BATCH:
                    try:
                        job = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stop = True
                        break
                    batch.append(job)
                self._run_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    @staticmethod
    def _run_batch(conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _loop, _fut, _on_stored in batch:
                conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, fn(conn)))
                    conn.execute("RELEASE job")
                except Exception as exc:  # the job's own failure: raised to its awaiter
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
        except Exception as exc:  # the batch's transaction failed: raised to every awaiter
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.warning("SQLite write batch of %d job(s) failed: %r", len(batch), exc)
            failure = StorageUnavailable(f"SQLite write failed: {exc}")
            failure.__cause__ = exc
            outcomes = [(False, failure)] * len(batch)
        # One wake-up of each event loop per batch, not one per job: every waiter of a
        # group commit resumes in the same loop turn (and their fan-out goes out as one
        # run, server.fanout).
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, bool, Any, Any]]] = {}
        for (_fn, loop, fut, on_stored), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((fut, ok, value, on_stored))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(settle_writes, settled)


def _session_from_row(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(
        session_id=row[0],
        key_hint=row[1],
        salt=bytes(row[2]),
        iterations=row[3],
        wrapped_key=bytes(row[4]),
        creator=row[5],
        created_at=row[6],
        start_seq=row[7],
    )


_VERSION_COLUMNS = (
    "v.number, v.seq, v.session_id, s.key_hint, v.kind, v.created_at, v.editors,"
    " length(v.ciphertext), v.name"
)
_VERSION_FROM = (
    " FROM versions v JOIN sessions s ON s.api_key = v.api_key"
    " AND s.document_id = v.document_id AND s.session_id = v.session_id"
)


def _version_from_row(row: tuple[Any, ...], ciphertext: bytes | None = None) -> VersionRecord:
    return VersionRecord(
        number=row[0],
        seq=row[1],
        session_id=row[2],
        key_hint=row[3],
        kind=row[4],
        created_at=row[5],
        editors=tuple(json.loads(row[6])),
        size=row[7],
        name=None if row[8] is None else bytes(row[8]),
        ciphertext=ciphertext,
    )


def _add_version(
    conn: sqlite3.Connection,
    api_key: str,
    document_id: str,
    seq: int,
    session_id: str,
    kind: str,
    name: bytes | None,
    ciphertext: bytes,
) -> VersionRecord:
    """Append a checkpoint as the document's next version (numbers never repeat: the
    newest version is never pruned)."""
    if kind not in VERSION_KINDS:
        raise StorageError(f"unknown version kind {kind!r}")
    last = conn.execute(
        "SELECT number, seq FROM versions WHERE api_key = ? AND document_id = ?"
        " ORDER BY number DESC LIMIT 1",
        (api_key, document_id),
    ).fetchone()
    number, since = (1, 0) if last is None else (last[0] + 1, last[1])
    editors = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT user_id FROM updates WHERE api_key = ? AND document_id = ?"
            " AND seq > ? AND seq <= ? ORDER BY user_id LIMIT ?",
            (api_key, document_id, since, seq, MAX_VERSION_EDITORS),
        )
    ]
    created_at = time.time()
    conn.execute(
        "INSERT INTO versions (api_key, document_id, number, seq, session_id, kind, name,"
        " created_at, editors, ciphertext) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            api_key,
            document_id,
            number,
            seq,
            session_id,
            kind,
            name,
            created_at,
            json.dumps(editors),
            ciphertext,
        ),
    )
    hint = conn.execute(
        "SELECT key_hint FROM sessions WHERE api_key = ? AND document_id = ? AND session_id = ?",
        (api_key, document_id, session_id),
    ).fetchone()
    return VersionRecord(
        number=number,
        seq=seq,
        session_id=session_id,
        key_hint=hint[0] if hint else "",
        kind=kind,
        created_at=created_at,
        editors=tuple(editors),
        size=len(ciphertext),
        name=name,
    )


def _prune(conn: sqlite3.Connection, api_key: str, document_id: str, before: float) -> int:
    """The retention window: see ``Store.prune_history``."""
    base = conn.execute(
        "SELECT number, seq FROM versions WHERE api_key = ? AND document_id = ?"
        " AND created_at < ? ORDER BY number DESC LIMIT 1",
        (api_key, document_id, before),
    ).fetchone()
    if base is None:
        return 0
    number, horizon = base
    removed = conn.execute(
        "DELETE FROM versions WHERE api_key = ? AND document_id = ? AND number < ?",
        (api_key, document_id, number),
    ).rowcount
    # Re-sent updates older than the horizon are still recognised as duplicates.
    conn.execute(
        "UPDATE client_counters SET compacted_counter = max(compacted_counter, ("
        " SELECT coalesce(max(u.counter), 0) FROM updates u"
        " WHERE u.api_key = client_counters.api_key"
        " AND u.document_id = client_counters.document_id"
        " AND u.session_id = client_counters.session_id"
        " AND u.client_id = client_counters.client_id AND u.seq <= ?))"
        " WHERE api_key = ? AND document_id = ?",
        (horizon, api_key, document_id),
    )
    # The pruned range only (the primary key's prefix), never the whole log.
    count, size = conn.execute(
        "SELECT count(*), coalesce(sum(length(ciphertext)), 0) FROM updates"
        " WHERE api_key = ? AND document_id = ? AND seq <= ?",
        (api_key, document_id, horizon),
    ).fetchone()
    conn.execute(
        "DELETE FROM updates WHERE api_key = ? AND document_id = ? AND seq <= ?",
        (api_key, document_id, horizon),
    )
    conn.execute(
        "UPDATE documents SET log_updates = max(0, log_updates - ?),"
        " log_bytes = max(0, log_bytes - ?) WHERE api_key = ? AND document_id = ?",
        (count, size, api_key, document_id),
    )
    return removed


_SESSION_FIELDS = (
    "session_id",
    "key_hint",
    "salt",
    "iterations",
    "wrapped_key",
    "creator",
    "created_at",
    "start_seq",
)
_SESSION_COLUMNS = ", ".join(_SESSION_FIELDS)
_S_COLUMNS = ", ".join(f"s.{name}" for name in _SESSION_FIELDS)


class SQLiteStore(Store):
    """The default engine: a single SQLite file in WAL mode."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer: _Writer | None = None
        self._readers = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------
    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = _Writer(str(self.path))
        writer.start()
        await asyncio.to_thread(writer.ready.wait)
        if writer.error is not None:
            raise StorageUnavailable(f"cannot open {self.path}: {writer.error}")
        self._writer = writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.jobs.put(_STOP)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        self._readers = threading.local()

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._queue_write(fn)

    def _queue_write(
        self, fn: Callable[[sqlite3.Connection], T], on_stored: OnStored | None = None
    ) -> asyncio.Future[T]:
        """Hand ``fn`` to the writer thread now; the future resolves in the loop turn the
        batch's commit is reported in (``on_stored`` first, see ``settle_writes``)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._writer is None:
            fut.set_exception(StorageUnavailable("the store is not open"))
            return fut
        self._writer.jobs.put((fn, loop, fut, on_stored))
        return fut

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = _connect(str(self.path))
            self._readers.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StorageUnavailable("the store is not open")

        def run() -> T:
            conn = self._reader()
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        return await asyncio.to_thread(run)

    # -- API keys --------------------------------------------------------------------
    async def create_api_key(self, name: str, origins: tuple[str, ...] = ()) -> ApiKeyRecord:
        record = ApiKeyRecord(
            # The prefix keeps keys from starting with "-" (argparse would read an option).
            key="tk_" + secrets.token_urlsafe(30),
            name=name,
            origins=tuple(origins),
            created_at=time.time(),
        )

        def insert(conn: sqlite3.Connection) -> ApiKeyRecord:
            conn.execute(
                "INSERT INTO api_keys (key, name, origins, jwks_url, created_at)"
                " VALUES (?, ?, ?, NULL, ?)",
                (record.key, record.name, json.dumps(list(record.origins)), record.created_at),
            )
            return record

        return await self._write(insert)

    @staticmethod
    def _api_key_from_row(row: tuple[Any, ...]) -> ApiKeyRecord:
        return ApiKeyRecord(
            key=row[0],
            name=row[1],
            origins=tuple(json.loads(row[2])),
            jwks_url=row[3],
            created_at=row[4],
        )

    async def get_api_key(self, key: str) -> ApiKeyRecord | None:
        def query(conn: sqlite3.Connection) -> ApiKeyRecord | None:
            row = conn.execute(
                "SELECT key, name, origins, jwks_url, created_at FROM api_keys WHERE key = ?",
                (key,),
            ).fetchone()
            return None if row is None else self._api_key_from_row(row)

        return await self._read(query)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        def query(conn: sqlite3.Connection) -> list[ApiKeyRecord]:
            rows = conn.execute(
                "SELECT key, name, origins, jwks_url, created_at FROM api_keys ORDER BY created_at"
            ).fetchall()
            return [self._api_key_from_row(r) for r in rows]

        return await self._read(query)

    async def delete_api_key(self, key: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM api_keys WHERE key = ?", (key,)).rowcount > 0

        return await self._write(delete)

    async def set_jwks_url(self, key: str, url: str | None) -> None:
        def update(conn: sqlite3.Connection) -> None:
            if conn.execute("UPDATE api_keys SET jwks_url = ? WHERE key = ?", (url, key)).rowcount:
                return
            raise UnknownApiKey("unknown API key")

        await self._write(update)

    # -- public keys -------------------------------------------------------------------
    async def add_public_keys(self, api_key: str, jwks: list[dict[str, Any]]) -> None:
        now = time.time()

        def insert(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM api_keys WHERE key = ?", (api_key,)).fetchone() is None:
                raise UnknownApiKey("unknown API key")
            for jwk in jwks:
                kid = jwk.get("kid")
                if not isinstance(kid, str) or not kid:
                    raise StorageError("every stored public key needs a kid")
                conn.execute(
                    "INSERT OR REPLACE INTO public_keys (api_key, kid, jwk, added_at)"
                    " VALUES (?, ?, ?, ?)",
                    (api_key, kid, json.dumps(jwk, sort_keys=True), now),
                )

        await self._write(insert)

    async def list_public_keys(self, api_key: str) -> list[dict[str, Any]]:
        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT jwk FROM public_keys WHERE api_key = ? ORDER BY added_at, kid", (api_key,)
            ).fetchall()
            return [json.loads(r[0]) for r in rows]

        return await self._read(query)

    async def remove_public_key(self, api_key: str, kid: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "DELETE FROM public_keys WHERE api_key = ? AND kid = ?", (api_key, kid)
                ).rowcount
                > 0
            )

        return await self._write(delete)

    # -- documents ---------------------------------------------------------------------
    @staticmethod
    def _active(conn: sqlite3.Connection, api_key: str, document_id: str) -> SessionRecord | None:
        row = conn.execute(
            f"SELECT {_S_COLUMNS} FROM sessions s JOIN documents d"
            " ON d.api_key = s.api_key AND d.document_id = s.document_id"
            " AND d.active_session = s.session_id"
            " WHERE s.api_key = ? AND s.document_id = ?",
            (api_key, document_id),
        ).fetchone()
        return None if row is None else _session_from_row(row)

    async def active_session(self, api_key: str, document_id: str) -> SessionRecord | None:
        return await self._read(lambda conn: self._active(conn, api_key, document_id))

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
        def create(conn: sqlite3.Connection) -> CreateSessionResult:
            doc = conn.execute(
                "SELECT head, active_session FROM documents WHERE api_key = ? AND document_id = ?",
                (api_key, document_id),
            ).fetchone()
            if doc is None:
                known = conn.execute("SELECT 1 FROM api_keys WHERE key = ?", (api_key,))
                if known.fetchone() is None:
                    raise UnknownApiKey("unknown API key")
                conn.execute(
                    "INSERT INTO documents (api_key, document_id, head, active_session, created_at)"
                    " VALUES (?, ?, 0, NULL, ?)",
                    (api_key, document_id, time.time()),
                )
                head, active = 0, None
            else:
                head, active = doc
            if active != replaces or (at_seq is not None and head != at_seq):
                winner = self._active(conn, api_key, document_id)
                assert winner is not None
                return CreateSessionResult(created=False, session=winner, version=head)
            record = SessionRecord(
                session_id=session.session_id,
                key_hint=session.key_hint,
                salt=session.salt,
                iterations=session.iterations,
                wrapped_key=session.wrapped_key,
                creator=session.creator,
                created_at=time.time(),
                start_seq=head,
            )
            try:
                conn.execute(
                    f"INSERT INTO sessions (api_key, document_id, {_SESSION_COLUMNS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        api_key,
                        document_id,
                        record.session_id,
                        record.key_hint,
                        record.salt,
                        record.iterations,
                        record.wrapped_key,
                        record.creator,
                        record.created_at,
                        record.start_seq,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise StorageError("a session with this id already exists") from exc
            conn.execute(
                "UPDATE documents SET active_session = ? WHERE api_key = ? AND document_id = ?",
                (record.session_id, api_key, document_id),
            )
            # A new session starts from its own initial snapshot; the old sessions'
            # updates and checkpoints stay in the history (readable with old key hints).
            _add_version(
                conn,
                api_key,
                document_id,
                head,
                record.session_id,
                "session",
                None,
                initial_snapshot,
            )
            if prune_before is not None:
                _prune(conn, api_key, document_id, prune_before)
            return CreateSessionResult(created=True, session=record, version=head)

        return await self._write(create)

    @staticmethod
    def _append_one(
        conn: sqlite3.Connection,
        api_key: str,
        document_id: str,
        session_id: str,
        client_id: str,
        counter: int,
        user_id: str,
        ciphertext: bytes,
    ) -> AppendResult:
        doc = conn.execute(
            "SELECT head, active_session FROM documents WHERE api_key = ? AND document_id = ?",
            (api_key, document_id),
        ).fetchone()
        if doc is None or doc[1] != session_id:
            raise StaleSession("this session is no longer the document's active session")
        head = doc[0]
        seen = conn.execute(
            "SELECT compacted_counter, max_seq, user_id FROM client_counters WHERE api_key = ?"
            " AND document_id = ? AND session_id = ? AND client_id = ?",
            (api_key, document_id, session_id, client_id),
        ).fetchone()
        if seen is not None and seen[2] is not None and seen[2] != user_id:
            raise ClientIdTaken("this client id is bound to another user")
        stored = conn.execute(
            "SELECT seq FROM updates WHERE api_key = ? AND document_id = ?"
            " AND session_id = ? AND client_id = ? AND counter = ?",
            (api_key, document_id, session_id, client_id, counter),
        ).fetchone()
        if stored is not None:
            return AppendResult(seq=stored[0], duplicate=True)
        if seen is not None and counter <= seen[0]:
            return AppendResult(seq=seen[1], duplicate=True)  # stored, then compacted
        seq = head + 1
        conn.execute(
            "INSERT INTO updates (api_key, document_id, seq, session_id, client_id, counter,"
            " user_id, ciphertext) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (api_key, document_id, seq, session_id, client_id, counter, user_id, ciphertext),
        )
        conn.execute(
            "UPDATE documents SET head = ?, log_updates = log_updates + 1,"
            " log_bytes = log_bytes + ? WHERE api_key = ? AND document_id = ?",
            (seq, len(ciphertext), api_key, document_id),
        )
        conn.execute(
            "INSERT INTO client_counters (api_key, document_id, session_id, client_id,"
            " max_counter, max_seq, user_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (api_key, document_id, session_id, client_id)"
            " DO UPDATE SET max_counter = max(max_counter, excluded.max_counter),"
            " max_seq = max(max_seq, excluded.max_seq),"
            " user_id = coalesce(user_id, excluded.user_id)",
            (api_key, document_id, session_id, client_id, counter, seq, user_id),
        )
        return AppendResult(seq=seq)

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
        return (
            await self.append_updates(
                api_key, document_id, session_id, client_id, user_id, [(counter, ciphertext)]
            )
        )[0]

    async def append_updates(
        self,
        api_key: str,
        document_id: str,
        session_id: str,
        client_id: str,
        user_id: str,
        items: list[tuple[int, bytes]],
    ) -> list[AppendResult]:
        # Not through start_append_updates: a subclass may use the base class's, which
        # runs append_updates.
        return await self._queue_write(
            self._appender(api_key, document_id, session_id, client_id, user_id, items)
        )

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
        return self._queue_write(
            self._appender(api_key, document_id, session_id, client_id, user_id, items),
            on_stored,
        )

    def _appender(
        self,
        api_key: str,
        document_id: str,
        session_id: str,
        client_id: str,
        user_id: str,
        items: list[tuple[int, bytes]],
    ) -> Callable[[sqlite3.Connection], list[AppendResult]]:
        def append(conn: sqlite3.Connection) -> list[AppendResult]:
            return [
                self._append_one(
                    conn, api_key, document_id, session_id, client_id, counter, user_id, data
                )
                for counter, data in items
            ]

        return append

    async def latest_snapshot(self, api_key: str, document_id: str) -> SnapshotRecord | None:
        def query(conn: sqlite3.Connection) -> SnapshotRecord | None:
            row = conn.execute(
                "SELECT seq, session_id, ciphertext FROM versions"
                " WHERE api_key = ? AND document_id = ? ORDER BY number DESC LIMIT 1",
                (api_key, document_id),
            ).fetchone()
            return None if row is None else SnapshotRecord(row[0], row[1], bytes(row[2]))

        return await self._read(query)

    async def updates_after(
        self, api_key: str, document_id: str, seq: int, limit: int | None = None
    ) -> list[UpdateRecord]:
        def query(conn: sqlite3.Connection) -> list[UpdateRecord]:
            rows = conn.execute(
                "SELECT u.seq, u.session_id, u.client_id, u.counter, u.user_id, u.ciphertext"
                " FROM updates u JOIN documents d ON d.api_key = u.api_key"
                " AND d.document_id = u.document_id AND d.active_session = u.session_id"
                " WHERE u.api_key = ? AND u.document_id = ? AND u.seq > ? ORDER BY u.seq"
                " LIMIT ?",
                (api_key, document_id, seq, -1 if limit is None else limit),
            ).fetchall()
            return [UpdateRecord(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

        return await self._read(query)

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
        def store(conn: sqlite3.Connection) -> VersionRecord:
            doc = conn.execute(
                "SELECT head, active_session FROM documents WHERE api_key = ? AND document_id = ?",
                (api_key, document_id),
            ).fetchone()
            if doc is None or doc[1] != session_id:
                raise StaleSession("this session is no longer the document's active session")
            if seq > doc[0]:
                raise SnapshotRejected(
                    f"snapshot claims version {seq} but the document is at {doc[0]}"
                )
            current = conn.execute(
                "SELECT seq FROM versions WHERE api_key = ? AND document_id = ?"
                " ORDER BY number DESC LIMIT 1",
                (api_key, document_id),
            ).fetchone()
            if current is not None and (current[0] > seq or (current[0] == seq and kind == "auto")):
                raise SnapshotRejected(
                    f"a snapshot at version {current[0]} already covers version {seq}"
                )
            version = _add_version(
                conn, api_key, document_id, seq, session_id, kind, name, ciphertext
            )
            if prune_before is not None:
                _prune(conn, api_key, document_id, prune_before)
            return version

        return await self._write(store)

    async def prune_history(self, api_key: str, document_id: str, before: float) -> int:
        return await self._write(lambda conn: _prune(conn, api_key, document_id, before))

    async def list_versions(
        self, api_key: str, document_id: str, *, before: int | None = None, limit: int = 50
    ) -> list[VersionRecord]:
        def query(conn: sqlite3.Connection) -> list[VersionRecord]:
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS}{_VERSION_FROM}"
                " WHERE v.api_key = ? AND v.document_id = ? AND v.number < ?"
                " ORDER BY v.number DESC LIMIT ?",
                (api_key, document_id, 2**62 if before is None else before, limit),
            ).fetchall()
            return [_version_from_row(r) for r in rows]

        return await self._read(query)

    async def get_version(
        self, api_key: str, document_id: str, number: int
    ) -> VersionRecord | None:
        def query(conn: sqlite3.Connection) -> VersionRecord | None:
            row = conn.execute(
                f"SELECT {_VERSION_COLUMNS}, v.ciphertext{_VERSION_FROM}"
                " WHERE v.api_key = ? AND v.document_id = ? AND v.number = ?",
                (api_key, document_id, number),
            ).fetchone()
            return None if row is None else _version_from_row(row, bytes(row[9]))

        return await self._read(query)

    async def get_sessions(
        self, api_key: str, document_id: str, session_ids: list[str]
    ) -> list[SessionRecord]:
        def query(conn: sqlite3.Connection) -> list[SessionRecord]:
            found = []
            for session_id in dict.fromkeys(session_ids):
                row = conn.execute(
                    f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE api_key = ?"
                    " AND document_id = ? AND session_id = ?",
                    (api_key, document_id, session_id),
                ).fetchone()
                if row is not None:
                    found.append(_session_from_row(row))
            return found

        return await self._read(query)

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
        def query(conn: sqlite3.Connection) -> list[UpdateRecord]:
            # The running total is computed in the database: only what fits is read out.
            rows = conn.execute(
                "SELECT seq, session_id, client_id, counter, user_id, ciphertext FROM ("
                " SELECT *, sum(length(ciphertext)) OVER (ORDER BY seq) AS upto_here"
                " FROM updates WHERE api_key = ? AND document_id = ? AND seq > ?"
                " AND seq <= ? ORDER BY seq LIMIT ?)"
                " WHERE upto_here - length(ciphertext) < ? ORDER BY seq",
                (
                    api_key,
                    document_id,
                    after,
                    upto,
                    limit,
                    2**62 if max_bytes is None else max_bytes,
                ),
            ).fetchall()
            return [UpdateRecord(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

        return await self._read(query)

    async def document_info(self, api_key: str, document_id: str) -> DocumentInfo | None:
        def query(conn: sqlite3.Connection) -> DocumentInfo | None:
            doc = conn.execute(
                "SELECT head, log_updates, log_bytes FROM documents"
                " WHERE api_key = ? AND document_id = ?",
                (api_key, document_id),
            ).fetchone()
            if doc is None:
                return None
            head, count, size = doc
            key = (api_key, document_id)
            (sessions,) = conn.execute(
                "SELECT count(*) FROM sessions WHERE api_key = ? AND document_id = ?", key
            ).fetchone()
            snap = conn.execute(
                "SELECT seq FROM versions WHERE api_key = ? AND document_id = ?"
                " ORDER BY number DESC LIMIT 1",
                key,
            ).fetchone()
            (checkpoint_bytes,) = conn.execute(
                "SELECT coalesce(sum(length(ciphertext)), 0) FROM versions"
                " WHERE api_key = ? AND document_id = ?",
                key,
            ).fetchone()
            return DocumentInfo(
                api_key=api_key,
                document_id=document_id,
                version=head,
                session_count=sessions,
                active_session=self._active(conn, api_key, document_id),
                snapshot_seq=None if snap is None else snap[0],
                stored_updates=count,
                stored_bytes=size + checkpoint_bytes,
            )

        return await self._read(query)

    # -- quotas and client ids ----------------------------------------------------------
    async def client_counter(
        self, api_key: str, document_id: str, session_id: str, client_id: str
    ) -> ClientCounter | None:
        def query(conn: sqlite3.Connection) -> ClientCounter | None:
            row = conn.execute(
                "SELECT user_id, max_counter FROM client_counters WHERE api_key = ?"
                " AND document_id = ? AND session_id = ? AND client_id = ?",
                (api_key, document_id, session_id, client_id),
            ).fetchone()
            return None if row is None else ClientCounter(row[0], row[1])

        return await self._read(query)

    async def api_key_stored_bytes(self, api_key: str) -> int:
        def query(conn: sqlite3.Connection) -> int:
            (updates,) = conn.execute(
                "SELECT coalesce(sum(log_bytes), 0) FROM documents WHERE api_key = ?",
                (api_key,),
            ).fetchone()
            (snapshots,) = conn.execute(
                "SELECT coalesce(sum(length(ciphertext)), 0) FROM versions WHERE api_key = ?",
                (api_key,),
            ).fetchone()
            return int(updates) + int(snapshots)

        return await self._read(query)

    async def recount_logs(self) -> int:
        def recount(conn: sqlite3.Connection) -> int:
            return conn.execute(RECOUNT_LOGS).rowcount

        return await self._write(recount)

    # -- erasure ---------------------------------------------------------------------------
    async def delete_document(self, api_key: str, document_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            # ON DELETE CASCADE removes its sessions, updates, versions and counters;
            # secure_delete (set on every connection) zeroes what they occupied.
            return (
                conn.execute(
                    "DELETE FROM documents WHERE api_key = ? AND document_id = ?",
                    (api_key, document_id),
                ).rowcount
                > 0
            )

        return await self._write(delete)

    async def list_documents(self, api_key: str) -> list[str]:
        def query(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT document_id FROM documents WHERE api_key = ? ORDER BY document_id",
                (api_key,),
            ).fetchall()
            return [r[0] for r in rows]

        return await self._read(query)

    async def existing_documents(self, api_key: str, document_ids: list[str]) -> set[str]:
        def query(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(document_ids), 500):
                chunk = document_ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT document_id FROM documents WHERE api_key = ?"
                    f" AND document_id IN ({marks})",
                    (api_key, *chunk),
                ).fetchall()
                found.update(r[0] for r in rows)
            return found

        return await self._read(query) if document_ids else set()

    async def scrub(self) -> str:
        """Rebuild the database file (VACUUM) and truncate the WAL to zero bytes.

        ``secure_delete`` zeroes deleted rows and freed pages, but when SQLite splits or
        rebalances a b-tree page the cells it moves leave stale copies in the unused space
        of live pages; only a rebuild removes them, and the WAL may hold older copies of
        pages. The rebuild takes a write lock: writes wait while it copies the file (about
        a second per few hundred MB). Waits (up to about a minute) for a moment without
        writers and old readers."""
        if self._writer is None:
            raise StorageUnavailable("the store is not open")

        def checkpoint() -> str:
            conn = _connect(str(self.path))
            try:
                for _attempt in range(60):
                    try:
                        conn.execute("VACUUM")
                    except sqlite3.OperationalError as exc:  # busy past the timeout
                        if "locked" not in str(exc) and "busy" not in str(exc):
                            raise
                        time.sleep(0.5)
                        continue
                    busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    if not busy:
                        return (
                            f"database file rebuilt (VACUUM); WAL checkpointed ({frames} "
                            "frames) and truncated"
                        )
                    time.sleep(0.5)
            finally:
                conn.close()
            raise StorageError(
                "the WAL could not be truncated (the database stayed busy); run "
                "'tandem db scrub' again when it is quieter"
            )

        return await asyncio.to_thread(checkpoint)
