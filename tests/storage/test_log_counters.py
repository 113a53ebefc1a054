"""Each document's log counters (stored updates and their bytes) stay equal to its rows.

``document_info`` and ``api_key_stored_bytes`` read counters kept by every append and
prune in the same transaction (schema migration 5); before, they summed the whole log
(0.35 s for a million updates, on every hub load and after every checkpoint). Every
write path is exercised against both engines and the counters compared with a direct
count of the rows: batches, duplicates inside and across batches, concurrent writers,
refused appends, re-sends below the compaction horizon, checkpoints with pruning, key
rotation, deletion of another document. Migration 5 backfills counters from existing
rows; ``recount_logs`` (``tandem db recount``) repairs counters that drifted.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import asyncpg
import pytest

from tandem.cli import main
from tandem.storage import ClientIdTaken, SessionRecord, StaleSession, Store
from tandem.storage.postgres import PostgresStore
from tandem.storage.sqlite import SQLiteStore
from tests.support.postgres import create_database, drop_database

SID = "session-0000000001"
ROTATED = "session-0000000002"


def _session(sid: str) -> SessionRecord:
    return SessionRecord(
        session_id=sid,
        key_hint="h-" + sid[-1],
        salt=b"s" * 32,
        iterations=10_000,
        wrapped_key=b"w" * 60,
        creator="alice",
        created_at=time.time(),
    )


def _data(counter: int, client: str) -> bytes:
    """Sealed-looking bytes whose size differs per update (28–91 bytes)."""
    return bytes([counter % 251]) * (28 + (counter * 7 + len(client)) % 64)


@pytest.fixture(params=["sqlite", "postgres"])
async def where(request, tmp_path):
    """The engine's location: a SQLite file path, or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        yield tmp_path / "store" / "tandem.sqlite3"
    else:
        url = await create_database()
        yield url
        await drop_database(url)


def _store(where: Path | str) -> Store:
    return SQLiteStore(where) if isinstance(where, Path) else PostgresStore(where)


async def _rows(where: Path | str, api_key: str, document_id: str) -> tuple[int, int]:
    """(count, ciphertext bytes) of the document's stored updates, read from the table."""
    query = (
        "SELECT count(*), coalesce(sum(length(ciphertext)), 0) FROM updates"
        " WHERE api_key = {0} AND document_id = {1}"
    )
    if isinstance(where, Path):
        conn = sqlite3.connect(where)
        try:
            return conn.execute(query.format("?", "?"), (api_key, document_id)).fetchone()
        finally:
            conn.close()
    conn = await asyncpg.connect(where)
    try:
        row = await conn.fetchrow(query.format("$1", "$2"), api_key, document_id)
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


async def _checkpoint_bytes(store: Store, api_key: str, document_id: str) -> int:
    versions = await store.list_versions(api_key, document_id, limit=1000)
    return sum(v.size for v in versions)


async def _assert_counted(store: Store, where: Path | str, api_key: str, *documents: str) -> None:
    total = 0  # the key's updates and checkpoints
    for document_id in documents:
        count, size = await _rows(where, api_key, document_id)
        info = await store.document_info(api_key, document_id)
        checkpoints = await _checkpoint_bytes(store, api_key, document_id)
        assert (info.stored_updates, info.stored_bytes) == (count, size + checkpoints)
        total += size + checkpoints
    assert await store.api_key_stored_bytes(api_key) == total


async def test_counters_follow_every_write_path(where):
    store = _store(where)
    await store.open()
    try:
        key = (await store.create_api_key("t")).key
        for doc in ("doc", "other"):
            assert (await store.create_session(key, doc, _session(SID), b"snap-0")).created
        await _assert_counted(store, where, key, "doc", "other")

        # One client's batch, then a batch that repeats stored counters and one of its own.
        batch = [(n, _data(n, "client-a")) for n in range(1, 6)]
        await store.append_updates(key, "doc", SID, "client-a", "alice", batch)
        again = [(3, b"x" * 40), (6, _data(6, "client-a")), (6, b"y" * 50), (7, b"z" * 33)]
        results = await store.append_updates(key, "doc", SID, "client-a", "alice", again)
        assert [(r.seq, r.duplicate) for r in results] == [
            (3, True),
            (6, False),
            (6, True),
            (7, False),
        ]
        # Concurrent writers on both documents, each re-sending its first update.
        writes = [
            store.append_update(key, doc, SID, f"w{w}-{doc}", n, "bob", _data(n, f"w{w}"))
            for doc in ("doc", "other")
            for w in range(4)
            for n in (1, 2, 3, 1)
        ]
        await asyncio.gather(*writes)
        assert (await store.document_info(key, "doc")).stored_updates == 7 + 12
        await _assert_counted(store, where, key, "doc", "other")

        # Refused appends store nothing.
        with pytest.raises(StaleSession):
            await store.append_update(key, "doc", ROTATED, "client-a", 99, "alice", b"r" * 40)
        with pytest.raises(ClientIdTaken):
            await store.append_update(key, "doc", SID, "client-a", 99, "mallory", b"m" * 40)
        await _assert_counted(store, where, key, "doc", "other")

        # A checkpoint that prunes everything before it, then re-sends of pruned updates
        # (below the compaction horizon: recognised, never stored again).
        await store.store_snapshot(key, "doc", SID, 10, b"snap-10")
        await store.store_snapshot(key, "doc", SID, 15, b"snap-15", prune_before=time.time() + 1)
        assert (await store.document_info(key, "doc")).stored_updates == 19 - 15
        for n in (1, 2, 4):
            result = await store.append_update(key, "doc", SID, "client-a", n, "alice", b"o" * 40)
            assert result.duplicate
        await _assert_counted(store, where, key, "doc", "other")

        # Rotation (with pruning), appends in the new session, and the retention prune.
        rotated = await store.create_session(
            key,
            "doc",
            _session(ROTATED),
            b"rotated-snapshot",
            replaces=SID,
            prune_before=time.time() + 1,
        )
        assert rotated.created
        await store.append_updates(
            key, "doc", ROTATED, "client-a", "alice", [(n, _data(n, "r")) for n in range(1, 4)]
        )
        await _assert_counted(store, where, key, "doc", "other")
        await store.prune_history(key, "other", time.time() + 1)
        await _assert_counted(store, where, key, "doc", "other")

        # Deleting one document leaves the other's counters (and the key's total) exact.
        assert await store.delete_document(key, "other")
        assert await store.document_info(key, "other") is None
        await _assert_counted(store, where, key, "doc")
    finally:
        await store.close()


