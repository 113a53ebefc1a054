"""PostgreSQL group commit: every append a node has queued for a document while its
previous transaction ran goes into one transaction, with one ``pg_notify``; order,
contiguity and exactly-once are kept, and one failing job does not fail the others.
"""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import pytest

from tandem.server.cluster_events import UpdatesCommitted, parse_event
from tandem.storage import ClientIdTaken, SessionRecord, StaleSession
from tandem.storage.postgres import CHANNEL, PostgresStore
from tests.support.postgres import create_database, drop_database

SEALED = b"c" * 40


def session(sid: str) -> SessionRecord:
    return SessionRecord(
        session_id=sid,
        key_hint="h",
        salt=b"s" * 32,
        iterations=10_000,
        wrapped_key=b"w" * 60,
        creator="alice",
        created_at=time.time(),
    )


@pytest.fixture
async def pg():
    url = await create_database()
    store = PostgresStore(url)
    await store.open()
    notes: list[dict] = []
    listener = await asyncpg.connect(url)
    await listener.add_listener(CHANNEL, lambda *a: notes.append(json.loads(a[3])))
    api_key = (await store.create_api_key("t")).key
    sid = "session-0000000001"
    assert (await store.create_session(api_key, "doc", session(sid), b"snap")).created
    try:
        yield store, api_key, sid, notes, url
    finally:
        await listener.close()
        await store.close()
        await drop_database(url)


async def _settle_notes(notes: list[dict], kind: str, count: int) -> list[dict]:
    for _ in range(100):
        found = [n for n in notes if n["k"] == kind]
        if sum(len(n["u"]) for n in found) >= count:
            return found
        await asyncio.sleep(0.02)
    return [n for n in notes if n["k"] == kind]


async def test_concurrent_writers_share_transactions_and_notifications(pg):
    store, api_key, sid, notes, _url = pg
    writers, each = 8, 25

    async def writer(w: int) -> list[int]:
        seqs = []
        for n in range(1, each + 1):
            result = await store.append_update(
                api_key, "doc", sid, f"client-{w:04d}", n, "alice", SEALED + bytes([w, n])
            )
            seqs.append(result.seq)
        return seqs

    per_writer = await asyncio.gather(*(writer(w) for w in range(writers)))
    total = writers * each
    assert sorted(s for seqs in per_writer for s in seqs) == list(range(1, total + 1))
    for seqs in per_writer:  # a client's updates keep their order
        assert seqs == sorted(seqs)
    rows = await store.updates_after(api_key, "doc", 0)
    assert [r.seq for r in rows] == list(range(1, total + 1))
    for r in rows:
        w, n = r.ciphertext[-2], r.ciphertext[-1]
        assert (r.client_id, r.counter) == (f"client-{w:04d}", n)
    batches = await _settle_notes(notes, "ub", total)
    # one notification per transaction, and transactions were shared
    assert sum(len(n["u"]) for n in batches) == total
    assert len(batches) < total
    seqs = [e[0] for n in batches for e in n["u"]]
    assert seqs == list(range(1, total + 1))  # commit order = seq order
    for note in batches:
        event = parse_event(note)
        assert event is not None and isinstance(event.event, UpdatesCommitted)
        assert all(e.data_b64 is not None for e in event.event.entries)


