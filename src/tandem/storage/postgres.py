"""PostgreSQL engine: shared by any number of server nodes.

Sequence numbers come from a row lock on the document (``SELECT … FOR UPDATE``),
so they stay contiguous when nodes write concurrently. Appends are group-committed
per document: all that a node has queued for a document while its previous
transaction ran go into the next one (one statement: one round trip, one lock, one
``pg_notify``, one commit), as the SQLite engine's writer thread does for the whole
file; the statement calls a PL/pgSQL function each pooled connection creates in its
``pg_temp`` schema (no migration). Session creation is one transaction that only
succeeds while the document has no (or the expected) active session. Committed
changes are announced with ``pg_notify`` inside the
same transaction, so other nodes hear of exactly what was committed, in commit
order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

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
from tandem.storage.postgres_rows import (
    Connection,
    Row,
    affected_rows,
    blob,
    boolean,
    int_value,
    integer,
    json_object,
    json_strings,
    optional_blob,
    optional_int_value,
    optional_str_value,
    optional_text,
    real,
    text,
)
from tandem.storage.postgres_schema import MIGRATIONS, RECOUNT_LOGS
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

log = logging.getLogger("tandem.storage.postgres")
T = TypeVar("T")

CHANNEL = "tandem"
# NOTIFY payloads must stay under 8000 bytes; larger ciphertexts are read from the table.
_INLINE_LIMIT = 6000
# Group commit: one document's appends per transaction, at most this many / bytes.
_GROUP_MAX_ITEMS = 512
_GROUP_MAX_BYTES = 4 * 1024 * 1024
_MIGRATION_LOCK = 0x7A4D3E  # pg_advisory_lock key: one node migrates at a time
_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)
_SESSION_COLUMNS = (
    "session_id, key_hint, salt, iterations, wrapped_key, creator, created_at, start_seq"
)


# A group commit in one round trip: this function (created per pooled connection in
# pg_temp, so no schema migration) runs in the implicit transaction of the one statement
# that calls it: lock the document row, per job check the session and the client id's
# user, per update de-duplicate (stored, compacted, or earlier in this batch) or insert
# with the next seq, then update the head and send one pg_notify for the batch. One row
# out per update, in input order: (seq, duplicate, job error: '' | 'stale' | 'taken').
_APPEND_FUNCTION = r"""
CREATE OR REPLACE FUNCTION pg_temp.tandem_append(
    p_api text, p_doc text, p_job int[], p_sid text[], p_cid text[], p_uid text[],
    p_n bigint[], p_data bytea[], p_channel text, p_node text, p_inline int)
RETURNS TABLE (o_seq bigint, o_dup boolean, o_err text) LANGUAGE plpgsql AS $fn$
DECLARE
    v_head bigint;
    v_start bigint;
    v_active text;
    v_found boolean;
    v_total int := coalesce(array_length(p_job, 1), 0);
    v_first int := 1;
    v_last int;
    v_user text;
    v_compacted bigint;
    v_max_seq bigint;
    v_seq bigint;
    v_b64 text;
    v_budget int := p_inline;
    v_entries jsonb := '[]'::jsonb;
    v_bytes bigint := 0;