async def test_recount_repairs_counters_that_drifted(where):
    """Nodes from before migration 5 append without counting: ``recount_logs`` (and
    ``tandem db recount``) set the counters from the rows again."""
    store = _store(where)
    await store.open()
    try:
        key = (await store.create_api_key("t")).key
        for doc in ("a", "b", "empty"):
            await store.create_session(key, doc, _session(SID), b"snap-0")
        for doc, n in (("a", 5), ("b", 2)):
            items = [(c, _data(c, doc)) for c in range(1, n + 1)]
            await store.append_updates(key, doc, SID, "client", "alice", items)
        drift = "UPDATE documents SET log_updates = 1000, log_bytes = 7"
        if isinstance(where, Path):
            conn = sqlite3.connect(where)
            conn.execute(drift)
            conn.commit()
            conn.close()
        else:
            conn = await asyncpg.connect(where)
            await conn.execute(drift)
            await conn.close()
        assert (await store.document_info(key, "a")).stored_updates == 1000
        assert await store.recount_logs() == 3
        assert [(await store.document_info(key, d)).stored_updates for d in "ab"] == [5, 2]
        await _assert_counted(store, where, key, "a", "b", "empty")
    finally:
        await store.close()


def test_tandem_db_recount(tmp_path, capsys):
    data = tmp_path / "data"
    path = data / "tandem.sqlite3"

    async def fill() -> str:
        store = SQLiteStore(path)
        await store.open()
        key = (await store.create_api_key("t")).key
        await store.create_session(key, "doc", _session(SID), b"snap-0")
        await store.append_updates(key, "doc", SID, "c", "alice", [(1, b"a" * 40), (2, b"b" * 30)])
        await store.close()
        return key

    key = asyncio.run(fill())
    conn = sqlite3.connect(path)
    conn.execute("UPDATE documents SET log_updates = 0, log_bytes = 0")
    conn.commit()
    conn.close()
    assert main(["--data-dir", str(data), "db", "recount"]) == 0
    assert capsys.readouterr().out == "recounted the stored updates of 1 document(s)\n"

    async def info():
        store = SQLiteStore(path)
        await store.open()
        try:
            return await store.document_info(key, "doc")
        finally:
            await store.close()

    got = asyncio.run(info())
    assert (got.stored_updates, got.stored_bytes) == (2, 70 + len(b"snap-0"))


async def test_migration_5_counts_existing_logs(where):
    """A database at schema 4 with stored updates gets counters equal to its rows."""
    from tandem.storage import postgres_schema, sqlite_schema

    def rows(blob) -> list[str]:
        """The schema-4 rows; ``blob(size)`` is the engine's SQL for ``size`` bytes."""
        return [
            "INSERT INTO api_keys VALUES ('k', 'n', '[]', NULL, 1.0)",
            "INSERT INTO documents VALUES ('k', 'd', 3, 'session-0000000001', 2.0)",
            "INSERT INTO documents VALUES ('k', 'e', 0, NULL, 2.0)",
        ] + [
            f"INSERT INTO updates VALUES ('k', 'd', {seq}, 'session-0000000001', 'c', {seq},"
            f" 'u', {blob(size)})"
            for seq, size in ((1, 30), (2, 45), (3, 61))
        ]

    if isinstance(where, Path):
        where.parent.mkdir(parents=True)
        conn = sqlite3.connect(where)
        for script in sqlite_schema.MIGRATIONS[:4]:
            conn.executescript(script)
        for row in rows(lambda size: f"zeroblob({size})"):
            conn.execute(row)
        conn.execute("PRAGMA user_version=4")
        conn.commit()
        conn.close()
    else:
        conn = await asyncpg.connect(where)
        await conn.execute("CREATE TABLE tandem_schema (version INTEGER NOT NULL)")
        for number, script in enumerate(postgres_schema.MIGRATIONS[:4], start=1):
            await conn.execute(script)
            await conn.execute("INSERT INTO tandem_schema VALUES ($1)", number)
        for row in rows(lambda size: f"decode(repeat('00', {size}), 'hex')"):
            await conn.execute(row)
        await conn.close()
    store = _store(where)
    await store.open()
    try:
        info = await store.document_info("k", "d")
        assert (info.version, info.stored_updates, info.stored_bytes) == (3, 3, 30 + 45 + 61)
        empty = await store.document_info("k", "e")
        assert (empty.stored_updates, empty.stored_bytes) == (0, 0)
        assert await store.api_key_stored_bytes("k") == 136
    finally:
        await store.close()
