"""PostgreSQL: de-duplicating an append never scans the document's log.

The append function is planned once per pooled connection (a generic plan). On a table
that was never analysed (autovacuum off, or not run yet) a SELECT on the client's key
(api_key, document_id, session_id, client_id, counter) could be planned on the primary
key (api_key, document_id, seq) with the rest as a filter: every append then read every
update of the document (measured: 0.5 ms of PostgreSQL CPU per append at 5,000 updates,
half of what 8 busy writers got). The function now de-duplicates through the unique
index (INSERT … ON CONFLICT), which no plan can route around.
"""

from __future__ import annotations

import time

import asyncpg
import pytest

from tandem.storage import SessionRecord
from tandem.storage.postgres import PostgresStore
from tests.support.postgres import create_database, drop_database

SID = "session-" + "s" * 40
LOG_SIZE = 3000
APPENDS = 20


def _client(i: int) -> str:
    return f"writer-{'x' * 48}-{i % 8:02d}"  # long ids: the client index is the larger one


@pytest.fixture
async def big_log():
    """A document whose log already holds LOG_SIZE updates, in a database whose
    connections use generic plans from the first execution, never analysed."""
    url = await create_database()
    name = url.rpartition("/")[2]
    try:
        store = PostgresStore(url)
        await store.open()
        api_key = (await store.create_api_key("t")).key
        record = SessionRecord(SID, "h", b"s" * 32, 10_000, b"w" * 60, "alice", time.time())
        assert (await store.create_session(api_key, "doc", record, b"snap")).created
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "INSERT INTO updates (api_key, document_id, seq, session_id, client_id,"
                " counter, user_id, ciphertext) SELECT $1, 'doc', g, $2,"
                " 'writer-' || repeat('x', 48) || '-0' || (g % 8), g, 'alice',"
                " decode(repeat('ab', 150), 'hex') FROM generate_series(1, $3::int) g",
                api_key,
                SID,
                LOG_SIZE,
            )
            await conn.execute(
                "UPDATE documents SET head = $1 WHERE api_key = $2", LOG_SIZE, api_key
            )
            await conn.execute(f'ALTER DATABASE "{name}" SET plan_cache_mode = force_generic_plan')
        finally:
            await conn.close()
        yield url, api_key
    finally:
        await drop_database(url)


async def _primary_key_reads(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'updates_pkey'"
            )
        )
    finally:
        await conn.close()


async def test_appends_and_resends_do_not_scan_the_log(big_log):
    url, api_key = big_log
    before = await _primary_key_reads(url)
    store = PostgresStore(url)
    await store.open()
    try:
        seqs = []
        for n in range(APPENDS):
            client = _client(n)
            counter = LOG_SIZE + 1 + n
            seqs.append(
                await store.append_update(api_key, "doc", SID, client, counter, "alice", b"u")
            )
            # the same update again (a re-send after a reconnect): de-duplicated
            again = await store.append_update(api_key, "doc", SID, client, counter, "alice", b"u")
            assert again.duplicate and again.seq == seqs[-1].seq
        # an update of the pre-filled log, re-sent
        old = await store.append_update(api_key, "doc", SID, _client(5), 5, "alice", b"u")
        assert old.duplicate and old.seq == 5
    finally:
        await store.close()  # its backends exit and report their statistics
    assert [r.seq for r in seqs] == list(range(LOG_SIZE + 1, LOG_SIZE + 1 + APPENDS))
    assert not any(r.duplicate for r in seqs)
    # A scan of the primary key per append would read APPENDS * 2 * LOG_SIZE entries.
    reads = await _primary_key_reads(url) - before
    assert reads < LOG_SIZE, f"{reads} primary-key entries read for {2 * APPENDS + 1} appends"


async def test_resends_below_the_compaction_horizon(big_log):
    """Counters at or below a client's compaction horizon are never stored again: a
    stored copy answers with its seq, a pruned one with the horizon's seq; neither
    scans the log nor leaves a row behind."""
    url, api_key = big_log
    client = _client(3)  # the fixture's counters of this client are 3, 11, 19, … = seq
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "DELETE FROM updates WHERE api_key = $1 AND client_id = $2 AND seq <= 80",
            api_key,
            client,
        )
        await conn.execute(
            "INSERT INTO client_counters (api_key, document_id, session_id, client_id,"
            " max_counter, max_seq, user_id, compacted_counter)"
            " VALUES ($1, 'doc', $2, $3, 2995, 2995, 'alice', 100)",
            api_key,
            SID,
            client,
        )
        rows_before = await conn.fetchval("SELECT count(*) FROM updates")
    finally:
        await conn.close()
    before = await _primary_key_reads(url)
    store = PostgresStore(url)
    await store.open()
    try:
        kept = await store.append_update(api_key, "doc", SID, client, 91, "alice", b"u")
        pruned = await store.append_update(api_key, "doc", SID, client, 11, "alice", b"u")
        never = await store.append_update(api_key, "doc", SID, client, 100, "alice", b"u")
        fresh = await store.append_update(api_key, "doc", SID, client, 3003, "alice", b"u")
    finally:
        await store.close()
    assert (kept.seq, kept.duplicate) == (91, True)
    assert (pruned.seq, pruned.duplicate) == (2995, True)
    assert (never.seq, never.duplicate) == (2995, True)  # 100 is not this client's
    assert (fresh.seq, fresh.duplicate) == (LOG_SIZE + 1, False)
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM updates") == rows_before + 1
        assert await conn.fetchval("SELECT head FROM documents") == LOG_SIZE + 1
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM updates WHERE client_id = $1 AND counter IN (11, 100)",
                client,
            )
            == 0
        )
    finally:
        await conn.close()
    reads = await _primary_key_reads(url) - before
    assert reads < LOG_SIZE, f"{reads} primary-key entries read for 4 appends"