BEGIN
    SELECT head, active_session INTO v_head, v_active FROM documents
        WHERE api_key = p_api AND document_id = p_doc FOR UPDATE;
    v_found := FOUND;
    v_start := v_head;
    WHILE v_first <= v_total LOOP
        v_last := v_first;
        WHILE v_last < v_total AND p_job[v_last + 1] = p_job[v_first] LOOP
            v_last := v_last + 1;
        END LOOP;
        IF NOT v_found OR v_active IS DISTINCT FROM p_sid[v_first] THEN
            FOR i IN v_first .. v_last LOOP
                o_seq := 0; o_dup := false; o_err := 'stale'; RETURN NEXT;
            END LOOP;
            v_first := v_last + 1;
            CONTINUE;
        END IF;
        SELECT user_id, compacted_counter, max_seq INTO v_user, v_compacted, v_max_seq
            FROM client_counters WHERE api_key = p_api AND document_id = p_doc
            AND session_id = v_active AND client_id = p_cid[v_first];
        IF FOUND AND v_user IS NOT NULL AND v_user <> p_uid[v_first] THEN
            FOR i IN v_first .. v_last LOOP
                o_seq := 0; o_dup := false; o_err := 'taken'; RETURN NEXT;
            END LOOP;
            v_first := v_last + 1;
            CONTINUE;
        END IF;
        FOR i IN v_first .. v_last LOOP
            -- De-duplication through the unique index itself (stored, or earlier in
            -- this batch): a SELECT on (api_key, document_id, session_id, client_id,
            -- counter) is planned once per connection, and without statistics the
            -- planner may take the primary key (api_key, document_id, seq) and filter
            -- every update of the document, one scan per append. A conflict rewrites
            -- the stored row unchanged and returns its seq, which is at most the head.
            INSERT INTO updates (api_key, document_id, seq, session_id, client_id, counter,
                                 user_id, ciphertext)
                VALUES (p_api, p_doc, v_head + 1, v_active, p_cid[i], p_n[i], p_uid[i],
                        p_data[i])
                ON CONFLICT (api_key, document_id, session_id, client_id, counter)
                DO UPDATE SET seq = updates.seq
                RETURNING seq INTO v_seq;
            IF v_seq <= v_head THEN
                o_seq := v_seq; o_dup := true; o_err := ''; RETURN NEXT;
                CONTINUE;
            END IF;
            IF v_compacted IS NOT NULL AND p_n[i] <= v_compacted THEN
                -- At or below the compaction horizon and not stored (rare: a very late
                -- re-send): never stored again; undo the insert, answer the horizon.
                DELETE FROM updates WHERE api_key = p_api AND document_id = p_doc
                    AND seq = v_seq;
                o_seq := v_max_seq; o_dup := true; o_err := ''; RETURN NEXT;
                CONTINUE;
            END IF;
            v_head := v_seq;
            v_bytes := v_bytes + length(p_data[i]);
            INSERT INTO client_counters (api_key, document_id, session_id, client_id,
                                         max_counter, max_seq, user_id)
                VALUES (p_api, p_doc, v_active, p_cid[i], p_n[i], v_head, p_uid[i])
                ON CONFLICT (api_key, document_id, session_id, client_id) DO UPDATE
                SET max_counter = GREATEST(client_counters.max_counter, excluded.max_counter),
                    max_seq = GREATEST(client_counters.max_seq, excluded.max_seq),
                    user_id = coalesce(client_counters.user_id, excluded.user_id);
            v_b64 := NULL;
            IF v_budget > 0 AND length(p_data[i]) * 4 / 3 + length(p_cid[i])
                    + length(p_uid[i]) + 48 <= v_budget THEN
                v_b64 := translate(encode(p_data[i], 'base64'), E'\n', '');
                v_budget := v_budget - (length(v_b64) + length(p_cid[i])
                                        + length(p_uid[i]) + 48);
            ELSE
                v_budget := 0;  -- the inlined ciphertexts stay a prefix
            END IF;
            v_entries := v_entries || jsonb_build_array(
                jsonb_build_array(v_head, p_cid[i], p_n[i], p_uid[i], v_b64));
            o_seq := v_head; o_dup := false; o_err := ''; RETURN NEXT;
        END LOOP;
        v_first := v_last + 1;
    END LOOP;
    IF v_head > v_start THEN
        -- Stored seqs are contiguous: v_head - v_start rows were added.
        UPDATE documents SET head = v_head, log_updates = log_updates + (v_head - v_start),
            log_bytes = log_bytes + v_bytes
            WHERE api_key = p_api AND document_id = p_doc;
        PERFORM pg_notify(p_channel, json_build_object(
            'k', 'ub', 'a', p_api, 'd', p_doc, 'sid', v_active,
            't', extract(epoch FROM clock_timestamp()), 'u', v_entries,
            'node', p_node)::text);
    END IF;
END
$fn$;
"""


async def _init_connection(conn: Connection) -> None:
    """Every pooled connection: the group-commit function, in this session's pg_temp."""
    await conn.execute(_APPEND_FUNCTION)


@dataclass(slots=True)
class _AppendJob:
    session_id: str
    client_id: str
    user_id: str
    items: list[tuple[int, bytes]]
    future: asyncio.Future[list[AppendResult]]
    on_stored: OnStored | None = None


def _closing(jobs: Iterable[_AppendJob]) -> None:
    """Fail the callers of appends that will not run: the store is closing."""
    settle_writes(
        [(job.future, False, StorageUnavailable("the store is closing"), None) for job in jobs]
    )


def _session(row: Row) -> SessionRecord:
    return SessionRecord(
        session_id=text(row, "session_id"),
        key_hint=text(row, "key_hint"),
        salt=blob(row, "salt"),
        iterations=integer(row, "iterations"),
        wrapped_key=blob(row, "wrapped_key"),
        creator=text(row, "creator"),
        created_at=real(row, "created_at"),
        start_seq=integer(row, "start_seq"),
    )


_VERSION_SELECT = (
    "SELECT v.number, v.seq, v.session_id, s.key_hint, v.kind, v.created_at, v.editors,"
    " length(v.ciphertext) AS size, v.name{extra} FROM versions v JOIN sessions s"
    " ON s.api_key = v.api_key AND s.document_id = v.document_id"
    " AND s.session_id = v.session_id"
)


def _version(row: Row, ciphertext: bytes | None = None) -> VersionRecord:
    return VersionRecord(
        number=integer(row, "number"),
        seq=integer(row, "seq"),
        session_id=text(row, "session_id"),
        key_hint=text(row, "key_hint"),
        kind=text(row, "kind"),
        created_at=real(row, "created_at"),
        editors=json_strings(row, "editors"),
        size=integer(row, "size"),
        name=optional_blob(row, "name"),
        ciphertext=ciphertext,
    )


