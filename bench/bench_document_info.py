"""How long reading a document's size takes as its log grows (``Store.document_info``).

    python3 bench/bench_document_info.py [--updates 100000 --updates 1000000] [--runs 5]
                                         [--postgres URL]

A server reads it when a document is first opened on a node (before the first client
is synced) and after every checkpoint (about every 500 updates). For each size, one
document gets that many stored updates of 128 bytes (written straight into the table,
then the engine's ``tandem db recount`` sets its counters; a checkout without
counters just has rows), on SQLite (a fresh file) and on PostgreSQL (a fresh database,
dropped after); prints the median of ``--runs`` calls in ms. With
``PYTHONPATH=<baseline>/src`` it measures another checkout (the before/after).
"""

from __future__ import annotations

import bench_env

bench_env.ensure()

import argparse
import asyncio
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import tandem
from tandem.storage import SessionRecord
from tandem.storage.postgres import PostgresStore
from tandem.storage.sqlite import SQLiteStore

SID = "session-0000000001"
ROW_BYTES = 128


def _session() -> SessionRecord:
    return SessionRecord(
        session_id=SID,
        key_hint="h",
        salt=b"s" * 32,
        iterations=10_000,
        wrapped_key=b"w" * 60,
        creator="alice",
        created_at=time.time(),
    )


async def _measure(store, api_key: str, runs: int) -> tuple[float, int]:
    times = []
    info = None
    for _ in range(runs):
        started = time.perf_counter()
        info = await store.document_info(api_key, "doc")
        times.append((time.perf_counter() - started) * 1000)
    assert info is not None
    return statistics.median(times), info.stored_updates


async def _recount(store) -> None:
    if hasattr(store, "recount_logs"):
        await store.recount_logs()


async def sqlite_run(updates: int, runs: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tandem.sqlite3"
        store = SQLiteStore(path)
        await store.open()
        api_key = (await store.create_api_key("bench")).key
        await store.create_session(api_key, "doc", _session(), b"snapshot")
        conn = sqlite3.connect(path)
        conn.executemany(
            "INSERT INTO updates (api_key, document_id, seq, session_id, client_id, counter,"
            " user_id, ciphertext) VALUES (?, 'doc', ?, ?, 'client', ?, 'alice', ?)",
            ((api_key, i, SID, i, os.urandom(ROW_BYTES)) for i in range(1, updates + 1)),
        )
        conn.execute("UPDATE documents SET head = ? WHERE api_key = ?", (updates, api_key))
        conn.commit()
        conn.close()
        await _recount(store)
        try:
            return await _measure(store, api_key, runs)
        finally:
            await store.close()


async def postgres_run(url: str, updates: int, runs: int) -> tuple[float, int]:
    import asyncpg

    name = f"bench_info_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(url + "/postgres")
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        store = PostgresStore(f"{url}/{name}")
        await store.open()
        api_key = (await store.create_api_key("bench")).key
        await store.create_session(api_key, "doc", _session(), b"snapshot")
        conn = await asyncpg.connect(f"{url}/{name}")
        await conn.execute(
            "INSERT INTO updates (api_key, document_id, seq, session_id, client_id, counter,"
            " user_id, ciphertext) SELECT $1, 'doc', i, $2, 'client', i, 'alice',"
            " decode(repeat(md5(i::text), $3), 'hex') FROM generate_series(1, $4) i",
            api_key,
            SID,
            ROW_BYTES // 16,  # an md5 is 16 bytes
            updates,
        )
        await conn.execute("UPDATE documents SET head = $1 WHERE api_key = $2", updates, api_key)
        await conn.execute("VACUUM ANALYZE updates")
        await conn.close()
        await _recount(store)
        try:
            return await _measure(store, api_key, runs)
        finally:
            await store.close()
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, action="append", help="log sizes (repeatable)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database name",
    )
    args = parser.parse_args()
    sizes = args.updates or [100_000, 1_000_000]
    print(f"tandem from {Path(tandem.__file__).parent}")
    print("| stored updates | SQLite ms | PostgreSQL ms |")
    print("| --- | --- | --- |")
    for size in sizes:
        lite, lite_n = asyncio.run(sqlite_run(size, args.runs))
        pg, pg_n = asyncio.run(postgres_run(args.postgres, size, args.runs))
        assert lite_n == pg_n == size, (lite_n, pg_n, size)
        print(f"| {size:,} | {lite:.2f} | {pg:.2f} |", flush=True)


if __name__ == "__main__":
    main()