async def test_one_failing_job_does_not_fail_its_batch(pg):
    store, api_key, sid, _notes, _url = pg
    await store.append_update(api_key, "doc", sid, "client-bob", 1, "bob", SEALED)
    outcomes = await asyncio.gather(
        store.append_update(api_key, "doc", sid, "client-a", 1, "alice", SEALED),
        store.append_update(api_key, "doc", "session-stale-00001", "client-b", 1, "alice", SEALED),
        store.append_update(api_key, "doc", sid, "client-bob", 2, "mallory", SEALED),
        store.append_updates(
            api_key, "doc", sid, "client-c", "carol", [(1, SEALED), (2, SEALED), (1, SEALED)]
        ),
        store.append_update(api_key, "doc", sid, "client-bob", 1, "bob", SEALED),
        return_exceptions=True,
    )
    assert outcomes[0].seq == 2 and not outcomes[0].duplicate
    assert isinstance(outcomes[1], StaleSession)
    assert isinstance(outcomes[2], ClientIdTaken)
    assert [(r.seq, r.duplicate) for r in outcomes[3]] == [(3, False), (4, False), (3, True)]
    assert (outcomes[4].seq, outcomes[4].duplicate) == (1, True)
    rows = await store.updates_after(api_key, "doc", 0)
    assert [(r.seq, r.client_id, r.counter) for r in rows] == [
        (1, "client-bob", 1),
        (2, "client-a", 1),
        (3, "client-c", 1),
        (4, "client-c", 2),
    ]
    # the client id stays bound to its first user, also for a new client in a batch
    with pytest.raises(ClientIdTaken):
        await store.append_update(api_key, "doc", sid, "client-c", 3, "mallory", SEALED)


async def test_two_stores_on_one_document_keep_seqs_contiguous(pg):
    store, api_key, sid, notes, url = pg
    other = PostgresStore(url)
    await other.open()
    try:

        async def writer(s: PostgresStore, w: int) -> None:
            for n in range(1, 21):
                await s.append_update(api_key, "doc", sid, f"client-{w:04d}", n, "alice", SEALED)

        await asyncio.gather(*(writer(store if w % 2 else other, w) for w in range(6)))
    finally:
        await other.close()
    rows = await store.updates_after(api_key, "doc", 0)
    assert [r.seq for r in rows] == list(range(1, 121))
    batches = await _settle_notes(notes, "ub", 120)
    assert sorted(e[0] for n in batches for e in n["u"]) == list(range(1, 121))


async def test_large_updates_are_announced_without_their_data(pg):
    store, api_key, sid, notes, _url = pg
    big = b"x" * 5000
    await asyncio.gather(
        *(
            store.append_update(api_key, "doc", sid, f"client-{w:04d}", 1, "alice", big)
            for w in range(4)
        )
    )
    batches = await _settle_notes(notes, "ub", 4)
    entries = [e for n in batches for e in n["u"]]
    assert [e[0] for e in entries] == [1, 2, 3, 4]
    for note in batches:
        assert len(json.dumps(note)) < 8000
        inlined = [e[4] is not None for e in note["u"]]
        assert inlined == sorted(inlined, reverse=True)  # data rides along for a prefix


async def test_a_cancelled_caller_before_its_batch_writes_nothing(pg):
    store, api_key, sid, _notes, _url = pg
    first = asyncio.create_task(
        store.append_update(api_key, "doc", sid, "client-a", 1, "alice", SEALED)
    )
    await asyncio.sleep(0)  # the first batch is running
    second = asyncio.create_task(
        store.append_update(api_key, "doc", sid, "client-b", 1, "alice", SEALED)
    )
    await asyncio.sleep(0)
    second.cancel()
    assert (await first).seq == 1
    with pytest.raises(asyncio.CancelledError):
        await second
    third = await store.append_update(api_key, "doc", sid, "client-c", 1, "alice", SEALED)
    rows = await store.updates_after(api_key, "doc", 0)
    assert [(r.seq, r.client_id) for r in rows] == [(1, "client-a"), (2, "client-c")]
    assert third.seq == 2


async def test_a_pooled_connection_released_inside_a_transaction_is_rolled_back(pg):
    """The pool's cheap reset (no asyncpg default reset round trip) still never hands
    out a connection with a transaction left open, and what that transaction wrote is
    gone; the store keeps working on every pooled connection."""
    store, api_key, sid, _notes, _url = pg
    pool = store._pool
    assert pool is not None
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE left_open (x int)")
        assert conn.is_in_transaction()
    for _ in range(pool.get_max_size()):
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('left_open')") is None
    results = await store.append_updates(
        api_key, "doc", sid, "client-aaaaaaaa", "alice", [(1, SEALED)]
    )
    assert [r.seq for r in results] == [1]