async def _add_version(
    conn: Connection,
    api_key: str,
    document_id: str,
    seq: int,
    session_id: str,
    kind: str,
    name: bytes | None,
    ciphertext: bytes,
) -> VersionRecord:
    """Append a checkpoint as the next version (the caller holds the document row lock)."""
    if kind not in VERSION_KINDS:
        raise StorageError(f"unknown version kind {kind!r}")
    last = await conn.fetchrow(
        "SELECT number, seq FROM versions WHERE api_key = $1 AND document_id = $2"
        " ORDER BY number DESC LIMIT 1",
        api_key,
        document_id,
    )
    number, since = (1, 0) if last is None else (integer(last, "number") + 1, integer(last, "seq"))
    editors = [
        text(r, "user_id")
        for r in await conn.fetch(
            "SELECT DISTINCT user_id FROM updates WHERE api_key = $1 AND document_id = $2"
            " AND seq > $3 AND seq <= $4 ORDER BY user_id LIMIT $5",
            api_key,
            document_id,
            since,
            seq,
            MAX_VERSION_EDITORS,
        )
    ]
    created_at = time.time()
    await conn.execute(
        "INSERT INTO versions (api_key, document_id, number, seq, session_id, kind, name,"
        " created_at, editors, ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    )
    hint = optional_str_value(
        await conn.fetchval(
            "SELECT key_hint FROM sessions WHERE api_key = $1 AND document_id = $2"
            " AND session_id = $3",
            api_key,
            document_id,
            session_id,
        ),
        "key_hint",
    )
    return VersionRecord(
        number=number,
        seq=seq,
        session_id=session_id,
        key_hint=hint or "",
        kind=kind,
        created_at=created_at,
        editors=tuple(editors),
        size=len(ciphertext),
        name=name,
    )


async def _prune(conn: Connection, api_key: str, document_id: str, before: float) -> int:
    """The retention window: see ``Store.prune_history``."""
    base = await conn.fetchrow(
        "SELECT number, seq FROM versions WHERE api_key = $1 AND document_id = $2"
        " AND created_at < $3 ORDER BY number DESC LIMIT 1",
        api_key,
        document_id,
        before,
    )
    if base is None:
        return 0
    status = await conn.execute(
        "DELETE FROM versions WHERE api_key = $1 AND document_id = $2 AND number < $3",
        api_key,
        document_id,
        integer(base, "number"),
    )
    horizon = integer(base, "seq")
    await conn.execute(
        "UPDATE client_counters c SET compacted_counter = GREATEST(c.compacted_counter,"
        " m.counter) FROM (SELECT session_id, client_id, max(counter) AS counter"
        " FROM updates WHERE api_key = $1 AND document_id = $2 AND seq <= $3"
        " GROUP BY session_id, client_id) m WHERE c.api_key = $1"
        " AND c.document_id = $2 AND c.session_id = m.session_id"
        " AND c.client_id = m.client_id",
        api_key,
        document_id,
        horizon,
    )
    # The pruned range only (the primary key's prefix), never the whole log.
    await conn.execute(
        "WITH gone AS (DELETE FROM updates WHERE api_key = $1 AND document_id = $2"
        " AND seq <= $3 RETURNING length(ciphertext) AS size)"
        " UPDATE documents SET log_updates = GREATEST(0, log_updates - (SELECT count(*)"
        " FROM gone)), log_bytes = GREATEST(0, log_bytes - (SELECT coalesce(sum(size), 0)"
        " FROM gone)) WHERE api_key = $1 AND document_id = $2",
        api_key,
        document_id,
        horizon,
    )
    return affected_rows(status)


def _api_key(row: Row) -> ApiKeyRecord:
    return ApiKeyRecord(
        key=text(row, "key"),
        name=text(row, "name"),
        origins=json_strings(row, "origins"),
        jwks_url=optional_text(row, "jwks_url"),
        created_at=real(row, "created_at"),
    )


def _update_record(r: Row) -> UpdateRecord:
    return UpdateRecord(
        integer(r, "seq"),
        text(r, "session_id"),
        text(r, "client_id"),
        integer(r, "counter"),
        text(r, "user_id"),
        blob(r, "ciphertext"),
    )


class PostgresStore(Store):
    shared = True

    def __init__(
        self,
        url: str,
        *,
        node_id: str | None = None,
        min_size: int = 2,
        max_size: int = 10,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.node_id = node_id or secrets.token_hex(6)
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncio.Task[None] | None = None
        self._append_queues: dict[tuple[str, str], collections.deque[_AppendJob]] = {}
        self._append_tasks: set[asyncio.Task[None]] = set()

    # -- plumbing ------------------------------------------------------------------
    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self._min_size,
                max_size=self._max_size,
                command_timeout=self._timeout,
                timeout=self._timeout,
                init=_init_connection,
                reset=_reset_connection,
            )
            async with self._pool.acquire() as conn:
                await migrate(conn)
        except _CONNECTION_ERRORS as exc:
            await self.close()
            raise StorageUnavailable(f"cannot reach PostgreSQL: {exc}") from None

    async def close(self) -> None:
        tasks = list(self._append_tasks)
        if self._listener is not None:
            tasks.append(self._listener)
            self._listener = None
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait never raises the tasks' errors nor swallows our own cancellation
            await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    log.error("background task failed before close: %r", task.exception())
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("closing the connection pool: %r (connections terminated)", exc)
                pool.terminate()

    async def _run(
        self, fn: Callable[[Connection], Awaitable[T]], *, transaction: bool = False
    ) -> T:
        if self._pool is None:
            raise StorageUnavailable("the store is not open")
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                if not transaction:
                    return await fn(conn)
                async with conn.transaction():
                    return await fn(conn)
        except StorageError:
            raise
        except _CONNECTION_ERRORS as exc:
            raise StorageUnavailable(f"PostgreSQL is unavailable: {exc}") from None
        except asyncpg.PostgresError as exc:
            raise StorageError(f"PostgreSQL error: {exc}") from None

    async def _notify(self, conn: Connection, event: dict[str, Any]) -> None:
        event["node"] = self.node_id
        await conn.execute(
            "SELECT pg_notify($1, $2)", CHANNEL, json.dumps(event, separators=(",", ":"))
        )

    # -- events between nodes --------------------------------------------------------
    async def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(handler))

    async def _listen_forever(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Hold a LISTEN connection; reconnect with backoff when it drops."""
        delay = 0.2
        first = True
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.url, timeout=self._timeout)
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())

                def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                    try:
                        event = json.loads(payload)
                    except ValueError:
                        return
                    if isinstance(event, dict):
                        handler(event)

                await conn.add_listener(CHANNEL, on_notify)
                if not first:
                    handler({"k": "resync"})
                first = False
                delay = 0.2
                while not lost.is_set():
                    # A dead TCP peer is only noticed when we talk: probe now and then.
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5)
                    if not lost.is_set():
                        await conn.execute("SELECT 1", timeout=5)
            except asyncio.CancelledError:
                if conn is not None:
                    try:
                        await asyncio.wait_for(conn.close(), 2)
                    except (
                        TimeoutError,
                        OSError,
                        asyncpg.PostgresError,
                        asyncpg.InterfaceError,
                    ) as exc:
                        log.debug("closing the LISTEN connection: %r", exc)
                        conn.terminate()
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
            if conn is not None:
                conn.terminate()
            first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def notify(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(StorageError):
            await self._run(lambda conn: self._notify(conn, event))

    # -- API keys --------------------------------------------------------------------
    async def create_api_key(self, name: str, origins: tuple[str, ...] = ()) -> ApiKeyRecord:
        record = ApiKeyRecord(
            key="tk_" + secrets.token_urlsafe(30),
            name=name,
            origins=tuple(origins),
            created_at=time.time(),
        )

        async def insert(conn: Connection) -> ApiKeyRecord:
            await conn.execute(
                "INSERT INTO api_keys (key, name, origins, jwks_url, created_at)"
                " VALUES ($1, $2, $3, NULL, $4)",
                record.key,
                record.name,
                json.dumps(list(record.origins)),
                record.created_at,
            )
            return record

        return await self._run(insert)

    async def get_api_key(self, key: str) -> ApiKeyRecord | None:
        async def query(conn: Connection) -> ApiKeyRecord | None:
            row = await conn.fetchrow("SELECT * FROM api_keys WHERE key = $1", key)
            return None if row is None else _api_key(row)

        return await self._run(query)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        async def query(conn: Connection) -> list[ApiKeyRecord]:
            rows = await conn.fetch("SELECT * FROM api_keys ORDER BY created_at")
            return [_api_key(r) for r in rows]

        return await self._run(query)

    async def delete_api_key(self, key: str) -> bool:
        async def delete(conn: Connection) -> bool:
            return await conn.execute("DELETE FROM api_keys WHERE key = $1", key) != "DELETE 0"

        return await self._run(delete)

    async def set_jwks_url(self, key: str, url: str | None) -> None:
        async def update(conn: Connection) -> None:
            status = await conn.execute(
                "UPDATE api_keys SET jwks_url = $1 WHERE key = $2", url, key
            )
            if status == "UPDATE 0":
                raise UnknownApiKey("unknown API key")

        await self._run(update)

    # -- public keys -------------------------------------------------------------------
    async def add_public_keys(self, api_key: str, jwks: list[dict[str, Any]]) -> None:
        now = time.time()

        async def insert(conn: Connection) -> None:
            if await conn.fetchval("SELECT 1 FROM api_keys WHERE key = $1", api_key) is None:
                raise UnknownApiKey("unknown API key")
            for jwk in jwks:
                kid = jwk.get("kid")
                if not isinstance(kid, str) or not kid:
                    raise StorageError("every stored public key needs a kid")
                await conn.execute(
                    "INSERT INTO public_keys (api_key, kid, jwk, added_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (api_key, kid)"
                    " DO UPDATE SET jwk = excluded.jwk, added_at = excluded.added_at",
                    api_key,
                    kid,
                    json.dumps(jwk, sort_keys=True),
                    now,
                )

        await self._run(insert, transaction=True)

    async def list_public_keys(self, api_key: str) -> list[dict[str, Any]]:
        async def query(conn: Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                "SELECT jwk FROM public_keys WHERE api_key = $1 ORDER BY added_at, kid", api_key
            )
            return [json_object(r, "jwk") for r in rows]

        return await self._run(query)

    async def remove_public_key(self, api_key: str, kid: str) -> bool:
        async def delete(conn: Connection) -> bool:
            status = await conn.execute(
                "DELETE FROM public_keys WHERE api_key = $1 AND kid = $2", api_key, kid
            )
            return status != "DELETE 0"

        return await self._run(delete)

    # -- documents -----------------------------------------------------------------------
    @staticmethod
    async def _active(conn: Connection, api_key: str, document_id: str) -> SessionRecord | None:
        row = await conn.fetchrow(
            "SELECT s.* FROM sessions s JOIN documents d ON d.api_key = s.api_key"
            " AND d.document_id = s.document_id AND d.active_session = s.session_id"
            " WHERE s.api_key = $1 AND s.document_id = $2",
            api_key,
            document_id,
        )
        return None if row is None else _session(row)

    async def active_session(self, api_key: str, document_id: str) -> SessionRecord | None:
        return await self._run(lambda conn: self._active(conn, api_key, document_id))

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
        async def create(conn: Connection) -> CreateSessionResult:
            try:
                await conn.execute(
                    "INSERT INTO documents (api_key, document_id, head, active_session,"
                    " created_at) VALUES ($1, $2, 0, NULL, $3) ON CONFLICT DO NOTHING",
                    api_key,
                    document_id,
                    time.time(),
                )
            except asyncpg.ForeignKeyViolationError:
                raise UnknownApiKey("unknown API key") from None
            # The row lock makes concurrent creators (on any node) queue here.
            doc = await conn.fetchrow(
                "SELECT head, active_session FROM documents WHERE api_key = $1"
                " AND document_id = $2 FOR UPDATE",
                api_key,
                document_id,
            )
            if doc is None:
                # Deleted (by another transaction) between the INSERT above and this
                # lock: nothing is written; the deletion closes the document's connections.
                raise StorageError("the document was deleted while its session was created")
            head, active = integer(doc, "head"), optional_text(doc, "active_session")
            if active != replaces or (at_seq is not None and head != at_seq):
                winner = await self._active(conn, api_key, document_id)
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
                async with conn.transaction():  # savepoint: a duplicate id is a clear error
                    await conn.execute(
                        f"INSERT INTO sessions (api_key, document_id, {_SESSION_COLUMNS})"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
                    )
            except asyncpg.UniqueViolationError:
                raise StorageError("a session with this id already exists") from None
            await conn.execute(
                "UPDATE documents SET active_session = $1 WHERE api_key = $2 AND document_id = $3",
                record.session_id,
                api_key,
                document_id,
            )
            # The old sessions' updates and checkpoints stay in the history.
            await _add_version(
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
                await _prune(conn, api_key, document_id, prune_before)
            await self._notify(
                conn, {"k": "s", "a": api_key, "d": document_id, "sid": record.session_id}
            )
            return CreateSessionResult(created=True, session=record, version=head)

        return await self._run(create, transaction=True)

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
        """Queue the appends on the document's group-commit queue and wait until the
        transaction that holds them committed (see ``_drain_appends``)."""
        return await self.start_append_updates(
            api_key, document_id, session_id, client_id, user_id, items, None
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
        loop = asyncio.get_running_loop()
        job = _AppendJob(
            session_id, client_id, user_id, list(items), loop.create_future(), on_stored
        )
        if self._pool is None:
            job.future.set_exception(StorageUnavailable("the store is not open"))
            return job.future
        if not job.items:
            settle_writes([(job.future, True, [], on_stored)])
            return job.future
        key = (api_key, document_id)
        queue = self._append_queues.get(key)
        if queue is None:
            queue = self._append_queues[key] = collections.deque()
            task = loop.create_task(self._drain_appends(key, queue))
            self._append_tasks.add(task)
            task.add_done_callback(self._append_tasks.discard)
        queue.append(job)
        return job.future

    async def _drain_appends(
        self, key: tuple[str, str], queue: collections.deque[_AppendJob]
    ) -> None:
        """Group commit per document: every append queued for the document while the
        previous transaction ran goes into the next one (one row lock, one INSERT, one
        ``pg_notify``, one commit), in queue order, so seqs follow arrival order and a
        client's own updates stay in order. A job whose caller was cancelled before its
        batch started is skipped (nothing of it is written)."""
        try:
            while queue:
                batch: list[_AppendJob] = []
                count = nbytes = 0
                while queue and (
                    not batch or (count < _GROUP_MAX_ITEMS and nbytes < _GROUP_MAX_BYTES)
                ):
                    job = queue.popleft()
                    if job.future.done():
                        continue
                    batch.append(job)
                    count += len(job.items)
                    nbytes += sum(len(data) for _n, data in job.items)
                if not batch:
                    continue
                try:
                    outcomes = await self._run(
                        functools.partial(self._append_batch, key=key, batch=batch)
                    )
                except StorageError as exc:
                    outcomes = [type(exc)(exc.message) for _job in batch]
                except asyncio.CancelledError:
                    _closing(batch)
                    raise
                except Exception as exc:  # a bug: fail these callers, keep the queue going
                    log.exception("group commit failed")
                    outcomes = [StorageError(f"append failed: {exc}")] * len(batch)
                settle_writes(
                    [
                        (job.future, not isinstance(outcome, BaseException), outcome, job.on_stored)
                        for job, outcome in zip(batch, outcomes, strict=True)
                    ]
                )
        finally:
            _closing(queue)
            if self._append_queues.get(key) is queue:
                del self._append_queues[key]

    async def _append_batch(
        self, conn: Connection, key: tuple[str, str], batch: list[_AppendJob]
    ) -> list[list[AppendResult] | Exception]:
        """One statement, one round trip, one transaction for a batch of jobs
        (``pg_temp.tandem_append``). A job fails alone (stale session, client id of
        another user) and writes nothing; the others are stored."""
        api_key, document_id = key
        # One array per column of the function's input, one element per update.
        jobs: list[int] = []
        session_ids: list[str] = []
        client_ids: list[str] = []
        user_ids: list[str] = []
        counters: list[int] = []
        ciphertexts: list[bytes] = []
        for index, job in enumerate(batch):
            for counter, data in job.items:
                jobs.append(index)
                session_ids.append(job.session_id)
                client_ids.append(job.client_id)
                user_ids.append(job.user_id)
                counters.append(counter)
                ciphertexts.append(data)
        budget = _INLINE_LIMIT - len(api_key) - len(document_id) - 100 - len(self.node_id)
        rows = await conn.fetch(
            "SELECT o_seq, o_dup, o_err FROM pg_temp.tandem_append($1, $2, $3, $4, $5, $6,"
            " $7, $8, $9, $10, $11)",
            api_key,
            document_id,
            jobs,
            session_ids,
            client_ids,
            user_ids,
            counters,
            ciphertexts,
            CHANNEL,
            self.node_id,
            budget,
        )
        outcomes: list[list[AppendResult] | Exception] = []
        at = 0
        for job in batch:
            mine = rows[at : at + len(job.items)]
            at += len(job.items)
            error = text(mine[0], "o_err")
            if error == "stale":
                outcomes.append(
                    StaleSession("this session is no longer the document's active session")
                )
            elif error == "taken":
                outcomes.append(ClientIdTaken("this client id is bound to another user"))
            else:
                outcomes.append(
                    [
                        AppendResult(seq=integer(r, "o_seq"), duplicate=boolean(r, "o_dup"))
                        for r in mine
                    ]
                )
        return outcomes

    async def latest_snapshot(self, api_key: str, document_id: str) -> SnapshotRecord | None:
        async def query(conn: Connection) -> SnapshotRecord | None:
            row = await conn.fetchrow(
                "SELECT seq, session_id, ciphertext FROM versions WHERE api_key = $1"
                " AND document_id = $2 ORDER BY number DESC LIMIT 1",
                api_key,
                document_id,
            )
            return (
                None
                if row is None
                else SnapshotRecord(
                    integer(row, "seq"), text(row, "session_id"), blob(row, "ciphertext")
                )
            )

        return await self._run(query)

    async def updates_after(
        self, api_key: str, document_id: str, seq: int, limit: int | None = None
    ) -> list[UpdateRecord]:
        async def query(conn: Connection) -> list[UpdateRecord]:
            rows = await conn.fetch(
                "SELECT u.seq, u.session_id, u.client_id, u.counter, u.user_id, u.ciphertext"
                " FROM updates u JOIN documents d ON d.api_key = u.api_key"
                " AND d.document_id = u.document_id AND d.active_session = u.session_id"
                " WHERE u.api_key = $1 AND u.document_id = $2 AND u.seq > $3"
                " ORDER BY u.seq LIMIT $4",
                api_key,
                document_id,
                seq,
                limit,
            )
            return [_update_record(r) for r in rows]

        return await self._run(query)

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
        async def store(conn: Connection) -> VersionRecord:
            doc = await conn.fetchrow(
                "SELECT head, active_session FROM documents WHERE api_key = $1"
                " AND document_id = $2 FOR UPDATE",
                api_key,
                document_id,
            )
            if doc is None or optional_text(doc, "active_session") != session_id:
                raise StaleSession("this session is no longer the document's active session")
            head = integer(doc, "head")
            if seq > head:
                raise SnapshotRejected(
                    f"snapshot claims version {seq} but the document is at {head}"
                )
            current = optional_int_value(
                await conn.fetchval(
                    "SELECT seq FROM versions WHERE api_key = $1 AND document_id = $2"
                    " ORDER BY number DESC LIMIT 1",
                    api_key,
                    document_id,
                ),
                "seq",
            )
            if current is not None and (current > seq or (current == seq and kind == "auto")):
                raise SnapshotRejected(
                    f"a snapshot at version {current} already covers version {seq}"
                )
            version = await _add_version(
                conn, api_key, document_id, seq, session_id, kind, name, ciphertext
            )
            if prune_before is not None:
                await _prune(conn, api_key, document_id, prune_before)
            await self._notify(conn, {"k": "p", "a": api_key, "d": document_id, "s": seq})
            return version

        return await self._run(store, transaction=True)

    async def prune_history(self, api_key: str, document_id: str, before: float) -> int:
        async def prune(conn: Connection) -> int:
            locked = await conn.fetchval(
                "SELECT 1 FROM documents WHERE api_key = $1 AND document_id = $2 FOR UPDATE",
                api_key,
                document_id,
            )
            return 0 if locked is None else await _prune(conn, api_key, document_id, before)

        return await self._run(prune, transaction=True)

    async def list_versions(
        self, api_key: str, document_id: str, *, before: int | None = None, limit: int = 50
    ) -> list[VersionRecord]:
        async def query(conn: Connection) -> list[VersionRecord]:
            rows = await conn.fetch(
                _VERSION_SELECT.format(extra="") + " WHERE v.api_key = $1"
                " AND v.document_id = $2 AND v.number < $3 ORDER BY v.number DESC LIMIT $4",
                api_key,
                document_id,
                2**62 if before is None else before,
                limit,
            )
            return [_version(r) for r in rows]

        return await self._run(query)

    async def get_version(
        self, api_key: str, document_id: str, number: int
    ) -> VersionRecord | None:
        async def query(conn: Connection) -> VersionRecord | None:
            row = await conn.fetchrow(
                _VERSION_SELECT.format(extra=", v.ciphertext") + " WHERE v.api_key = $1"
                " AND v.document_id = $2 AND v.number = $3",
                api_key,
                document_id,
                number,
            )
            return None if row is None else _version(row, blob(row, "ciphertext"))

        return await self._run(query)

    async def get_sessions(
        self, api_key: str, document_id: str, session_ids: list[str]
    ) -> list[SessionRecord]:
        async def query(conn: Connection) -> list[SessionRecord]:
            rows = await conn.fetch(
                "SELECT * FROM sessions WHERE api_key = $1 AND document_id = $2"
                " AND session_id = ANY($3::text[]) ORDER BY start_seq",
                api_key,
                document_id,
                list(dict.fromkeys(session_ids)),
            )
            return [_session(r) for r in rows]

        return await self._run(query)

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
        async def query(conn: Connection) -> list[UpdateRecord]:
            # The running total is computed in the database: only what fits is read out.
            rows = await conn.fetch(
                "SELECT seq, session_id, client_id, counter, user_id, ciphertext FROM ("
                " SELECT *, sum(length(ciphertext)) OVER (ORDER BY seq) AS upto_here"
                " FROM updates WHERE api_key = $1 AND document_id = $2 AND seq > $3"
                " AND seq <= $4 ORDER BY seq LIMIT $5) page"
                " WHERE upto_here - length(ciphertext) < $6 ORDER BY seq",
                api_key,
                document_id,
                after,
                upto,
                limit,
                2**62 if max_bytes is None else max_bytes,
            )
            return [_update_record(r) for r in rows]

        return await self._run(query)

    async def document_info(self, api_key: str, document_id: str) -> DocumentInfo | None:
        async def query(conn: Connection) -> DocumentInfo | None:
            head = optional_int_value(
                await conn.fetchval(
                    "SELECT head FROM documents WHERE api_key = $1 AND document_id = $2",
                    api_key,
                    document_id,
                ),
                "head",
            )
            if head is None:
                return None
            sessions = int_value(
                await conn.fetchval(
                    "SELECT count(*) FROM sessions WHERE api_key = $1 AND document_id = $2",
                    api_key,
                    document_id,
                ),
                "count(*)",
            )
            stats = await conn.fetchrow(
                "SELECT log_updates AS n, log_bytes AS size FROM documents"
                " WHERE api_key = $1 AND document_id = $2",
                api_key,
                document_id,
            )
            snap = await conn.fetchrow(
                "SELECT seq FROM versions WHERE api_key = $1 AND document_id = $2"
                " ORDER BY number DESC LIMIT 1",
                api_key,
                document_id,
            )
            checkpoint_bytes = int_value(
                await conn.fetchval(
                    "SELECT coalesce(sum(length(ciphertext)), 0) FROM versions"
                    " WHERE api_key = $1 AND document_id = $2",
                    api_key,
                    document_id,
                ),
                "size",
            )
            return DocumentInfo(
                api_key=api_key,
                document_id=document_id,
                version=head,
                session_count=sessions,
                active_session=await self._active(conn, api_key, document_id),
                snapshot_seq=None if snap is None else integer(snap, "seq"),
                stored_updates=0 if stats is None else integer(stats, "n"),
                stored_bytes=(0 if stats is None else integer(stats, "size")) + checkpoint_bytes,
            )

        return await self._run(query, transaction=True)

    # -- quotas and client ids ----------------------------------------------------------
    async def client_counter(
        self, api_key: str, document_id: str, session_id: str, client_id: str
    ) -> ClientCounter | None:
        async def query(conn: Connection) -> ClientCounter | None:
            row = await conn.fetchrow(
                "SELECT user_id, max_counter FROM client_counters WHERE api_key = $1"
                " AND document_id = $2 AND session_id = $3 AND client_id = $4",
                api_key,
                document_id,
                session_id,
                client_id,
            )
            return (
                None
                if row is None
                else ClientCounter(optional_text(row, "user_id"), integer(row, "max_counter"))
            )

        return await self._run(query)

    async def api_key_stored_bytes(self, api_key: str) -> int:
        async def query(conn: Connection) -> int:
            return int_value(
                await conn.fetchval(
                    "SELECT (SELECT coalesce(sum(log_bytes), 0)::bigint FROM documents"
                    " WHERE api_key = $1) + (SELECT coalesce(sum(length(ciphertext)), 0)"
                    " FROM versions WHERE api_key = $1)",
                    api_key,
                ),
                "stored bytes",
            )

        return await self._run(query)

    async def recount_logs(self) -> int:
        async def recount(conn: Connection) -> int:
            # Appends (which update documents) wait while the log is counted, then add
            # to the recounted value; everything committed before is counted.
            await conn.execute("LOCK TABLE documents IN SHARE ROW EXCLUSIVE MODE")
            return affected_rows(await conn.execute(RECOUNT_LOGS))

        return await self._run(recount, transaction=True)

    # -- erasure ---------------------------------------------------------------------------
    async def delete_document(self, api_key: str, document_id: str) -> bool:
        async def delete(conn: Connection) -> bool:
            # The row lock orders this after appends in flight (on any node); ON DELETE
            # CASCADE removes the sessions, updates, versions and counters.
            status = await conn.execute(
                "DELETE FROM documents WHERE api_key = $1 AND document_id = $2",
                api_key,
                document_id,
            )
            if status == "DELETE 0":
                return False
            await self._notify(conn, {"k": "x", "a": api_key, "d": document_id})
            return True

        return await self._run(delete, transaction=True)

    async def list_documents(self, api_key: str) -> list[str]:
        async def query(conn: Connection) -> list[str]:
            rows = await conn.fetch(
                "SELECT document_id FROM documents WHERE api_key = $1 ORDER BY document_id", api_key
            )
            return [text(r, "document_id") for r in rows]

        return await self._run(query)

    async def existing_documents(self, api_key: str, document_ids: list[str]) -> set[str]:
        async def query(conn: Connection) -> set[str]:
            rows = await conn.fetch(
                "SELECT document_id FROM documents WHERE api_key = $1"
                " AND document_id = ANY($2::text[])",
                api_key,
                document_ids,
            )
            return {text(r, "document_id") for r in rows}

        return await self._run(query) if document_ids else set()

    async def scrub(self) -> str:
        return (
            "PostgreSQL keeps deleted rows until VACUUM reclaims them, and in its WAL, "
            'archives and replicas: see docs/deploy.md, "Deleting documents"'
        )


async def _reset_connection(conn: Connection) -> None:
    """Nothing beyond asyncpg's own clean-up on release (which rolls back a transaction
    left open): its default reset adds a round trip per release (advisory unlock,
    CLOSE ALL, UNLISTEN, RESET ALL), and this store keeps no such session state on
    pooled connections — no SET, no LISTEN (the listener has its own connection), and
    migrate() releases its advisory lock itself."""
    del conn


async def migrate(conn: Connection) -> int:
    """Apply pending migrations under an advisory lock; returns the schema version."""
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS tandem_schema (version INTEGER NOT NULL)")
        level = (
            optional_int_value(
                await conn.fetchval("SELECT max(version) FROM tandem_schema"), "schema version"
            )
            or 0
        )
        if level > len(MIGRATIONS):
            raise StorageError(
                f"the database schema (version {level}) is newer than this Tandem "
                f"(knows {len(MIGRATIONS)}); upgrade Tandem"
            )
        for number, script in enumerate(MIGRATIONS[level:], start=level + 1):
            async with conn.transaction():
                await conn.execute(script)
                await conn.execute("INSERT INTO tandem_schema (version) VALUES ($1)", number)
        return len(MIGRATIONS)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
